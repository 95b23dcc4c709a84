using System.Diagnostics.Metrics;

namespace Pgrelay.Sinks.Hosting;

/// <summary>
/// The sinks' figures as observable instruments on the meter "Pgrelay.Sinks". Observed only when scraped: nothing on the
/// delivery path. The meter comes from the host's <see cref="IMeterFactory"/>: the /metrics exporter only takes meters
/// its own container created (so two hosts in one process never report each other), and a meter made with
/// <c>new Meter(...)</c> was never exported.
/// </summary>
public sealed class SinkMetrics
{
    public const string MeterName = "Pgrelay.Sinks";
    private readonly Meter _meter;

    public SinkMetrics(IMeterFactory meters, SinkSupervisor sinks)
    {
        _meter = meters.Create(MeterName);
        IEnumerable<Measurement<long>> Each(Func<Delivery.SinkStatus, long> value) =>
            sinks.Runners.Select(r => new Measurement<long>(value(r.Status),
                new KeyValuePair<string, object?>("sink", r.Status.Name), new KeyValuePair<string, object?>("type", r.Status.Type)));

        _meter.CreateObservableCounter("pgrelay_sink_events_delivered", () => Each(s => s.EventsDelivered), "events", "Events delivered to the sink's target");
        _meter.CreateObservableCounter("pgrelay_sink_batches_delivered", () => Each(s => s.BatchesDelivered), "batches", "Batches delivered");
        _meter.CreateObservableCounter("pgrelay_sink_rows_loaded", () => Each(s => s.RowsLoaded), "rows", "Rows delivered by initial loads");
        _meter.CreateObservableCounter("pgrelay_sink_failures", () => Each(s => s.Failures), "failures", "Failed delivery attempts");
        _meter.CreateObservableCounter("pgrelay_sink_permanent_failures", () => Each(s => s.PermanentFailures), "failures",
            "Failed attempts that retrying cannot cure: the target or the data must change (state 4, failed)");
        _meter.CreateObservableGauge("pgrelay_sink_consecutive_failures", () => Each(s => s.ConsecutiveFailures), "failures",
            "Failed attempts since the last success (above zero: the sink is retrying)");
        _meter.CreateObservableGauge("pgrelay_sink_lag_bytes", () => Each(s => s.LagBytes), "bytes", "WAL bytes between the sink's checkpoint and the store");
        _meter.CreateObservableGauge("pgrelay_sink_checkpoint_lsn", () => Each(s => (long)s.CheckpointLsn.Value), null, "End LSN of the sink's durable checkpoint");
        _meter.CreateObservableGauge("pgrelay_sink_state", () => Each(s => (long)s.State), null,
            "0 starting, 1 loading, 2 streaming, 3 retrying (transient), 4 failed (needs a fix at the target), 5 stopped");
    }
}
