using System.Buffers;
using System.Runtime.InteropServices;

namespace Pgrelay.Transport.Buffers;

/// <summary>
/// A piece of buffer memory and where it must go back. Up to <see cref="PooledLimit"/> it is an array rented from the
/// shared pool, which makes the common case free. Larger (a 66 MB request, a subscriber's 32 MB backlog) it is mapped
/// straight from the kernel and unmapped the moment it is released, so a spike's memory leaves the process with it:
/// a GC array would wait in the large object heap for a full collection that an allocation-free server rarely runs,
/// the shared pool keeps dozens of large arrays it was given back, and glibc's malloc raises its mmap threshold after
/// the first large free and then keeps freed blocks in its heap.
/// </summary>
internal readonly struct Block
{
    public const int PooledLimit = 64 * 1024;

    private readonly byte[]? _array;
    private readonly NativeBlock? _native;
    private readonly bool _borrowed;

    private Block(byte[]? array, NativeBlock? native, bool borrowed)
    {
        _array = array;
        _native = native;
        _borrowed = borrowed;
    }

    public static Block Empty => default;

    /// <summary>Someone else's array (an event loop's scratch), written through but never returned.</summary>
    public static Block Borrow(byte[] array) => new(array, null, borrowed: true);

    public static Block Rent(int size) =>
        size <= PooledLimit ? new(ArrayPool<byte>.Shared.Rent(size), null, false) : new(null, new NativeBlock(size), false);

    public int Length => _array?.Length ?? _native?.Length ?? 0;
    public bool IsBorrowed => _borrowed;
    public Span<byte> Span => _array is not null ? _array : _native is not null ? _native.GetSpan() : default;
    public Memory<byte> Memory => _array is not null ? _array : _native is not null ? _native.Memory : default;

    /// <summary>Gives the memory back (nothing for a borrowed or empty block). The block must not be used after.</summary>
    public void Return()
    {
        if (_borrowed) return;
        if (_array is { Length: > 0 }) ArrayPool<byte>.Shared.Return(_array);
        else ((IDisposable?)_native)?.Dispose();
    }

    /// <summary>Rounds a wanted size up to a whole 4 KiB page, so growth steps stay few.</summary>
    public static int RoundUp(long size) => (int)Math.Min(Array.MaxLength, (size + 4095) & ~4095L);

    /// <summary>
    /// Native memory as <see cref="Memory{T}"/> (for stream reads and writes), freed on dispose. No finalizer (a span
    /// from it would not keep it alive): every connection path releases its buffers when it ends.
    /// </summary>
    private sealed unsafe class NativeBlock : MemoryManager<byte>
    {
        private byte* _pointer;

        public NativeBlock(int length)
        {
            Length = length;
            if (Epoll.Native.IsSupported)
            {
                void* mapped = Epoll.Native.mmap(null, (nuint)length, Epoll.Native.ProtRead | Epoll.Native.ProtWrite,
                    Epoll.Native.MapPrivate | Epoll.Native.MapAnonymous, -1, 0);
                if (mapped == (void*)-1) throw new OutOfMemoryException($"mmap of {length} bytes failed (errno {Marshal.GetLastPInvokeError()})");
                _pointer = (byte*)mapped;
            }
            else _pointer = (byte*)NativeMemory.Alloc((nuint)length);
        }

        public int Length { get; }

        public override Span<byte> GetSpan() => new(_pointer, Length);

        public override MemoryHandle Pin(int elementIndex = 0) => new(_pointer + elementIndex);

        public override void Unpin()
        {
        }

        protected override void Dispose(bool disposing)
        {
            var pointer = _pointer;
            _pointer = null;
            if (pointer is null) return;
            if (Epoll.Native.IsSupported) Epoll.Native.munmap(pointer, (nuint)Length);
            else NativeMemory.Free(pointer);
        }
    }
}
