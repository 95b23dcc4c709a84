using System.Buffers;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Rendering;
using Pgrelay.Store.Feed;
using Pgrelay.Store.Tables;

namespace Pgrelay.Http.Changes;

/// <summary>
/// The "summary" format (<c>?format=summary</c>): one event per transaction with counts per table and
/// operation instead of rows, <c>{"lsn","xid","commit_time","changes":N,"tables":[{"publication","table",
/// "c","u","d","t"}]}</c>. For watchers such as the dashboard: a million-row transaction costs them one
/// short line, not the rows.
/// </summary>
internal sealed class ChangeSummaryWriter : ITransactionEventWriter
{
    private readonly ArrayBufferWriter<byte> _json = new(512);
    private readonly List<TableCounts> _tables = [];

    public int Write(CommittedTransaction transaction, ChangeFilter filter, IBufferWriter<byte> output)
    {
        _tables.Clear();
        int total = 0;
        TableCounts? last = null;
        foreach (var change in transaction.Changes)
        {
            string? publication = filter.PublicationOf(change);
            if (publication is null) continue;
            // Transactions usually touch few tables, and runs of one table: check the previous one first.
            var counts = last is not null && ReferenceEquals(last.Table, change.Table) && last.Publication == publication
                ? last
                : Find(publication, change.Table) ?? Add(publication, change);
            counts.Count(change.Kind);
            last = counts;
            total++;
        }
        if (total == 0) return 0;

        var json = _json;
        json.ResetWrittenCount();
        ChangeEventWriter.WriteHeader(transaction, json);
        json.Write(",\"changes\":"u8);
        json.Write(System.Text.Encoding.UTF8.GetBytes(total.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        json.Write(",\"tables\":["u8);
        for (int i = 0; i < _tables.Count; i++)
        {
            if (i > 0) json.Write(","u8);
            _tables[i].WriteTo(json);
        }
        json.Write("]}"u8);
        ServerSentEvents.WriteJsonEvent(transaction.CommitLsn, "transaction"u8, json.WrittenSpan, output);
        return total;
    }

    private TableCounts? Find(string publication, StoredTable table)
    {
        foreach (var counts in _tables)
            if (ReferenceEquals(counts.Table, table) && counts.Publication == publication) return counts;
        return null;
    }

    private TableCounts Add(string publication, in AppliedChange change)
    {
        var counts = new TableCounts(publication, change.Table, change.Schema.Utf8KeyName);
        _tables.Add(counts);
        return counts;
    }

    private sealed class TableCounts(string publication, StoredTable table, byte[] utf8Name)
    {
        private long _inserts, _updates, _deletes, _truncates;

        public string Publication => publication;
        public StoredTable Table => table;

        public void Count(ChangeKind kind)
        {
            switch (kind)
            {
                case ChangeKind.Insert: _inserts++; break;
                case ChangeKind.Update: _updates++; break;
                case ChangeKind.Delete: _deletes++; break;
                case ChangeKind.Truncate: _truncates++; break;
            }
        }

        public void WriteTo(IBufferWriter<byte> json)
        {
            json.Write("{\"publication\":"u8);
            JsonStringWriter.Write(publication, json);
            json.Write(",\"table\":"u8);
            JsonStringWriter.Write(utf8Name, json);
            WriteCount(",\"c\":"u8, _inserts, json);
            WriteCount(",\"u\":"u8, _updates, json);
            WriteCount(",\"d\":"u8, _deletes, json);
            WriteCount(",\"t\":"u8, _truncates, json);
            json.Write("}"u8);
        }

        private static void WriteCount(ReadOnlySpan<byte> name, long value, IBufferWriter<byte> json)
        {
            json.Write(name);
            var span = json.GetSpan(20);
            value.TryFormat(span, out int written, default, System.Globalization.CultureInfo.InvariantCulture);
            json.Advance(written);
        }
    }
}
