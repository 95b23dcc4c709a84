using System.Net;
using System.Text.Json;
using Npgsql;
using StackExchange.Redis;

namespace Pgrelay.Differential.Tests;

/// <summary>Reads a table back through pgrelay's Redis protocol: every key under <c>pub.table.</c> by SCAN, each by HGETALL.</summary>
public sealed class RespReader(IConnectionMultiplexer redis)
{
    public async Task<Dictionary<string, Dictionary<string, string>>> ReadAsync(string publication, string table)
    {
        var prefix = $"{publication}.{table}.";
        var server = redis.GetServers()[0];
        var db = redis.GetDatabase();
        var rows = new Dictionary<string, Dictionary<string, string>>();
        await foreach (var key in server.KeysAsync(pattern: prefix + "*", pageSize: 1000))
        {
            var fields = await db.HashGetAllAsync(key);
            rows[((string)key!)[prefix.Length..]] = fields.ToDictionary(f => (string)f.Name!, f => (string)f.Value!);
        }
        return rows;
    }
}

/// <summary>Reads rows back through pgrelay's HTTP API: one GET per row, and the paged listing of the whole table.</summary>
public sealed class HttpReader(HttpClient http)
{
    /// <summary>The row's JSON object, or null for a 404.</summary>
    public async Task<JsonElement?> GetRowAsync(string publication, string table, IEnumerable<string> keyParts)
    {
        var path = $"/{publication}/{table}/" + string.Join('/', keyParts.Select(Uri.EscapeDataString));
        using var response = await http.GetAsync(path);
        if (response.StatusCode == HttpStatusCode.NotFound) return null;
        response.EnsureSuccessStatusCode();
        return JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone();
    }

    /// <summary>Every row of the table through the paged listing; null when the table is unknown (404).</summary>
    public async Task<List<JsonElement>?> ListAsync(string publication, string table)
    {
        var rows = new List<JsonElement>();
        string? after = null;
        while (true)
        {
            var url = $"/{publication}/{table}?limit=10000" + (after is null ? "" : "&after=" + Uri.EscapeDataString(after));
            using var response = await http.GetAsync(url);
            if (response.StatusCode == HttpStatusCode.NotFound) return null;
            response.EnsureSuccessStatusCode();
            var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
            rows.AddRange(page.GetProperty("rows").EnumerateArray().Select(r => r.Clone()));
            if (page.GetProperty("next").ValueKind == JsonValueKind.Null) return rows;
            after = page.GetProperty("next").GetString();
        }
    }
}

/// <summary>The postgres sink's copy of a table in the target database, as text per source column (null when the table is missing).</summary>
public static class PostgresSinkReader
{
    public static async Task<List<string?[]>?> ReadAsync(NpgsqlConnection target, TruthTable table)
    {
        var existing = new HashSet<string>();
        await using (var cmd = new NpgsqlCommand(
            "SELECT attname FROM pg_attribute WHERE attrelid = to_regclass(@t) AND attnum > 0 AND NOT attisdropped", target))
        {
            cmd.Parameters.AddWithValue("t", "public." + DatabaseTruth.Quote(table.Name));
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync()) existing.Add(reader.GetString(0));
        }
        if (existing.Count == 0) return null;
        // A column the target lacks reads as a marker value, so the comparison names it.
        var select = table.Columns.Select(c => existing.Contains(c) ? DatabaseTruth.Text(c) : "'<no such column in the target>'");
        var rows = new List<string?[]>();
        await using (var cmd = new NpgsqlCommand($"SELECT {string.Join(", ", select)} FROM public.{DatabaseTruth.Quote(table.Name)}", target))
        {
            await using var reader = await cmd.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
                var row = new string?[table.Columns.Count];
                for (int i = 0; i < row.Length; i++) row[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
                rows.Add(row);
            }
        }
        return rows;
    }
}

