using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>JSON lines on standard output (logs go to standard error, so the two never mix), written in pieces of at
/// most <paramref name="batchBytes"/>.</summary>
public sealed class StdoutTarget(Stream? output = null, long batchBytes = SinkDefinition.DefaultBatchBytes) : ISinkTarget
{
    private readonly Stream _output = output ?? Console.OpenStandardOutput();
    private readonly JsonDocuments _lines = new(batchBytes, asArray: false);

    public Task OpenAsync(CancellationToken ct) => Task.CompletedTask;

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        if (batch.Events.Count == 0) return;
        foreach (var piece in _lines.Render(batch.Events))
            await _output.WriteAsync(piece.Bytes, ct).ConfigureAwait(false);
        await _output.FlushAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
