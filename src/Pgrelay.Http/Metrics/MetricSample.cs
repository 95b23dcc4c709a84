using System.Diagnostics.Metrics;

namespace Pgrelay.Http.Metrics;

/// <summary>One observed value of an instrument with its tags, captured during a scrape.</summary>
/// <param name="Integer">Whole-number instruments keep their exact value (an LSN does not fit a double).</param>
internal readonly record struct MetricSample(Instrument Instrument, KeyValuePair<string, object?>[] Tags, long Integer, double Real, bool IsInteger);
