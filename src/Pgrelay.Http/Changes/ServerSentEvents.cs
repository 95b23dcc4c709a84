using System.Buffers;
using System.Text;
using Pgrelay.Core.Model;

namespace Pgrelay.Http.Changes;

/// <summary>
/// The text/event-stream framing (WHATWG HTML, "server-sent events"): "field: value" lines, an event ends
/// with a blank line, lines starting with ':' are comments clients ignore. Data is always one line here,
/// so a client's EventSource hands it over unchanged.
/// </summary>
internal static class ServerSentEvents
{
    public const string ContentType = "text/event-stream; charset=utf-8";

    public static void WriteId(Lsn lsn, IBufferWriter<byte> output)
    {
        output.Write("id: "u8);
        var span = output.GetSpan(17);
        output.Advance(lsn.Format(span));
        output.Write("\n"u8);
    }

    public static void WriteEventName(ReadOnlySpan<byte> name, IBufferWriter<byte> output)
    {
        output.Write("event: "u8);
        output.Write(name);
        output.Write("\n"u8);
    }

    /// <summary>A data line; the caller guarantees <paramref name="oneLine"/> has no CR or LF.</summary>
    public static void WriteData(ReadOnlySpan<byte> oneLine, IBufferWriter<byte> output)
    {
        output.Write("data: "u8);
        output.Write(oneLine);
        output.Write("\n"u8);
    }

    public static void EndEvent(IBufferWriter<byte> output) => output.Write("\n"u8);

    /// <summary>A whole event whose data is one JSON document, kept on one data line.</summary>
    public static void WriteJsonEvent(Lsn id, ReadOnlySpan<byte> name, ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        WriteId(id, output);
        WriteEventName(name, output);
        output.Write("data: "u8);
        // Valid JSON can hold a CR or LF only as whitespace between tokens (a json column keeps its source
        // text); a space means the same and keeps the event on one data line.
        var span = output.GetSpan(json.Length)[..json.Length];
        json.CopyTo(span);
        span.Replace((byte)'\n', (byte)' ');
        span.Replace((byte)'\r', (byte)' ');
        output.Advance(json.Length);
        output.Write("\n"u8);
        EndEvent(output);
    }

    public static void WriteComment(string text, IBufferWriter<byte> output)
    {
        output.Write(": "u8);
        output.Write(Encoding.UTF8.GetBytes(text.ReplaceLineEndings(" ")));
        output.Write("\n\n"u8);
    }

    /// <summary>How long a disconnected EventSource waits before reconnecting (milliseconds).</summary>
    public static void WriteRetry(int milliseconds, IBufferWriter<byte> output)
    {
        output.Write(Encoding.UTF8.GetBytes($"retry: {milliseconds}\n\n"));
    }
}
