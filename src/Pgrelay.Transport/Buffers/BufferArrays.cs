using System.Buffers;

namespace Pgrelay.Transport.Buffers;

/// <summary>
/// Where connection buffers come from. Arrays up to <see cref="PooledLimit"/> are rented from the shared pool, which
/// makes the common case free; larger ones (a 66 MB request, a huge reply) are allocated and left to the GC, because
/// the shared pool would keep them in its per-core caches and the process would stay that big after the spike.
/// </summary>
internal static class BufferArrays
{
    public const int PooledLimit = 1024 * 1024;

    public static byte[] Rent(int size) =>
        size <= PooledLimit ? ArrayPool<byte>.Shared.Rent(size) : GC.AllocateUninitializedArray<byte>(size);

    public static void Return(byte[] array)
    {
        if (array.Length is > 0 and <= PooledLimit) ArrayPool<byte>.Shared.Return(array);
    }

    /// <summary>Rounds a wanted size up to a whole 4 KiB page, so growth steps stay few.</summary>
    public static int RoundUp(long size) => (int)Math.Min(Array.MaxLength, (size + 4095) & ~4095L);
}
