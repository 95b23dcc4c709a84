using System.Buffers;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>Renders a batch as JSON lines (one event a line) into a reused buffer.</summary>
internal sealed class JsonLines
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public ReadOnlyMemory<byte> Render(SinkBatch batch)
    {
        _buffer.ResetWrittenCount();
        foreach (var e in batch.Events)
        {
            EventJson.Write(e, _buffer);
            _buffer.GetSpan(1)[0] = (byte)'\n';
            _buffer.Advance(1);
        }
        return _buffer.WrittenMemory;
    }
}
