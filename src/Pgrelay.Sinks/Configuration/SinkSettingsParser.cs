using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Pgrelay.Sinks.Configuration;

/// <summary>
/// Reads sinks from <c>--sink type[:target]</c> flags and the config file's <c>"sinks"</c> object and <c>"rules"</c>
/// array. Anything wrong throws <see cref="SinkConfigurationException"/> with one line naming the sink or rule.
/// </summary>
public static class SinkSettingsParser
{
    private static readonly JsonDocumentOptions Json = new() { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true };

    /// <param name="sinkFlags">Values of repeated <c>--sink</c> flags.</param>
    /// <param name="configPath">The JSON config file (the same one the host's settings come from), or null.</param>
    /// <param name="stateDirectory"><c>--state-dir</c>; when null, the file's <c>"state-dir"</c> is used.</param>
    public static SinkSettings Parse(IEnumerable<string>? sinkFlags, string? configPath, string? stateDirectory = null)
    {
        var settings = new SinkSettings { StateDirectory = stateDirectory };
        var used = new HashSet<string>(StringComparer.Ordinal);
        if (configPath is not null) ReadFile(configPath, settings, used);
        foreach (var flag in sinkFlags ?? [])
            settings.Sinks.Add(FromFlag(flag, used));
        if (settings.StateDirectory is { } dir && string.IsNullOrWhiteSpace(dir))
            throw new SinkConfigurationException("state-dir: must not be empty");
        var names = settings.Sinks.Select(s => s.Name).ToHashSet();
        foreach (var rule in settings.Rules)
            foreach (var sink in rule.Sinks)
                if (!names.Contains(sink))
                    throw new SinkConfigurationException($"rule '{rule.Name}': sinks names '{sink}', which is not a configured sink ({string.Join(", ", names)})");
        Rules.RuleSet.Validate(settings.Rules);
        return settings;
    }

    public static string TypeName(SinkType type) => type switch
    {
        SinkType.Stdout => "stdout",
        SinkType.File => "file",
        SinkType.Webhook => "webhook",
        SinkType.Postgres => "postgres",
        SinkType.RedisStream => "redis-stream",
        _ => "redis-hash",
    };

    private static SinkType ParseType(string text, string where) => text.ToLowerInvariant() switch
    {
        "stdout" => SinkType.Stdout,
        "file" => SinkType.File,
        "webhook" or "http" => SinkType.Webhook,
        "postgres" or "postgresql" => SinkType.Postgres,
        "redis-stream" => SinkType.RedisStream,
        "redis-hash" => SinkType.RedisHash,
        _ => throw new SinkConfigurationException($"{where}: unknown sink type '{text}' (stdout, file, webhook, postgres, redis-stream, redis-hash)"),
    };

    /// <summary><c>stdout</c>, <c>file:/path</c>, <c>webhook:http://...</c>, <c>postgres:postgres://...</c>,
    /// <c>redis-stream:host:port/stream</c>, <c>redis-hash:host:port</c>. Named after the type (a second one of a type: type-2).</summary>
    public static SinkDefinition FromFlag(string flag, ISet<string> usedNames)
    {
        var where = $"--sink '{flag}'";
        int colon = flag.IndexOf(':');
        var type = ParseType(colon < 0 ? flag.Trim() : flag[..colon].Trim(), where);
        string? target = colon < 0 ? null : flag[(colon + 1)..].Trim();
        var name = TypeName(type);
        for (int n = 2; usedNames.Contains(name); n++) name = $"{TypeName(type)}-{n}";
        usedNames.Add(name);
        var sink = new SinkDefinition { Name = name, Type = type, Target = string.IsNullOrEmpty(target) ? null : target };
        if (type == SinkType.RedisStream && sink.Target is { } t && t.IndexOf('/') is int slash and > 0)
        {
            sink.Stream = t[(slash + 1)..];
            sink.Target = t[..slash];
        }
        CheckTarget(sink, where);
        return sink;
    }

