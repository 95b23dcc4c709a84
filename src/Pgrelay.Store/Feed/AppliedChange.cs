using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Tables;

namespace Pgrelay.Store.Feed;

/// <summary>
/// A change as the store applied it, with complete images: <see cref="Before"/> is the version the
/// store held (so columns PostgreSQL did not resend are filled in), <see cref="After"/> the new version
/// with unchanged TOAST values merged. Truncate and Relation changes carry neither.
/// </summary>
public readonly record struct AppliedChange(ChangeKind Kind, StoredTable Table, TableSchema Schema, byte[]? Before, byte[]? After)
{
    /// <summary>The row that names the key: After for inserts and updates, Before for deletes.</summary>
    public byte[]? KeyRow => After ?? Before;
    public RowView? AfterView => After is null ? null : new RowView(After);
}
