using System.Diagnostics.Metrics;
using System.Text;

namespace Pgrelay.Http.Metrics;

/// <summary>
/// Collects this process's pgrelay instruments with a <see cref="MeterListener"/> and renders them as
/// Prometheus text on each scrape. Only observable instruments are exported: they are read at scrape
/// time, so the exporter keeps no aggregation state and readers on hot paths are never called back.
/// Meters are matched by name ("Pgrelay" or "Pgrelay.*") and by the DI container that created them, so
/// two hosts in one process (as in tests) never report each other's figures.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    // Separate locks: instruments are published under the runtime's own lock, which a scrape must
    // never wait on while holding the lock its callbacks need.
    private readonly object _gate = new();
    private readonly object _instrumentsGate = new();
    private readonly MeterListener _listener = new();
    private readonly IMeterFactory _factory;
    private readonly List<Instrument> _instruments = [];
    private readonly List<MetricSample> _samples = [];

    public PrometheusExporter(IMeterFactory factory, PgrelayMeter meter)
    {
        _factory = factory;
        _ = meter;   // its instruments must exist before the listener starts looking
        _listener.InstrumentPublished = OnInstrumentPublished;
        _listener.MeasurementsCompleted = (instrument, _) => { lock (_instrumentsGate) _instruments.Remove(instrument); };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => _samples.Add(new(i, tags.ToArray(), v, 0, true)));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, _) => _samples.Add(new(i, tags.ToArray(), v, 0, true)));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => _samples.Add(new(i, tags.ToArray(), 0, v, false)));
        _listener.SetMeasurementEventCallback<float>((i, v, tags, _) => _samples.Add(new(i, tags.ToArray(), 0, v, false)));
        _listener.Start();
    }

    /// <summary>Reads every instrument now and returns the exposition text.</summary>
    public string Scrape()
    {
        lock (_gate)
        {
            _samples.Clear();
            _listener.RecordObservableInstruments();   // callbacks run synchronously on this thread
            Instrument[] instruments;
            lock (_instrumentsGate) instruments = [.. _instruments];
            var text = new StringBuilder(4096);
            foreach (var instrument in instruments)
                PrometheusTextWriter.WriteMetric(text, instrument, _samples.Where(s => ReferenceEquals(s.Instrument, instrument)));
            _samples.Clear();
            return text.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        var meter = instrument.Meter;
        bool ours = (meter.Name == PgrelayMeter.MeterName || meter.Name.StartsWith(PgrelayMeter.MeterName + ".", StringComparison.Ordinal)) &&
                    ReferenceEquals(meter.Scope, _factory);
        if (!ours || !instrument.IsObservable) return;
        lock (_instrumentsGate) _instruments.Add(instrument);
        listener.EnableMeasurementEvents(instrument);
    }
}
