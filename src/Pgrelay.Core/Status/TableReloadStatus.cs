using Pgrelay.Core.Model;

namespace Pgrelay.Core.Status;

/// <summary>
/// A table being loaded beside the stream (added to a publication, or its rows changed by DDL the stream cannot describe),
/// as /status shows it. Until it is loaded, a table the store held keeps serving its old rows; a new table answers as absent.
/// </summary>
public sealed class TableReloadStatus(string table, string reason, Lsn since)
{
    private volatile string _phase = "waiting for a snapshot";
    private long _rowsCopied;

    /// <summary><c>schema.table</c>.</summary>
    public string Table { get; } = table;
    /// <summary>Why it is loaded: "added to the publication", "columns changed", ...</summary>
    public string Reason { get; } = reason;
    /// <summary>The store's visible LSN when the load was decided.</summary>
    public Lsn Since { get; } = since;
    public DateTimeOffset Started { get; } = DateTimeOffset.UtcNow;
    public string Phase { get => _phase; set => _phase = value; }
    public long RowsCopied => Interlocked.Read(ref _rowsCopied);
    public void CountRows(long rows) => Interlocked.Add(ref _rowsCopied, rows);
}
