using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>
/// The writer's map from a row's replica identity to its key, for tables whose UPDATE and DELETE old rows do not carry
/// the key: REPLICA IDENTITY USING INDEX on columns other than the primary key's (or on a table without one, keyed by
/// all its columns). PostgreSQL sends such an old row with only the index's columns, and sends none at all when they did
/// not change, even if the primary key did; this map is how the row is found either way. Readers never use it.
/// <para>It follows the newest versions (committed or not), as the writer sees them; identity indexes are unique, so one
/// identity names one key.</para>
/// </summary>
internal sealed class IdentityIndex
{
    private readonly Dictionary<byte[], byte[]> _keys;
    private readonly Dictionary<byte[], byte[]>.AlternateLookup<ReadOnlySpan<byte>> _lookup;
    private readonly int[] _columns;
    private byte[] _scratch = new byte[128];

    private IdentityIndex(int[] columns)
    {
        _columns = columns;
        _keys = new Dictionary<byte[], byte[]>(ByteKeyComparer.Instance);
        _lookup = _keys.GetAlternateLookup<ReadOnlySpan<byte>>();
    }

    /// <summary>An index for tables that need one, else null.</summary>
    public static IdentityIndex? For(TableSchema schema) =>
        schema.OldRowCarriesKey || schema.IdentityColumns.Length == 0 ? null : new IdentityIndex(schema.IdentityColumns);

    public int Count => _keys.Count;

    /// <summary>Bytes held: both arrays of each entry with their headers, and the entry itself.</summary>
    public long MemoryBytes => Interlocked.Read(ref _bytes);

    private long _bytes;
    private const int EntryBytes = 2 * StoredTable.ArrayHeaderBytes + 24;

    /// <summary>Records that the live row <paramref name="row"/> has key <paramref name="rowKey"/>.</summary>
    public void Add(byte[] row, ReadOnlySpan<byte> rowKey) => Add(new RowView(row), rowKey);

    public void Add(RowView row, ReadOnlySpan<byte> rowKey)
    {
        var identity = Identity(row);
        if (_lookup.Remove(identity, out var oldIdentity, out var oldKey))
            Interlocked.Add(ref _bytes, -(EntryBytes + oldIdentity.Length + oldKey.Length));
        _keys[identity.ToArray()] = rowKey.ToArray();
        Interlocked.Add(ref _bytes, EntryBytes + identity.Length + rowKey.Length);
    }

    /// <summary>Forgets the identity of a row that is being replaced or deleted.</summary>
    public void Remove(byte[] row) => Remove(new RowView(row));

    /// <summary>Forgets the identity of a version held in a page that is being replaced or deleted.</summary>
    public void Remove(RowView row)
    {
        if (_lookup.Remove(Identity(row), out var identity, out var key))
            Interlocked.Add(ref _bytes, -(EntryBytes + identity.Length + key.Length));
    }

    /// <summary>The key of the row whose identity columns equal those of <paramref name="identityRow"/> (an old row that
    /// carries only them, or a new row whose identity did not change), or null.</summary>
    public byte[]? KeyOf(byte[] identityRow) => _lookup.TryGetValue(Identity(new RowView(identityRow)), out var key) ? key : null;

    public void Clear()
    {
        _keys.Clear();
        Interlocked.Exchange(ref _bytes, 0);
    }

    private ReadOnlySpan<byte> Identity(RowView view)
    {
        int length = CacheKey.PartsLength(view, _columns);
        if (_scratch.Length < length) _scratch = new byte[Math.Max(length, _scratch.Length * 2)];
        return _scratch.AsSpan(0, CacheKey.WriteParts(view, _columns, _scratch));
    }

    private sealed class ByteKeyComparer : IEqualityComparer<byte[]>, IAlternateEqualityComparer<ReadOnlySpan<byte>, byte[]>
    {
        public static readonly ByteKeyComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(byte[] obj) => GetHashCode(obj.AsSpan());
        public bool Equals(ReadOnlySpan<byte> alternate, byte[] other) => alternate.SequenceEqual(other);
        public int GetHashCode(ReadOnlySpan<byte> alternate)
        {
            var hash = new HashCode();
            hash.AddBytes(alternate);
            return hash.ToHashCode();
        }
        public byte[] Create(ReadOnlySpan<byte> alternate) => alternate.ToArray();
    }
}
