using System.Text;
using System.Text.Json;

namespace Pgrelay.Differential.Tests;

/// <summary>Every difference found, by reader: the test fails on any, and the report names table, key, column and both values.</summary>
public sealed class Divergences
{
    private readonly List<(string Reader, string What)> _items = new();

    public int Count { get { lock (_items) return _items.Count; } }

    public void Add(string reader, string what) { lock (_items) _items.Add((reader, what)); }

    public string Report(int max)
    {
        lock (_items)
        {
            var sb = new StringBuilder();
            foreach (var g in _items.GroupBy(i => i.Reader)) sb.Append($"{g.Key}: {g.Count()} divergences\n");
            foreach (var (reader, what) in _items.Take(max)) sb.Append($"  [{reader}] {Shorten(what)}\n");
            if (_items.Count > max) sb.Append($"  ... and {_items.Count - max} more\n");
            return sb.ToString();
        }
    }

    public string Full() { lock (_items) return string.Join("\n", _items.Select(i => $"[{i.Reader}] {i.What}")); }

    private static string Shorten(string s) => s.Length <= 400 ? s : s[..400] + "…";
}

/// <summary>Compares what each reader returned with the database's own rows.</summary>
public static class Comparison
{
    public static void Resp(TruthTable table, Dictionary<string, Dictionary<string, string>> actual, Divergences d)
    {
        const string who = "RESP";
        if (!table.HasKey)
        {
            Multiset(who, table, table.Rows.Select(r => r.TextIdentity),
                actual.Values.Select(fields => string.Join("\u001f", table.Columns.Select(c => fields.TryGetValue(c, out var v) ? v : "\u2400"))), d);
            return;
        }
        foreach (var row in table.Rows)
        {
            if (!actual.TryGetValue(row.Key!, out var fields)) { d.Add(who, $"{table.Name} key {Show(row.Key)}: missing"); continue; }
            for (int i = 0; i < table.Columns.Count; i++)
            {
                var column = table.Columns[i];
                var expected = row.Text[i];
                bool has = fields.TryGetValue(column, out var value);
                if (expected is null && has) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: database NULL, RESP {Show(value)}");
                else if (expected is not null && !has) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: database {Show(expected)}, RESP has no field");
                else if (expected is not null && value != expected) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: database {Show(expected)}, RESP {Show(value)}");
            }
            foreach (var extra in fields.Keys.Where(f => !table.Columns.Contains(f)))
                d.Add(who, $"{table.Name} key {Show(row.Key)}: field {extra} is not a column of the table");
        }
        var expectedKeys = table.Rows.Select(r => r.Key!).ToHashSet();
        foreach (var key in actual.Keys.Where(k => !expectedKeys.Contains(k)))
            d.Add(who, $"{table.Name} key {Show(key)}: served, but the database has no such row");
    }

