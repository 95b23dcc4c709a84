using System.Buffers;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Renders a batch's events as JSON documents in pieces of at most <c>batch-bytes</c>: JSON lines (one event a line) for
/// stdout and files, or JSON arrays (one per request) for webhooks. Only one piece is in memory at a time, so a batch of
/// big rows never needs gigabytes (nor a body over .NET's 2 GB array limit that could never be sent). An event larger
/// than the cap is a piece of its own: it still goes, alone. Pieces are views of a reused buffer: use one before asking
/// for the next.
/// </summary>
internal sealed class JsonDocuments(long maxBytes, bool asArray)
{
    private const int InitialBuffer = 64 * 1024;
    private readonly long _maxBytes = Math.Max(1, maxBytes);
    private ArrayBufferWriter<byte> _piece = new(InitialBuffer);
    private ArrayBufferWriter<byte> _event = new(InitialBuffer);

    /// <summary>One piece: its bytes and the events it holds (<c>events[First..First+Count]</c>).</summary>
    public readonly record struct Piece(ReadOnlyMemory<byte> Bytes, int First, int Count);

    public IEnumerable<Piece> Render(List<ChangeEvent> events)
    {
        _piece.ResetWrittenCount();
        int first = 0, count = 0;
        if (asArray) Put(_piece, (byte)'[');
        for (int i = 0; i < events.Count; i++)
        {
            _event.ResetWrittenCount();
            EventJson.Write(events[i], _event);
            if (!asArray) Put(_event, (byte)'\n');
            // Bytes the piece would have with this event: a separator before it and the closing bracket after it.
            long wanted = _piece.WrittenCount + _event.WrittenCount + (asArray ? 2 : 0);
            if (count > 0 && wanted > _maxBytes)
            {
                yield return new Piece(Close(), first, count);
                _piece.ResetWrittenCount();
                if (asArray) Put(_piece, (byte)'[');
                first = i;
                count = 0;
            }
            if (asArray && count > 0) Put(_piece, (byte)',');
            _piece.Write(_event.WrittenSpan);
            count++;
        }
        if (count > 0) yield return new Piece(Close(), first, count);
        // One huge event grew the buffers past the cap: let them go rather than hold that much for good.
        if (_piece.Capacity > 2 * Math.Max(_maxBytes, InitialBuffer)) _piece = new ArrayBufferWriter<byte>(InitialBuffer);
        if (_event.Capacity > 2 * Math.Max(_maxBytes, InitialBuffer)) _event = new ArrayBufferWriter<byte>(InitialBuffer);
    }

    private ReadOnlyMemory<byte> Close()
    {
        if (asArray) Put(_piece, (byte)']');
        return _piece.WrittenMemory;
    }

    private static void Put(ArrayBufferWriter<byte> buffer, byte b)
    {
        buffer.GetSpan(1)[0] = b;
        buffer.Advance(1);
    }
}
