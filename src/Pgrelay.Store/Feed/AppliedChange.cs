using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Feed;

/// <summary>
/// A change as the store applied it, with complete images: <see cref="Before"/> is the version the
/// store held (so columns PostgreSQL did not resend are filled in), <see cref="After"/> the new version
/// with unchanged TOAST values merged. Truncate and Relation changes carry neither.
/// In a table without primary key, identical rows are copies of one version: <see cref="BeforeCopy"/> is the copy the
/// change took away (the highest), <see cref="AfterCopy"/> the one it added, so their keys name exactly those rows.
/// <para>A table removed from the publications is a Truncate whose <see cref="Unpublished"/> names the publications that
/// held it: the catalog no longer does, so readers that name keys by publication (keyspace notifications, the redis-hash
/// sink) would otherwise find none. A Relation whose <see cref="Unpublished"/> is set (possibly empty) says the table's
/// publications changed while it stays published: it left those, and may have joined others (its keys there are new).</para>
/// </summary>
public readonly record struct AppliedChange(ChangeKind Kind, StoredTable Table, TableSchema Schema, byte[]? Before, byte[]? After,
    int BeforeCopy = 1, int AfterCopy = 1, IReadOnlyList<PublicationView>? Unpublished = null)
{
    /// <summary>The row that names the key: After for inserts and updates, Before for deletes.</summary>
    public byte[]? KeyRow => After ?? Before;
    public int KeyCopy => After is null ? BeforeCopy : AfterCopy;
    public RowView? AfterView => After is null ? null : new RowView(After);
}
