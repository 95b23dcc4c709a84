using System.Text.Json;
using Pgrelay.Store;
using Pgrelay.Testing;

namespace Pgrelay.Http.Tests;

/// <summary>
/// Edge values of every built-in type, copied in the snapshot and streamed, read over HTTP and compared with what
/// PostgreSQL's own <c>to_jsonb(row)</c> makes of the same row, on every PostgreSQL version. The one documented
/// difference, bytea as base64 (PostgreSQL writes its hex text), is applied to the database's side. Values compare as
/// JSON: strings byte for byte, numbers by value (jsonb keeps numbers as numeric), objects by key.
/// </summary>
public abstract class JsonFidelityTests(PostgresFixture pg)
{
    public sealed class PG14(Postgres14Fixture pg) : JsonFidelityTests(pg), IClassFixture<Postgres14Fixture>;
    public sealed class PG15(PostgresFixture pg) : JsonFidelityTests(pg), IClassFixture<PostgresFixture>;
    public sealed class PG16(Postgres16Fixture pg) : JsonFidelityTests(pg), IClassFixture<Postgres16Fixture>;
    public sealed class PG17(Postgres17Fixture pg) : JsonFidelityTests(pg), IClassFixture<Postgres17Fixture>;
    public sealed class PG18(Postgres18Fixture pg) : JsonFidelityTests(pg), IClassFixture<Postgres18Fixture>;