    private static void CheckTarget(SinkDefinition sink, string where)
    {
        switch (sink.Type)
        {
            case SinkType.Stdout:
                return;
            case SinkType.File when string.IsNullOrWhiteSpace(sink.Target):
                throw new SinkConfigurationException($"{where}: a file sink needs a path (file:/path/changes.jsonl)");
            case SinkType.Webhook when !Uri.TryCreate(sink.Target, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"):
                throw new SinkConfigurationException($"{where}: a webhook sink needs an http(s) URL (webhook:https://host/path)");
            case SinkType.Postgres when string.IsNullOrWhiteSpace(sink.Target):
                throw new SinkConfigurationException($"{where}: a postgres sink needs a target database (postgres:postgres://user@host:port/db)");
            case SinkType.RedisStream or SinkType.RedisHash:
                if (string.IsNullOrWhiteSpace(sink.Target)) sink.Target = "127.0.0.1:6379";
                if (sink.Type == SinkType.RedisStream && string.IsNullOrWhiteSpace(sink.Stream))
                    throw new SinkConfigurationException($"{where}: the stream key must not be empty");
                return;
        }
        if (sink.Type == SinkType.Postgres)
        {
            try { Targets.PostgresTarget.ConnectionStringFrom(sink.Target!); }
            catch (FormatException e)   // the parser reports every bad URL or connection string this way
            {
                throw new SinkConfigurationException($"{where}: '{sink.Target}' is not a postgres:// URL or connection string ({e.Message.Split('\n')[0]})");
            }
        }
    }

    private static void ReadFile(string path, SinkSettings settings, HashSet<string> used)
    {
        if (!File.Exists(path)) throw new SinkConfigurationException($"config: file '{path}' does not exist");
        JsonDocument document;
        try { document = JsonDocument.Parse(File.ReadAllText(path), Json); }
        catch (JsonException e) { throw new SinkConfigurationException($"config: '{path}' is not valid JSON (line {e.LineNumber + 1})"); }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object) return;
            if (settings.StateDirectory is null && root.TryGetProperty("state-dir", out var dir) && dir.ValueKind == JsonValueKind.String)
                settings.StateDirectory = dir.GetString();
            if (root.TryGetProperty("sinks", out var sinks))
            {
                if (sinks.ValueKind != JsonValueKind.Object)
                    throw new SinkConfigurationException("sinks: must be an object of named sinks, e.g. \"sinks\": { \"audit\": { \"type\": \"file\", \"path\": \"...\" } }");
                foreach (var property in sinks.EnumerateObject())
                {
                    var sink = ReadSink(property.Name, property.Value, settings.Rules);
                    if (!used.Add(sink.Name)) throw new SinkConfigurationException($"sink '{sink.Name}': defined twice");
                    settings.Sinks.Add(sink);
                }
            }
            if (root.TryGetProperty("rules", out var rules))
            {
                if (rules.ValueKind != JsonValueKind.Array) throw new SinkConfigurationException("rules: must be an array of rule objects");
                int i = 0;
                foreach (var rule in rules.EnumerateArray()) settings.Rules.Add(ReadRule(rule, $"rule #{++i}", null));
            }
        }
    }

    private static SinkDefinition ReadSink(string name, JsonElement e, List<RuleDefinition> rules)
    {
        var where = $"sink '{name}'";
        if (!Regex.IsMatch(name, "^[A-Za-z0-9_.-]{1,100}$"))
            throw new SinkConfigurationException($"{where}: names use letters, digits, '_', '.', '-' (it names the checkpoint file)");
        if (e.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{where}: must be an object with a \"type\"");
        var type = ParseType(String(e, "type", where) ?? throw new SinkConfigurationException($"{where}: \"type\" is missing"), where);
        var sink = new SinkDefinition { Name = name, Type = type };
        var known = new HashSet<string> { "type", "transactions", "batch-size", "rules" };
        void Known(params string[] keys) { foreach (var k in keys) known.Add(k); }
        sink.Transactions = Bool(e, "transactions", where) ?? false;
        sink.BatchSize = Int(e, "batch-size", where, 1, 1_000_000) ?? sink.BatchSize;
        if (type is SinkType.Stdout or SinkType.File or SinkType.Webhook or SinkType.RedisStream)
        {
            Known("batch-bytes");
            if (String(e, "batch-bytes", where) is { } bytes) sink.BatchBytes = Size(bytes, $"{where}: batch-bytes");
            if (sink.BatchBytes < 1) throw new SinkConfigurationException($"{where}: batch-bytes must be at least 1 byte");
        }
        switch (type)
        {
            case SinkType.File:
                Known("path", "max-size", "max-age");
                sink.Target = String(e, "path", where);
                if (String(e, "max-size", where) is { } size) sink.MaxFileBytes = Size(size, $"{where}: max-size");
                if (String(e, "max-age", where) is { } age) sink.MaxFileAge = Duration(age, $"{where}: max-age");
                break;
            case SinkType.Webhook:
                Known("url", "secret", "timeout", "max-attempts");
                sink.Target = String(e, "url", where);
                sink.Secret = String(e, "secret", where);
                if (String(e, "timeout", where) is { } timeout) sink.Timeout = Duration(timeout, $"{where}: timeout");
                sink.MaxAttempts = Int(e, "max-attempts", where, 1, 1000) ?? sink.MaxAttempts;
                break;
            case SinkType.Postgres:
                Known("url", "schema");
                sink.Target = String(e, "url", where);
                sink.TargetSchema = String(e, "schema", where);
                break;
            case SinkType.RedisStream:
                Known("address", "stream", "max-length");
                sink.Target = String(e, "address", where);
                sink.Stream = String(e, "stream", where) ?? sink.Stream;
                sink.MaxLength = Int(e, "max-length", where, 1, int.MaxValue) ?? sink.MaxLength;
                break;
            case SinkType.RedisHash:
                Known("address", "prefix");
                sink.Target = String(e, "address", where);
                sink.Prefix = String(e, "prefix", where);
                break;
        }
        foreach (var p in e.EnumerateObject())
            if (!known.Contains(p.Name))
                throw new SinkConfigurationException($"{where}: unknown key '{p.Name}' for a {TypeName(type)} sink (known: {string.Join(", ", known)})");
        CheckTarget(sink, where);
        if (e.TryGetProperty("rules", out var inline))
        {
            if (inline.ValueKind != JsonValueKind.Array) throw new SinkConfigurationException($"{where}: \"rules\" must be an array");
            int i = 0;
            foreach (var rule in inline.EnumerateArray()) rules.Add(ReadRule(rule, $"{where} rule #{++i}", name));
        }
        return sink;
    }

    private static RuleDefinition ReadRule(JsonElement e, string fallbackName, string? onlySink)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{fallbackName}: must be an object");
        var name = e.TryGetProperty("name", out var n) && n.ValueKind == JsonValueKind.String ? n.GetString()! : fallbackName;
        var where = $"rule '{name}'";
        var known = new HashSet<string> { "name", "table", "ops", "sinks", "filter", "transform", "route" };
        foreach (var p in e.EnumerateObject())
            if (!known.Contains(p.Name)) throw new SinkConfigurationException($"{where}: unknown key '{p.Name}' (known: {string.Join(", ", known)})");
        var rule = new RuleDefinition { Name = name, Table = String(e, "table", where) ?? "*" };
        foreach (var op in Strings(e, "ops", where))
        {
            if (op.Length != 1 || "cudtr".IndexOf(op[0]) < 0)
                throw new SinkConfigurationException($"{where}: ops: '{op}' is not one of c, u, d, t, r");
            rule.Ops.Add(op[0]);
        }
        rule.Sinks.AddRange(Strings(e, "sinks", where));
        if (onlySink is not null) rule.Sinks = [onlySink];
        if (e.TryGetProperty("filter", out var filter))
        {
            if (filter.ValueKind != JsonValueKind.Array) throw new SinkConfigurationException($"{where}: filter must be an array of conditions");
            foreach (var c in filter.EnumerateArray()) rule.Filter.Add(ReadCondition(c, where));
        }
        if (e.TryGetProperty("transform", out var transform))
        {
            if (transform.ValueKind != JsonValueKind.Array) throw new SinkConfigurationException($"{where}: transform must be an array");
            foreach (var t in transform.EnumerateArray()) rule.Transform.Add(ReadTransform(t, where));
        }
        if (e.TryGetProperty("route", out var route))
        {
            if (route.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{where}: route must be an object");
            foreach (var p in route.EnumerateObject())
                if (p.Name is not ("schema" or "table" or "columns"))
                    throw new SinkConfigurationException($"{where}: route: unknown key '{p.Name}' (schema, table, columns)");
            var columns = new Dictionary<string, string>();
            if (route.TryGetProperty("columns", out var cols))
            {
                if (cols.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{where}: route.columns must map old names to new names");
                foreach (var c in cols.EnumerateObject())
                    columns[c.Name] = c.Value.ValueKind == JsonValueKind.String && c.Value.GetString() is { Length: > 0 } s
                        ? s : throw new SinkConfigurationException($"{where}: route.columns.{c.Name} must be a non-empty string");
            }
            rule.Route = new RouteDefinition(String(route, "schema", where), String(route, "table", where), columns);
        }
        return rule;
    }

    private static ConditionDefinition ReadCondition(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{where}: each filter is an object {{\"column\", \"op\", \"value\"}}");
        var column = String(e, "column", where) ?? throw new SinkConfigurationException($"{where}: a filter lacks \"column\"");
        var opText = String(e, "op", where) ?? throw new SinkConfigurationException($"{where}: the filter on '{column}' lacks \"op\"");
        var op = opText.ToLowerInvariant().Replace("_", "-").Replace(" ", "-") switch
        {
            "eq" or "=" or "==" => ConditionOp.Eq,
            "ne" or "!=" or "<>" => ConditionOp.Ne,
            "gt" or ">" => ConditionOp.Gt,
            "gte" or ">=" => ConditionOp.Gte,
            "lt" or "<" => ConditionOp.Lt,
            "lte" or "<=" => ConditionOp.Lte,
            "in" => ConditionOp.In,
            "contains" => ConditionOp.Contains,
            "regex" or "matches" => ConditionOp.Regex,
            "is-null" or "isnull" => ConditionOp.IsNull,
            "not-null" or "is-not-null" or "notnull" => ConditionOp.NotNull,
            _ => throw new SinkConfigurationException($"{where}: filter op '{opText}' on '{column}' is not one of eq, ne, gt, gte, lt, lte, in, contains, regex, is-null, not-null"),
        };
        var values = new List<string?>();
        bool hasValue = e.TryGetProperty("value", out var value);
        if (op is ConditionOp.IsNull or ConditionOp.NotNull)
        {
            if (hasValue) throw new SinkConfigurationException($"{where}: filter {opText} on '{column}' takes no value");
        }
        else if (!hasValue) throw new SinkConfigurationException($"{where}: filter {opText} on '{column}' needs a \"value\"");
        else if (op == ConditionOp.In)
        {
            if (value.ValueKind != JsonValueKind.Array) throw new SinkConfigurationException($"{where}: filter in on '{column}' needs an array value");
            foreach (var v in value.EnumerateArray()) values.Add(Scalar(v, where, column));
        }
        else values.Add(Scalar(value, where, column) ?? throw new SinkConfigurationException($"{where}: filter {opText} on '{column}' compares with null; use is-null / not-null"));
        foreach (var p in e.EnumerateObject())
            if (p.Name is not ("column" or "op" or "value")) throw new SinkConfigurationException($"{where}: filter on '{column}': unknown key '{p.Name}'");
        return new ConditionDefinition(column, op, values);
    }

    private static TransformDefinition ReadTransform(JsonElement e, string where)
    {
        if (e.ValueKind != JsonValueKind.Object) throw new SinkConfigurationException($"{where}: each transform is an object {{\"column\", \"type\", ...}}");
        var column = String(e, "column", where) ?? throw new SinkConfigurationException($"{where}: a transform lacks \"column\"");
        var typeText = String(e, "type", where) ?? throw new SinkConfigurationException($"{where}: the transform of '{column}' lacks \"type\"");
        var type = typeText.ToLowerInvariant() switch
        {
            "regex-replace" or "replace" => TransformType.RegexReplace,
            "mask" => TransformType.Mask,
            "hash" or "sha256" => TransformType.Hash,
            "drop" => TransformType.Drop,
            _ => throw new SinkConfigurationException($"{where}: transform type '{typeText}' on '{column}' is not one of regex-replace, mask, hash, drop"),
        };
        var allowed = type switch
        {
            TransformType.RegexReplace => new[] { "column", "type", "pattern", "replacement" },
            TransformType.Mask => ["column", "type", "keep-first", "keep-last", "char"],
            _ => ["column", "type"],
        };
        foreach (var p in e.EnumerateObject())
            if (!allowed.Contains(p.Name)) throw new SinkConfigurationException($"{where}: {typeText} on '{column}': unknown key '{p.Name}' (known: {string.Join(", ", allowed)})");
        var pattern = String(e, "pattern", where);
        if (type == TransformType.RegexReplace && pattern is null) throw new SinkConfigurationException($"{where}: regex-replace on '{column}' needs a \"pattern\"");
        var maskChar = String(e, "char", where);
        if (maskChar is not null && maskChar.Length != 1) throw new SinkConfigurationException($"{where}: mask on '{column}': char must be one character");
        return new TransformDefinition(column, type, pattern, String(e, "replacement", where) ?? "",
            Int(e, "keep-first", where, 0, 10_000) ?? 0, Int(e, "keep-last", where, 0, 10_000) ?? 0, maskChar?[0] ?? '*');
    }

    private static string? Scalar(JsonElement v, string where, string column) => v.ValueKind switch
    {
        JsonValueKind.String => v.GetString(),
        JsonValueKind.Number => v.GetRawText(),
        JsonValueKind.True => "t",
        JsonValueKind.False => "f",
        JsonValueKind.Null => null,
        _ => throw new SinkConfigurationException($"{where}: the filter on '{column}' needs a string, number or boolean value"),
    };

    private static string? String(JsonElement e, string key, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.String => v.GetString(),
            JsonValueKind.Number => v.GetRawText(),
            _ => throw new SinkConfigurationException($"{where}: \"{key}\" must be a string"),
        };
    }

    private static IEnumerable<string> Strings(JsonElement e, string key, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.String) return [v.GetString()!];
        if (v.ValueKind != JsonValueKind.Array || v.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String))
            throw new SinkConfigurationException($"{where}: \"{key}\" must be a string or an array of strings");
        return v.EnumerateArray().Select(x => x.GetString()!).ToList();
    }

    private static bool? Bool(JsonElement e, string key, string where)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        return v.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new SinkConfigurationException($"{where}: \"{key}\" must be true or false"),
        };
    }

    private static int? Int(JsonElement e, string key, string where, int min, int max)
    {
        if (!e.TryGetProperty(key, out var v) || v.ValueKind == JsonValueKind.Null) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i) && i >= min && i <= max) return i;
        throw new SinkConfigurationException($"{where}: \"{key}\" must be a whole number from {min} to {max}");
    }

    internal static TimeSpan Duration(string text, string where)
    {
        var t = text.Trim().ToLowerInvariant();
        double scale = 1;
        if (t.EndsWith("ms")) { scale = 0.001; t = t[..^2]; }
        else if (t.EndsWith('s')) t = t[..^1];
        else if (t.EndsWith('m')) { scale = 60; t = t[..^1]; }
        else if (t.EndsWith('h')) { scale = 3600; t = t[..^1]; }
        else if (t.EndsWith('d')) { scale = 86400; t = t[..^1]; }
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0)
            throw new SinkConfigurationException($"{where}: '{text}' is not a duration (e.g. 10s, 500ms, 5m, 1h, 1d)");
        return TimeSpan.FromSeconds(value * scale);
    }

    internal static long Size(string text, string where)
    {
        var t = text.Trim().ToUpperInvariant();
        long scale = 1;
        foreach (var (suffix, factor) in new[] { ("KB", 1024L), ("MB", 1024L * 1024), ("GB", 1024L * 1024 * 1024), ("B", 1L) })
            if (t.EndsWith(suffix)) { scale = factor; t = t[..^suffix.Length].Trim(); break; }
        if (!long.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value) || value < 0)
            throw new SinkConfigurationException($"{where}: '{text}' is not a size (e.g. 64MB, 512kB, 1GB)");
        return value * scale;
    }
}
