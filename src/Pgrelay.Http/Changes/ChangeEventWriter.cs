using System.Buffers;
using System.Globalization;
using System.Text;
using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;
using Pgrelay.Store.Feed;

namespace Pgrelay.Http.Changes;

/// <summary>
/// Renders one committed transaction as a "transaction" event:
/// <c>{"lsn","xid","commit_time","changes":[{"op","publication","table","key","before","after"}]}</c> on one
/// data line, rows in the same JSON shape as GET /{publication}/{table}/{key}. Reuses its buffers across events.
/// </summary>
internal sealed class ChangeEventWriter : ITransactionEventWriter
{
    // A huge transaction may grow the scratch buffer; do not keep that much per connection afterwards.
    private const int KeepScratchBytes = 1 << 20;
    private ArrayBufferWriter<byte> _json = new(4096);
    private byte[] _key = new byte[256];

    /// <summary>Writes the event if the filter lets at least one change through; returns how many it wrote.</summary>
    public int Write(CommittedTransaction transaction, ChangeFilter filter, IBufferWriter<byte> output)
    {
        var json = _json;
        json.ResetWrittenCount();
        WriteHeader(transaction, json);
        json.Write(",\"changes\":["u8);
        int written = 0;
        foreach (var change in transaction.Changes)
        {
            string? publication = filter.PublicationOf(change);
            if (publication is null) continue;
            if (written++ > 0) json.Write(","u8);
            WriteChange(change, publication, json);
        }
        json.Write("]}"u8);
        if (written > 0) ServerSentEvents.WriteJsonEvent(transaction.CommitLsn, "transaction"u8, json.WrittenSpan, output);
        if (json.Capacity > KeepScratchBytes) _json = new ArrayBufferWriter<byte>(4096);
        return written;
    }

    private void WriteChange(in AppliedChange change, string publication, ArrayBufferWriter<byte> json)
    {
        json.Write("{\"op\":\""u8);
        json.Write([(byte)change.Kind]);
        json.Write("\",\"publication\":"u8);
        JsonStringWriter.Write(publication, json);
        json.Write(",\"table\":"u8);
        JsonStringWriter.Write(change.Schema.Utf8KeyName, json);
        json.Write(",\"key\":"u8);
        if (change.KeyRow is { } keyRow) WriteKey(new RowView(keyRow), change.Schema, change.KeyCopy, json);
        else json.Write("null"u8);
        json.Write(",\"before\":"u8);
        WriteRow(change.Before, change.Schema, json);
        json.Write(",\"after\":"u8);
        WriteRow(change.After, change.Schema, json);
        json.Write("}"u8);
    }

    private static void WriteRow(byte[]? row, TableSchema schema, IBufferWriter<byte> json)
    {
        if (row is null) json.Write("null"u8);
        else JsonRowRenderer.Write(new RowView(row), schema, json);
    }

    private void WriteKey(RowView row, TableSchema schema, int copy, IBufferWriter<byte> json)
    {
        int length = CacheKey.RowKeyLength(row, schema, copy);
        if (_key.Length < length) _key = new byte[Math.Max(length, _key.Length * 2)];
        int written = CacheKey.WriteRowKey(row, schema, _key, copy);
        JsonStringWriter.Write(_key.AsSpan(0, written), json);
    }

    /// <summary><c>{"lsn":"X/Y","xid":N,"commit_time":"..."</c>: the start every transaction event shares.</summary>
    internal static void WriteHeader(CommittedTransaction transaction, IBufferWriter<byte> json)
    {
        json.Write("{\"lsn\":\""u8);
        var span = json.GetSpan(17);
        json.Advance(transaction.CommitLsn.Format(span));
        json.Write("\",\"xid\":"u8);
        json.Write(Encoding.UTF8.GetBytes(transaction.Xid.ToString(CultureInfo.InvariantCulture)));
        json.Write(",\"commit_time\":\""u8);
        json.Write(Encoding.UTF8.GetBytes(transaction.CommitTime.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture)));
        json.Write("\""u8);
    }
}
