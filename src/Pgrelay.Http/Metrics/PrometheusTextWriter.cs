using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Pgrelay.Http.Metrics;

/// <summary>
/// Writes samples in the Prometheus text exposition format 0.0.4: a HELP and TYPE line per metric,
/// then one line per series, all series of a metric together.
/// </summary>
internal static class PrometheusTextWriter
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    public static void WriteMetric(StringBuilder text, Instrument instrument, IEnumerable<MetricSample> samples)
    {
        bool counter = IsCounter(instrument);
        string name = MetricName(instrument.Name);
        if (counter && !name.EndsWith("_total", StringComparison.Ordinal)) name += "_total";

        if (!string.IsNullOrEmpty(instrument.Description))
            text.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(instrument.Description)).Append('\n');
        text.Append("# TYPE ").Append(name).Append(' ').Append(counter ? "counter" : "gauge").Append('\n');
        foreach (var sample in samples)
        {
            text.Append(name);
            WriteLabels(text, sample.Tags);
            text.Append(' ').Append(FormatValue(sample)).Append('\n');
        }
    }

    /// <summary>Instruments that only go up; everything else (gauges, up-down counters) is a gauge.</summary>
    public static bool IsCounter(Instrument instrument)
    {
        var type = instrument.GetType();
        if (!type.IsGenericType) return false;
        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(ObservableCounter<>) || definition == typeof(Counter<>);
    }

    /// <summary>Prometheus names allow [a-zA-Z_:][a-zA-Z0-9_:]*; dots and anything else become '_'.</summary>
    public static string MetricName(string name) => Sanitize(name, allowColon: true);

    public static string LabelName(string name) => Sanitize(name, allowColon: false);

    /// <summary>Label values escape backslash, double quote and line feed.</summary>
    public static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\").Replace("\"", "\\\"").Replace("\n", "\\n");

    private static string EscapeHelp(string help) => help.Replace("\\", "\\\\").Replace("\n", "\\n");

    private static void WriteLabels(StringBuilder text, KeyValuePair<string, object?>[] tags)
    {
        if (tags.Length == 0) return;
        text.Append('{');
        for (int i = 0; i < tags.Length; i++)
        {
            if (i > 0) text.Append(',');
            string value = Convert.ToString(tags[i].Value, CultureInfo.InvariantCulture) ?? "";
            text.Append(LabelName(tags[i].Key)).Append("=\"").Append(EscapeLabelValue(value)).Append('"');
        }
        text.Append('}');
    }

    private static string FormatValue(MetricSample sample)
    {
        if (sample.IsInteger) return sample.Integer.ToString(CultureInfo.InvariantCulture);
        double v = sample.Real;
        if (double.IsNaN(v)) return "NaN";
        if (double.IsPositiveInfinity(v)) return "+Inf";
        if (double.IsNegativeInfinity(v)) return "-Inf";
        return v.ToString("R", CultureInfo.InvariantCulture);
    }

    private static string Sanitize(string name, bool allowColon)
    {
        var chars = name.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            char c = chars[i];
            bool ok = char.IsAsciiLetter(c) || c == '_' || (allowColon && c == ':') || (i > 0 && char.IsAsciiDigit(c));
            if (!ok) chars[i] = '_';
        }
        return chars.Length == 0 ? "_" : new string(chars);
    }
}
