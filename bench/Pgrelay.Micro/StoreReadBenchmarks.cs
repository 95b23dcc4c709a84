using System.Buffers;
using BenchmarkDotNet.Attributes;
using Pgrelay.Core.Rendering;
using Pgrelay.Store;

namespace Pgrelay.Micro;

/// <summary>The read path every protocol shares: resolve the key, find the row, render it.</summary>
[MemoryDiagnoser]
public class StoreReadBenchmarks
{
    private ReplicatedStore _store = null!;
    private byte[] _key = null!;
    private readonly ArrayBufferWriter<byte> _output = new(4096);

    [GlobalSetup]
    public void Setup()
    {
        _store = SampleStore.Create(100_000);
        _key = "pub.grades.000-01-2345"u8.ToArray();
        if (!_store.TryGetRow(_key, out _)) throw new InvalidOperationException("sample key missing");
    }

    [Benchmark]
    public int GetRow() => _store.TryGetRow(_key, out var row) ? row.View.ColumnCount : 0;

    [Benchmark]
    public int GetField()
    {
        _store.TryGetRow(_key, out var row);
        return row.View.Value(8).Length;
    }

    [Benchmark]
    public int GetRowAsJson()
    {
        _store.TryGetRow(_key, out var row);
        _output.ResetWrittenCount();
        JsonRowRenderer.Write(row.View, row.Schema, _output);
        return _output.WrittenCount;
    }
}
