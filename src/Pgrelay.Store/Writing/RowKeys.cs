using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Writing;

/// <summary>
/// The writer's scratch buffer for row keys: computes a row's key bytes and hash without allocating. One instance per
/// writer; the span it returns is valid until the next call.
/// </summary>
internal sealed class RowKeys(KeyHasher hasher)
{
    public int Hash(ReadOnlySpan<byte> rowKey) => hasher.Hash(rowKey);

    private byte[] _buffer = new byte[256];

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Of(byte[] row, TableSchema schema, out int hash)
    {
        var key = Of(row, schema);
        hash = hasher.Hash(key);
        return key;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Of(byte[] row, TableSchema schema) => Of(new RowView(row), schema);

    public ReadOnlySpan<byte> Of(RowView view, TableSchema schema, out int hash)
    {
        var key = Of(view, schema);
        hash = hasher.Hash(key);
        return key;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveOptimization)]
    public ReadOnlySpan<byte> Of(RowView view, TableSchema schema)
    {
        int length = CacheKey.RowKeyLength(view, schema);
        if (_buffer.Length < length) _buffer = new byte[Math.Max(length, _buffer.Length * 2)];
        return _buffer.AsSpan(0, CacheKey.WriteRowKey(view, schema, _buffer));
    }
}