    public static void HttpRow(TruthTable table, TruthRow row, JsonElement? actual, Divergences d)
    {
        const string who = "HTTP";
        if (actual is not { } obj) { d.Add(who, $"{table.Name} key {Show(row.Key)}: 404"); return; }
        for (int i = 0; i < table.Columns.Count; i++)
        {
            var column = table.Columns[i];
            if (!obj.TryGetProperty(column, out var value)) { d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: missing from the JSON"); continue; }
            var expected = CanonicalJson.Of(row.Json[i]);
            var got = CanonicalJson.Of(value);
            if (expected != got) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: database {expected}, HTTP {got}");
        }
        foreach (var p in obj.EnumerateObject().Where(p => !table.Columns.Contains(p.Name)))
            d.Add(who, $"{table.Name} key {Show(row.Key)}: property {p.Name} is not a column of the table");
    }

    /// <summary>The paged listing: no row the database lacks; for tables without a key the whole multiset.</summary>
    public static void HttpListing(TruthTable table, List<JsonElement>? listed, Divergences d)
    {
        const string who = "HTTP listing";
        if (listed is null) { if (table.Rows.Count > 0) d.Add(who, $"{table.Name}: the table is unknown (404) but has {table.Rows.Count} rows"); return; }
        if (!table.HasKey)
        {
            Multiset(who, table, table.Rows.Select(r => JsonIdentity(r.Json.Select(CanonicalJson.Of))),
                listed.Select(r => JsonIdentity(table.Columns.Select(c => r.TryGetProperty(c, out var v) ? CanonicalJson.Of(v) : "<absent>"))), d);
            return;
        }
        var expected = table.Rows.Select(r => r.Key!).ToHashSet();
        var seen = new HashSet<string>();
        foreach (var row in listed)
        {
            var dict = row.EnumerateObject().ToDictionary(p => p.Name, p => p.Value);
            var key = FileSinkReplay.KeyOf(dict, table.KeyColumns);
            if (key is null) { d.Add(who, $"{table.Name}: a listed row lacks its key columns: {CanonicalJson.Of(row)}"); continue; }
            if (!seen.Add(key)) d.Add(who, $"{table.Name} key {Show(key)}: listed twice");
            if (!expected.Contains(key)) d.Add(who, $"{table.Name} key {Show(key)}: listed, but the database has no such row");
        }
        foreach (var key in expected.Where(k => !seen.Contains(k)))
            d.Add(who, $"{table.Name} key {Show(key)}: not listed");
    }

    public static void PostgresSink(TruthTable table, List<string?[]>? target, Divergences d)
    {
        const string who = "postgres sink";
        if (target is null) { if (table.Rows.Count > 0) d.Add(who, $"{table.Name}: no target table, the database has {table.Rows.Count} rows"); return; }
        if (!table.HasKey)
        {
            Multiset(who, table, table.Rows.Select(r => r.TextIdentity), target.Select(r => string.Join("\u001f", r.Select(t => t ?? "\u2400"))), d);
            return;
        }
        var keyIndexes = table.KeyColumns.Select(table.Index).ToArray();
        var byKey = new Dictionary<string, string?[]>();
        foreach (var row in target)
        {
            var key = DatabaseTruth.KeyText(keyIndexes.Select(k => row[k] ?? ""));
            if (!byKey.TryAdd(key, row)) d.Add(who, $"{table.Name} key {Show(key)}: twice in the target");
        }
        foreach (var row in table.Rows)
        {
            if (!byKey.Remove(row.Key!, out var mine)) { d.Add(who, $"{table.Name} key {Show(row.Key)}: missing"); continue; }
            for (int i = 0; i < table.Columns.Count; i++)
                if (mine[i] != row.Text[i])
                    d.Add(who, $"{table.Name} key {Show(row.Key)} column {table.Columns[i]}: database {Show(row.Text[i])}, target {Show(mine[i])}");
        }
        foreach (var key in byKey.Keys) d.Add(who, $"{table.Name} key {Show(key)}: in the target, but the database has no such row");
    }

    public static void FileSink(TruthTable table, FileSinkReplay replay, bool columnsMayBeMissing, Divergences d)
    {
        const string who = "file sink";
        if (!table.HasKey)
        {
            var rows = replay.Unkeyed.TryGetValue(table.Name, out var r) ? r : [];
            Multiset(who, table, table.Rows.Select(x => JsonIdentity(x.Json.Select(CanonicalJson.Of))),
                rows.Select(x => JsonIdentity(table.Columns.Select(c => x.TryGetValue(c, out var v) ? CanonicalJson.Of(v) : "<absent>"))), d);
            return;
        }
        var replayed = replay.Keyed.TryGetValue(table.Name, out var t) ? new Dictionary<string, Dictionary<string, JsonElement>>(t) : new();
        foreach (var row in table.Rows)
        {
            if (!replayed.Remove(row.Key!, out var mine)) { d.Add(who, $"{table.Name} key {Show(row.Key)}: missing"); continue; }
            for (int i = 0; i < table.Columns.Count; i++)
            {
                var column = table.Columns[i];
                if (!mine.TryGetValue(column, out var value))
                {
                    if (!columnsMayBeMissing) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: never in any event");
                    continue;
                }
                var expected = CanonicalJson.Of(row.Json[i]);
                var got = CanonicalJson.Of(value);
                if (expected != got) d.Add(who, $"{table.Name} key {Show(row.Key)} column {column}: database {expected}, file {got}");
            }
        }
        foreach (var key in replayed.Keys) d.Add(who, $"{table.Name} key {Show(key)}: still present after replaying the log, the database has no such row");
    }

    private static void Multiset(string who, TruthTable table, IEnumerable<string> expected, IEnumerable<string> actual, Divergences d)
    {
        var counts = expected.GroupBy(x => x).ToDictionary(g => g.Key, g => g.Count());
        foreach (var g in actual.GroupBy(x => x))
        {
            counts.TryGetValue(g.Key, out var want);
            if (want != g.Count()) d.Add(who, $"{table.Name} (no key): row {Show(g.Key)} {g.Count()} times, the database has it {want} times");
            counts.Remove(g.Key);
        }
        foreach (var (row, want) in counts) d.Add(who, $"{table.Name} (no key): row {Show(row)} missing ({want} in the database)");
    }

    private static string JsonIdentity(IEnumerable<string> canonicalColumns) => string.Join("\u001f", canonicalColumns);

    private static string Show(string? s) => s is null ? "NULL" : JsonSerializer.Serialize(s);
}
