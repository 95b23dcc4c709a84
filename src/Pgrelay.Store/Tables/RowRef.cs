using System.Buffers;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;

namespace Pgrelay.Store.Tables;

/// <summary>A row as a reader sees it: the version's body where it lies (in one of the table's pages), its LSN, the
/// schema it was encoded for, and which of the version's identical copies it is (always 1 in a table with a primary
/// key). A struct: reading a row allocates nothing, and holding it keeps the page it reads from alive.</summary>
public readonly struct RowRef(TableSchema schema, RowView view, ulong lsn, int copy = 1, int keyHash = 0)
{
    /// <summary>The low <see cref="RowTable.TagBits"/> bits of the key's hash (0 when the row did not come from a table):
    /// versions of one key share it, so a cache of rendered rows can put them in one set.</summary>
    public int KeyHash { get; } = keyHash;

    public TableSchema Schema { get; } = schema;
    public RowView View { get; } = view;
    /// <summary>1 for the first of identical rows, 2, 3, … for the others; their keys end in a copy part (see <see cref="CacheKey"/>).</summary>
    public int Copy { get; } = copy;
    /// <summary>Names this version: the end LSN of the transaction that wrote it, or the consistent point of the snapshot
    /// it came from. ETags, memcached CAS values and WATCH compare it.</summary>
    public Lsn VersionLsn { get; } = new(lsn);
    public bool IsDefault => View.IsDefault;

    /// <summary>True when both name the same bytes of the same version (a cache of what was rendered from one).</summary>
    public bool SameVersion(in RowRef other) => SameVersion(other.View.Buffer, other.View.BodyStart, other.VersionLsn.Value);

    public bool SameVersion(byte[] buffer, int bodyStart, ulong lsn) =>
        ReferenceEquals(View.Buffer, buffer) && View.BodyStart == bodyStart && VersionLsn.Value == lsn;

    /// <summary>The version as a row array (<see cref="RowFormat"/>), for code that keeps rows beyond a read.</summary>
    public byte[] ToArray() => RowFormat.ToArray(View, VersionLsn.Value, 0);

    /// <summary>Writes publication.table.rowkey; <paramref name="publication"/> is the publication's key name.</summary>
    public void WriteFullKey(ReadOnlySpan<byte> publication, IBufferWriter<byte> writer) =>
        CacheKey.WriteFullKey(publication, View, Schema, writer, Copy);

    public int RowKeyLength => CacheKey.RowKeyLength(View, Schema, Copy);

    public int WriteRowKey(Span<byte> destination) => CacheKey.WriteRowKey(View, Schema, destination, Copy);

    public string RowKeyString() => CacheKey.RowKeyString(View, Schema, Copy);
}
