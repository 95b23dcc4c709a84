using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Targets;

/// <summary>JSON lines on standard output (logs go to standard error, so the two never mix).</summary>
public sealed class StdoutTarget(Stream? output = null) : ISinkTarget
{
    private readonly Stream _output = output ?? Console.OpenStandardOutput();
    private readonly JsonLines _lines = new();

    public Task OpenAsync(CancellationToken ct) => Task.CompletedTask;

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        if (batch.Events.Count == 0) return;
        await _output.WriteAsync(_lines.Render(batch), ct).ConfigureAwait(false);
        await _output.FlushAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
