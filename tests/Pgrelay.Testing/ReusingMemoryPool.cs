using System.Buffers;

namespace Pgrelay.Testing;

/// <summary>
/// A memory pool for allocation tests: it keeps every block it ever handed out, owners included, so warm pipes allocate
/// nothing. Why not the default pool: a Pipe on it rents from <see cref="ArrayPool{T}.Shared"/>, which drops its cached
/// arrays when the machine is busy (trimming on gen2 collections), and the next rent allocates a fresh array inside the
/// measured loop. Kestrel serves connections from its own block pool, so such an allocation belongs to the test harness,
/// not to the command path the test measures.
/// </summary>
public sealed class ReusingMemoryPool(int blockSize = 4096) : MemoryPool<byte>
{
    private readonly Stack<Block> _free = new();

    public override int MaxBufferSize => blockSize;

    public override IMemoryOwner<byte> Rent(int minBufferSize = -1)
    {
        if (minBufferSize > blockSize) throw new ArgumentOutOfRangeException(nameof(minBufferSize), $"blocks are {blockSize} bytes");
        lock (_free)
            if (_free.TryPop(out var block)) return block;
        return new Block(this, blockSize);
    }

    protected override void Dispose(bool disposing)
    {
        lock (_free) _free.Clear();
    }

    private sealed class Block(ReusingMemoryPool pool, int size) : IMemoryOwner<byte>
    {
        public Memory<byte> Memory { get; } = new byte[size];

        public void Dispose()
        {
            lock (pool._free) pool._free.Push(this);
        }
    }
}