/// <summary>
/// Replays the file sink's JSON lines into tables, as a consumer of the change log would: initial-load rows and inserts
/// set a key, updates merge their "after" into the row (a replayed update may leave unchanged columns out), an update
/// whose "before" names another key moves the row, deletes remove it, truncates clear the table. Rows of tables
/// without a key are a multiset: a delete or update takes out one row equal to its "before".
/// </summary>
public sealed class FileSinkReplay
{
    public Dictionary<string, Dictionary<string, Dictionary<string, JsonElement>>> Keyed { get; } = new();
    public Dictionary<string, List<Dictionary<string, JsonElement>>> Unkeyed { get; } = new();
    public int Events { get; private set; }
    public List<string> Problems { get; } = new();

    public static FileSinkReplay Read(string directory, string fileName, Func<string, IReadOnlyList<string>?> keyColumns)
    {
        var replay = new FileSinkReplay();
        var stem = Path.GetFileNameWithoutExtension(fileName);
        // Rotated files are name-<UTC time>.ext and sort by time; the current file comes last.
        var files = Directory.GetFiles(directory, stem + "-*").Order(StringComparer.Ordinal).Append(Path.Combine(directory, fileName)).Where(File.Exists);
        foreach (var file in files)
            foreach (var line in File.ReadLines(file))
                if (line.Length > 0) replay.Apply(JsonDocument.Parse(line).RootElement, keyColumns);
        return replay;
    }

    private void Apply(JsonElement e, Func<string, IReadOnlyList<string>?> keyColumns)
    {
        var op = e.GetProperty("op").GetString();
        if (op is "begin" or "commit") return;
        Events++;
        var table = e.GetProperty("table").GetString()!;
        var keys = keyColumns(table);
        var before = Row(e, "before");
        var after = Row(e, "after");
        if (keys is null) return; // no longer published: nothing to compare
        if (keys.Count == 0)
        {
            var rows = Unkeyed.TryGetValue(table, out var r) ? r : Unkeyed[table] = new();
            if (op == "t") { rows.Clear(); return; }
            if (op is "u" or "d")
            {
                int i = before is null ? -1 : rows.FindIndex(x => Same(x, before));
                if (i < 0) Problems.Add($"{table}: {op} of a row the log never had: {Describe(before)}");
                else rows.RemoveAt(i);
            }
            if (after is not null) rows.Add(after);
            return;
        }
        var tableRows = Keyed.TryGetValue(table, out var t) ? t : Keyed[table] = new();
        if (op == "t") { tableRows.Clear(); return; }
        var key = e.GetProperty("key").GetString()!;
        if (op == "d") { tableRows.Remove(key); return; }
        Dictionary<string, JsonElement>? previous = null;
        if (op == "u" && before is not null && KeyOf(before, keys) is { } oldKey && oldKey != key)
        {
            tableRows.Remove(oldKey, out previous);
        }
        if (previous is null) tableRows.TryGetValue(key, out previous);
        var row = op == "u" && previous is not null ? new Dictionary<string, JsonElement>(previous) : new Dictionary<string, JsonElement>();
        foreach (var (column, value) in after!) row[column] = value;
        tableRows[key] = row;
    }

    private static Dictionary<string, JsonElement>? Row(JsonElement e, string name) =>
        e.TryGetProperty(name, out var row) && row.ValueKind == JsonValueKind.Object
            ? row.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.Clone())
            : null;

    private static bool Same(Dictionary<string, JsonElement> a, Dictionary<string, JsonElement> b) =>
        a.Count == b.Count && a.All(p => b.TryGetValue(p.Key, out var v) && CanonicalJson.Of(v) == CanonicalJson.Of(p.Value));

    public static string? KeyOf(Dictionary<string, JsonElement> row, IReadOnlyList<string> keys)
    {
        var parts = new List<string>();
        foreach (var k in keys)
        {
            if (!row.TryGetValue(k, out var v)) return null;
            parts.Add(v.ValueKind == JsonValueKind.String ? v.GetString()! : v.GetRawText());
        }
        return DatabaseTruth.KeyText(parts);
    }

    private static string Describe(Dictionary<string, JsonElement>? row) =>
        row is null ? "(no before image)" : "{" + string.Join(", ", row.Select(p => $"{p.Key}: {CanonicalJson.Of(p.Value)}")) + "}";
}
