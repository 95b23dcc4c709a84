using System.Text.Json;
using System.Text.Json.Nodes;
using Pgrelay.Store;
using Pgrelay.Testing;

namespace Pgrelay.Http.Tests;

/// <summary>
/// Composite values (nested, with NULL fields, fields of every kind, quoted parts, domains over composites, arrays of
/// composites with NULL elements, a NULL composite) read over HTTP equal PostgreSQL's own <c>to_jsonb</c> on every
/// PostgreSQL version, copied and streamed, and follow ALTER TYPE … ADD/RENAME/DROP ATTRIBUTE, which the stream does not
/// announce. bytea, documented as base64, is turned into base64 on the database's side of the comparison: every field
/// whose name starts with "bin" holds bytea (or bytea[]).
/// </summary>
public abstract class CompositeJsonTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : CompositeJsonTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : CompositeJsonTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : CompositeJsonTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : CompositeJsonTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : CompositeJsonTests(pg), IClassFixture<Postgres18Fixture>;

    private const string Types = """"
        CREATE DOMAIN doc AS jsonb;
        CREATE TYPE mood AS ENUM ('happy', 'so, "so"');
        CREATE TYPE inner_t AS (n numeric, label text, flag boolean);
        CREATE TYPE outer_t AS (i int, "in" inner_t, tags text[], at timestamptz, data jsonb, bin bytea, f float8,
                                items inner_t[], d doc, m mood, "odd, ""name""" text);
        CREATE DOMAIN outer_d AS outer_t;
        CREATE TYPE holder AS (o outer_d, bins bytea[], r int4range, moods mood[]);
        """";

    /// <summary>Column name, type, and values as SQL (row i takes value i, NULL past the end).</summary>
    private static readonly (string Name, string Type, string[] Values)[] Columns =
    [
        ("c", "inner_t", ["ROW(1.50, 'a \"quoted\", (paren) \\ back', true)", "ROW(NULL, NULL, NULL)", "ROW('NaN', '', false)",
            "ROW(-0.0001, E'tab\\there\\nnew line', NULL)", "ROW(1e30, 'NULL', true)", "ROW(0, E'\\\\\"\\\\', false)",
            "ROW(42, '(1,2)', true)", "ROW(7, E'ünï ✓ \\u0001', NULL)", "ROW(3, ' ', false)", "ROW(3, '\"', false)", "NULL"]),
        ("o", "outer_t", [
            "ROW(1, ROW(2.5, 'x,y', false), ARRAY['a', NULL, 'b c', '\"q\"', 'NULL', ''], '2024-01-31 12:00:00.5+05:30', " +
            "'{\"k\": [1, \"two\", null], \"e\": \"é\\\\\"}', '\\x00ff', 'Infinity', ARRAY[ROW(1, 'a', true)::inner_t, NULL, ROW(NULL, NULL, NULL)::inner_t], " +
            "'{\"d\": 1}', 'so, \"so\"', 'v')",
            "ROW(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)",
            "ROW(-2147483648, ROW(NULL, ')', NULL), '{}', '0044-03-15 12:00:00+00 BC', 'null', '\\x', 'NaN', '{}', '[]', 'happy', '')",
            "ROW(0, NULL, ARRAY['{x}', '\\\\'], 'infinity', '\"s\"', '\\xdeadbeef', -0.5, ARRAY[NULL]::inner_t[], '\"str\"', NULL, ',')"]),
        ("od", "outer_d", ["ROW(5, ROW(1, 'dom', true), NULL, NULL, '{}', NULL, 1.5, NULL, NULL, 'happy', '()')", "NULL"]),
        ("oa", "outer_t[]", ["ARRAY[ROW(1, ROW(2, 'a,b', true), ARRAY['x'], NULL, '[1]', '\\x01', 2, NULL, NULL, NULL, 'z')::outer_t, NULL]",
            "ARRAY[]::outer_t[]", "ARRAY[NULL]::outer_t[]"]),
        ("ia", "inner_t[]", ["ARRAY[ROW(1, 'a', true), NULL, ROW(NULL, NULL, NULL), ROW(2, '\"}{', false), ROW(3, 'NULL', NULL)]::inner_t[]"]),
        ("h", "holder", ["ROW(ROW(1, ROW(1, 'deep \"q\" \\\\', true), ARRAY['(a,b)'], NULL, '{\"x\": \"(y)\"}', '\\x41', 1, NULL, NULL, NULL, 'n'), " +
            "ARRAY['\\x00'::bytea, NULL, '\\x'::bytea], '[1,5)', ARRAY['happy', 'so, \"so\"']::mood[])", "ROW(NULL, NULL, 'empty', NULL)"]),
    ];

    [Fact]
    public async Task Composites_render_as_postgres_to_jsonb_in_the_snapshot_and_in_the_stream()
    {
        var db = await pg.NewDatabaseAsync("composite");
        int rows = Columns.Max(c => c.Values.Length);
        string Row(int id, int i) =>
            $"({id}, {string.Join(", ", Columns.Select(c => i < c.Values.Length ? $"{c.Values[i]}::{c.Type}" : "NULL"))})";
        await pg.ExecuteAsync(db, Types);
        await pg.ExecuteAsync(db, $"""
            CREATE TABLE comps (id int PRIMARY KEY, {string.Join(", ", Columns.Select(c => $"{c.Name} {c.Type}"))});
            INSERT INTO comps VALUES {string.Join(", ", Enumerable.Range(0, rows).Select(i => Row(i, i)))};
            CREATE PUBLICATION pub FOR TABLE comps;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await pg.ExecuteAsync(db, $"INSERT INTO comps VALUES {string.Join(", ", Enumerable.Range(0, rows).Select(i => Row(100 + i, i)))};");
        await run.SyncAsync();
        await using var server = await RelayServer.StartAsync(store, run.Status);

        var differences = await DifferencesAsync(db, server);
        Assert.True(differences.Count == 0, $"PostgreSQL {pg.Version}: {differences.Count} values differ\n{string.Join("\n", differences)}");
    }

    [Fact]
    public async Task A_composite_altered_at_run_time_renders_with_its_new_fields()
    {
        var db = await pg.NewDatabaseAsync("alter_type");
        await pg.ExecuteAsync(db, """
            CREATE TYPE pt AS (x int, y text, z numeric);
            CREATE TYPE wrap AS (p pt, tag text);
            CREATE TABLE shapes (id int PRIMARY KEY, p pt, ps pt[], w wrap);
            INSERT INTO shapes VALUES (1, ROW(1, 'a', 1.5), ARRAY[ROW(2, 'b', NULL)::pt], ROW(ROW(3, 'c', 3), 't'));
            CREATE PUBLICATION pub FOR TABLE shapes;
            """);
        var store = new ReplicatedStore();
        var log = new ListLoggerFactory();
        await using var run = ReplicationRun.Start(pg, db, store, o => o.PublicationPollInterval = TimeSpan.FromMilliseconds(200), log);
        await run.WaitForStreamingAsync();
        await using var server = await RelayServer.StartAsync(store, run.Status);
        await ConvergeAsync(db, server, run, log, "before any change");

        // Each step changes the type only (no Relation message for the table follows), then the table, in another transaction.
        string[] steps =
        [
            "ALTER TYPE pt ADD ATTRIBUTE w jsonb",
            "ALTER TYPE pt RENAME ATTRIBUTE y TO label",
            "ALTER TYPE pt DROP ATTRIBUTE x",
            "ALTER TYPE pt DROP ATTRIBUTE z, ADD ATTRIBUTE bin bytea",
            "ALTER TYPE wrap RENAME ATTRIBUTE tag TO \"t a g\"",
        ];
        for (int i = 0; i < steps.Length; i++)
        {
            await pg.ExecuteAsync(db, steps[i]);
            await pg.ExecuteAsync(db, $"""
                INSERT INTO shapes (id, p, ps, w) SELECT {10 + i}, p, ps, w FROM shapes WHERE id = 1;
                UPDATE shapes SET ps = ps || p WHERE id = 1;
                """);
            await ConvergeAsync(db, server, run, log, steps[i]);
        }
    }

    /// <summary>Waits (bounded) until every row is served as PostgreSQL renders it now: a type change is noticed by looking
    /// at the catalog, so the first look after the change may still see the old fields.</summary>
    private async Task ConvergeAsync(string db, RelayServer server, ReplicationRun run, ListLoggerFactory log, string after)
    {
        var deadline = DateTime.UtcNow + ReplicationRun.DefaultTimeout;
        while (true)
        {
            await run.SettleAsync();
            var differences = await DifferencesAsync(db, server, "shapes");
            if (differences.Count == 0) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"PostgreSQL {pg.Version}, after {after}: {differences.Count} values differ\n{string.Join("\n", differences)}\n" +
                            $"log:\n{string.Join("\n", log.Lines.TakeLast(40))}");
            await Task.Delay(100);
        }
    }

    private async Task<List<string>> DifferencesAsync(string db, RelayServer server, string table = "comps")
    {
        var expected = new Dictionary<int, string>();
        await using (var conn = await pg.OpenAsync(db))
        await using (var cmd = new Npgsql.NpgsqlCommand($"SELECT id, to_jsonb(e)::text FROM {table} e ORDER BY id", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) expected[reader.GetInt32(0)] = reader.GetString(1);
        Assert.NotEmpty(expected);

        var differences = new List<string>();
        foreach (var (id, truth) in expected)
        {
            var want = JsonNode.Parse(truth)!.AsObject();
            ByteaAsBase64(want, inBytea: false);
            var response = await server.Client.GetAsync($"/pub/{table}/{id}");
            if (!response.IsSuccessStatusCode)
            {
                differences.Add($"row {id}: HTTP {(int)response.StatusCode}");
                continue;
            }
            using var got = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            using var wantDocument = JsonDocument.Parse(want.ToJsonString());
            foreach (var column in wantDocument.RootElement.EnumerateObject())
            {
                if (!got.RootElement.TryGetProperty(column.Name, out var value))
                    differences.Add($"row {id} {column.Name}: missing");
                else if (!JsonElement.DeepEquals(column.Value, value))
                    differences.Add($"row {id} {column.Name}: PostgreSQL {column.Value.GetRawText()}, pgrelay {value.GetRawText()}");
            }
        }
        return differences;
    }

    /// <summary>PostgreSQL's "\x00ff" of a bytea field as the base64 pgrelay documents.</summary>
    private static void ByteaAsBase64(JsonNode? node, bool inBytea)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (name, value) in o.ToList())
                {
                    if (value is JsonValue v && name.StartsWith("bin", StringComparison.Ordinal) && v.TryGetValue<string>(out var hex))
                        o[name] = Base64Of(hex);
                    else ByteaAsBase64(value, name.StartsWith("bin", StringComparison.Ordinal));
                }
                break;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++)
                    if (inBytea && a[i] is JsonValue v && v.TryGetValue<string>(out var hex)) a[i] = Base64Of(hex);
                    else ByteaAsBase64(a[i], false);
                break;
        }
    }

    private static string Base64Of(string hex) => Convert.ToBase64String(Convert.FromHexString(hex[2..]));
}
