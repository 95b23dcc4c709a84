using System.Buffers.Binary;

namespace Pgrelay.Store.Tables;

/// <summary>
/// The store's key hash: seeded (a random seed per store, so keys a database user chooses cannot be made to collide
/// without knowing it) and stable (the same seed hashes the same way in every process, so a checkpoint carries its
/// seed and each row's hash tag, and a load builds the index without computing a key). One per store, shared by its
/// tables, its writer and its loader.
/// </summary>
internal sealed class KeyHasher
{
    private ulong _seed = unchecked((ulong)Random.Shared.NextInt64() ^ (ulong)Environment.TickCount64 << 32);

    public ulong Seed => Volatile.Read(ref _seed);

    /// <summary>Takes a checkpoint's seed, before the tables it loads hold any row (the store holds no data then).</summary>
    public void Adopt(ulong seed) => Volatile.Write(ref _seed, seed);

    public int Hash(ReadOnlySpan<byte> key)
    {
        ulong h = _seed ^ ((ulong)key.Length * 0x9E3779B97F4A7C15UL);
        while (key.Length >= 8)
        {
            h = Mix(h ^ BinaryPrimitives.ReadUInt64LittleEndian(key));
            key = key[8..];
        }
        ulong tail = 0;
        for (int i = 0; i < key.Length; i++) tail |= (ulong)key[i] << (i * 8);
        h = Mix(h ^ tail ^ 0xFF);
        return (int)(h ^ (h >> 32));
    }

    /// <summary>A bijective finalizer (splitmix64's): every input bit reaches every output bit.</summary>
    private static ulong Mix(ulong x)
    {
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }
}
