using Pgrelay.Core.Model;

namespace Pgrelay.Core.Changes;

/// <summary>
/// One change inside a transaction, as decoded from pgoutput. Rows are encoded (<see cref="Rows.RowFormat"/>)
/// in the column order of <see cref="Table"/>.
/// </summary>
/// <param name="NewRow">Insert/Update: the new row; columns may be <see cref="Rows.ColumnState.Unchanged"/> (TOAST).</param>
/// <param name="OldRow">Update/Delete: the old key or old row PostgreSQL sent (replica identity), when it sent one.
/// For an Update without it, the key did not change.</param>
public readonly record struct RowChange(ChangeKind Kind, TableSchema Table, byte[]? NewRow = null, byte[]? OldRow = null);