    /// <summary>Column name, type, and its values as SQL literals (row i takes value i, NULL past the end).</summary>
    private IEnumerable<(string Name, string Type, string[] Values)> Columns()
    {
        yield return ("d", "date", ["'0044-03-15 BC'", "'infinity'", "'-infinity'", "'2024-02-29'", "'4714-11-24 BC'", "'5874897-12-31'", "'0001-01-01'"]);
        yield return ("ts", "timestamp", ["'0044-03-15 12:00:00 BC'", "'infinity'", "'-infinity'", "'2024-01-31 12:00:00.123456'",
            "'294276-12-31 23:59:59.999999'", "'4713-01-01 00:00:00 BC'", "'2024-01-31 00:00:00.5'", "'4000-01-01 00:00:00 BC'"]);
        yield return ("tstz", "timestamptz", ["'0044-03-15 12:00:00+00 BC'", "'infinity'", "'-infinity'", "'2024-01-31 12:00:00.5+05:30'",
            "'12345-06-07 08:09:10+00'", "'0001-01-01 00:00:00+00'", "'1900-01-01 00:00:00.000001+00'", "'0001-12-31 23:00:00-02 BC'"]);
        yield return ("t", "time", ["'24:00:00'", "'00:00:00.000001'", "'12:34:56.5'"]);
        yield return ("ttz", "timetz", ["'12:00:00+02'", "'12:00:00-05:30'", "'00:00:00.25+14'", "'12:00:00+05:30:15'"]);
        yield return ("iv", "interval", pg.Version >= 17
            ? ["'1 year 2 mons -3 days 04:05:06.789'", "'-178000000 years'", "'0'", "'infinity'", "'-infinity'"]
            : ["'1 year 2 mons -3 days 04:05:06.789'", "'-178000000 years'", "'0'"]);
        yield return ("n", "numeric", ["'NaN'", "'Infinity'", "'-Infinity'", "'0.000000000000000000001'", "'-12345678901234567890.5'", "'1.50'", "'0'"]);
        yield return ("f8", "float8", ["'Infinity'", "'-Infinity'", "'NaN'", "'-0'", "'1e+300'", "'4.9e-324'", "'0.1'"]);
        yield return ("f4", "real", ["'NaN'", "'3.4028235e+38'", "'-Infinity'", "'1.1'"]);
        yield return ("i8", "int8", ["'-9223372036854775808'", "9223372036854775807"]);
        yield return ("m", "money", ["'1234.56'", "'-0.01'"]);
        yield return ("o", "oid", ["4294967295", "0"]);
        yield return ("b", "bit(4)", ["B'1010'"]);
        yield return ("vb", "varbit", ["B''", "B'1'"]);
        yield return ("by", "bytea", ["'\\x'", "'\\x00ff'", "'\\xdeadbeef01'"]);
        yield return ("bo", "bool", ["true", "false"]);
        yield return ("tx", "text", ["E'tab\\t \"q\" \\\\ \\u0001 é 😀 /'", "''", "'NULL'"]);
        yield return ("ch", "\"char\"", ["'x'"]);
        yield return ("bp", "char(3)", ["'a'"]);
        yield return ("j", "jsonb", ["'{\"a\": [1, 2.50, 1e3], \"b\": {\"c\": null}}'", "'\"s\"'", "'null'", "'-0.0'"]);
        yield return ("js", "json", ["'[1, 2.50, 1e3, {\"k\": \"v\"}]'", "'\"\\u00e9\"'"]);
        yield return ("u", "uuid", ["'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"]);
        yield return ("ip", "inet", ["'192.168.0.1/24'", "'::1'"]);
        yield return ("mac", "macaddr", ["'08:00:2b:01:02:03'"]);
        yield return ("r", "int4range", ["'[1,5)'", "'empty'"]);
        yield return ("pt", "point", ["'(1.5,-2)'"]);
        yield return ("ad", "date[]", ["'{\"0044-03-15 BC\",infinity,2024-01-31}'", "'{}'"]);
        yield return ("ats", "timestamp[]", ["'{\"0044-03-15 12:00:00 BC\",-infinity,\"2024-01-31 12:00:00.5\"}'"]);
        yield return ("atstz", "timestamptz[]", ["'{\"0044-03-15 12:00:00+00 BC\",infinity,\"2024-01-31 12:00:00+00\"}'",
            "'{{\"12345-06-07 08:09:10+00\"},{NULL}}'"]);
        yield return ("at", "time[]", ["'{24:00:00,12:00:00.5}'"]);
        yield return ("attz", "timetz[]", ["'{12:00:00+02,\"12:00:00-05:30\"}'"]);
        yield return ("aiv", "interval[]", ["'{\"1 day\",\"-2 hours\"}'"]);
        yield return ("an", "numeric[]", ["'{NaN,Infinity,-Infinity,1.50}'"]);
        yield return ("af8", "float8[]", ["'{NaN,-Infinity,-0,1e+300}'"]);
        yield return ("af4", "real[]", ["'{NaN,1.1}'"]);
        yield return ("am", "money[]", ["'{1.5,-2}'"]);
        yield return ("abit", "bit(2)[]", ["'{10,01}'"]);
        yield return ("avb", "varbit[]", ["'{\"\",1}'"]);
        yield return ("aby", "bytea[]", ["'{\"\\\\x00ff\",NULL,\"\\\\x\"}'"]);
        yield return ("abo", "bool[]", ["'{t,f,NULL}'"]);
        yield return ("atx", "text[]", ["'{\"a,b\",\"c\\\"d\",\"NULL\",NULL,\"\"}'"]);
        yield return ("ach", "\"char\"[]", ["'{a,b}'"]);
        yield return ("ajb", "jsonb[]", ["ARRAY['{\"a\":1}'::jsonb, 'null', '[1.50]']"]);
        yield return ("aip", "inet[]", ["'{10.0.0.1,::1}'"]);
        yield return ("amac", "macaddr[]", ["'{08:00:2b:01:02:03}'"]);
        yield return ("ao", "oid[]", ["'{1,4294967295}'"]);
        yield return ("au", "uuid[]", ["'{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}'"]);
        yield return ("ar", "int4range[]", ["'{\"[1,5)\",empty}'"]);
        // Geometric arrays: box's elements are separated by ';' (its typdelim), the others' by ','.
        yield return ("abox", "box[]", ["'{(1,1),(0,0);(3,4),(2,2)}'", "'{}'", "ARRAY[NULL::box, '(1,2),(0,0)']"]);
        yield return ("apt", "point[]", ["'{\"(1,2)\",\"(-0.5,3)\"}'"]);
        yield return ("apg", "polygon[]", ["ARRAY['((0,0),(1,1),(1,0))'::polygon]"]);
        // User-defined types (see UserTypes): domains render as their base type, enums and ranges as strings, arrays of
        // them as arrays.
        yield return ("dint", "pos_int", ["42", "'7'"]);
        yield return ("dnum", "money_amount", ["'12.50'", "'NaN'"]);
        yield return ("djs", "doc", ["'{\"a\": [1, 2.50]}'"]);
        yield return ("dtx", "short_text", ["'abc'"]);
        yield return ("dts", "stamp", ["'0044-03-15 12:00:00+00 BC'", "'2024-01-31 12:00:00.5+05:30'"]);
        yield return ("dby", "blob", ["'\\x00ff'"]);
        yield return ("ddd", "pos_int2", ["5"]);
        yield return ("en", "mood", ["'happy'", "'so, \"so\"'"]);
        yield return ("fr", "floatrange", ["'[1.5,2.5)'", "'empty'"]);
        yield return ("adint", "pos_int[]", ["'{1,2,NULL}'"]);
        yield return ("ints", "int_list", ["'{1,2,3}'"]);
        yield return ("ae", "mood[]", ["'{happy,\"so, \\\"so\\\"\"}'"]);
        yield return ("afr", "floatrange[]", ["'{\"[1.5,2.5)\",empty}'"]);
        yield return ("ajs", "doc[]", ["ARRAY['{\"k\": 1}'::doc]"]);
    }

    /// <summary>The user-defined types the columns above use.</summary>
    private const string UserTypes = """
        CREATE DOMAIN pos_int AS int CHECK (VALUE > 0);
        CREATE DOMAIN pos_int2 AS pos_int;
        CREATE DOMAIN money_amount AS numeric;
        CREATE DOMAIN doc AS jsonb;
        CREATE DOMAIN short_text AS varchar(10);
        CREATE DOMAIN stamp AS timestamptz;
        CREATE DOMAIN blob AS bytea;
        CREATE DOMAIN int_list AS int[];
        CREATE TYPE mood AS ENUM ('happy', 'so, "so"');
        CREATE TYPE floatrange AS RANGE (subtype = float8);
        """;

    [Fact]
    public async Task Every_type_renders_as_postgres_to_jsonb_in_the_snapshot_and_in_the_stream()
    {
        var db = await pg.NewDatabaseAsync("json");
        var columns = Columns().ToList();
        int rows = columns.Max(c => c.Values.Length);
        string Row(int id, int i) =>
            $"({id}, {string.Join(", ", columns.Select(c => i < c.Values.Length ? $"{c.Values[i]}::{c.Type}" : "NULL"))})";
        await pg.ExecuteAsync(db, UserTypes);
        await pg.ExecuteAsync(db, $"""
            CREATE TABLE edges (id int PRIMARY KEY, {string.Join(", ", columns.Select(c => $"{c.Name} {c.Type}"))});
            INSERT INTO edges VALUES {string.Join(", ", Enumerable.Range(0, rows).Select(i => Row(i, i)))};
            CREATE PUBLICATION pub FOR TABLE edges;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        // The same values again, through pgoutput.
        await pg.ExecuteAsync(db, $"INSERT INTO edges VALUES {string.Join(", ", Enumerable.Range(0, rows).Select(i => Row(100 + i, i)))};");
        await run.SyncAsync();
        await using var server = await RelayServer.StartAsync(store, run.Status);

        // bytea as pgrelay documents it: unbroken base64, element by element in arrays.
        var projection = string.Join(", ", columns.Select(c => c.Type switch
        {
            "bytea" or "blob" => $"translate(encode({c.Name}, 'base64'), E'\\n', '') AS {c.Name}",
            "bytea[]" => $"CASE WHEN {c.Name} IS NULL THEN NULL ELSE ARRAY(SELECT translate(encode(x, 'base64'), E'\\n', '') " +
                         $"FROM unnest({c.Name}) WITH ORDINALITY u(x, o) ORDER BY o) END AS {c.Name}",
            _ => c.Name,
        }));
        var expected = new Dictionary<int, string>();
        await using (var conn = await pg.OpenAsync(db))
        await using (var cmd = new Npgsql.NpgsqlCommand($"SELECT id, to_jsonb(e)::text FROM (SELECT id, {projection} FROM edges) e", conn))
        await using (var reader = await cmd.ExecuteReaderAsync())
            while (await reader.ReadAsync()) expected[reader.GetInt32(0)] = reader.GetString(1);
        Assert.Equal(2 * rows, expected.Count);

        var differences = new List<string>();
        foreach (var (id, truth) in expected.OrderBy(e => e.Key))
        {
            var served = await server.Client.GetStringAsync($"/pub/edges/{id}");
            using var want = JsonDocument.Parse(truth);
            using var got = JsonDocument.Parse(served);
            foreach (var column in want.RootElement.EnumerateObject())
            {
                if (!got.RootElement.TryGetProperty(column.Name, out var value))
                    differences.Add($"row {id} {column.Name}: missing");
                else if (!JsonElement.DeepEquals(column.Value, value))
                    differences.Add($"row {id} {column.Name}: PostgreSQL {column.Value.GetRawText()}, pgrelay {value.GetRawText()}");
            }
        }
        Assert.True(differences.Count == 0, $"PostgreSQL {pg.Version}: {differences.Count} values differ\n{string.Join("\n", differences)}");
    }
}
