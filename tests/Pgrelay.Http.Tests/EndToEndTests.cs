using System.Net;
using Pgrelay.Store;
using Pgrelay.Testing;

namespace Pgrelay.Http.Tests;

/// <summary>Real PostgreSQL 15 -> real replication -> the store -> HTTP: the JSON a client sees for every common type.</summary>
public sealed class EndToEndTests(PostgresFixture pg) : IClassFixture<PostgresFixture>
{
    private const string Values = """
        -2, 9007199254740993, 1.5, 'NaN', 12345678901234567890.000000000000000001, true, E'say "hi"\n', 'ab', 'v',
        '{"b": null, "a": [1, 2]}', '{"x":  1}', '\x0a0b', '2024-01-31', '12:34:56', '12:00:00+02', '2024-01-31 12:00:00.123',
        '2024-01-31 12:00:00+05:30', 'infinity', '1 day 2 hours', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{1,NULL,3}', '{a,"b c",NULL}',
        '{"2024-01-31 12:00:00+00"}', '{"{\"k\": 1}"}', NULL
        """;

    private const string ExpectedAfterId = """
        "small":-2,"big":9007199254740993,"real":1.5,"dbl":"NaN","money":12345678901234567890.000000000000000001,"flag":true,"name":"say \"hi\"\n","code":"ab  ","vc":"v","doc":{"a": [1, 2], "b": null},"js":{"x":  1},"raw":"Cgs=","day":"2024-01-31","at":"12:34:56","at_tz":"12:00:00+02","stamp":"2024-01-31T12:00:00.123","stamp_tz":"2024-01-31T06:30:00+00:00","forever":"infinity","span":"1 day 02:00:00","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","ints":[1,null,3],"words":["a","b c",null],"stamps":["2024-01-31T12:00:00+00:00"],"docs":[{"k": 1}],"nothing":null
        """;

    [Fact]
    public async Task Snapshot_and_streamed_rows_of_every_common_type_render_as_expected_json()
    {
        var db = await pg.NewDatabaseAsync("http");
        await pg.ExecuteAsync(db, $"""
            CREATE TABLE everything (id int PRIMARY KEY, small int2, big int8, real float4, dbl float8, money numeric, flag bool,
              name text, code char(4), vc varchar(10), doc jsonb, js json, raw bytea, day date, at time, at_tz timetz, stamp timestamp,
              stamp_tz timestamptz, forever timestamptz, span interval, uid uuid, ints int[], words text[], stamps timestamptz[],
              docs jsonb[], nothing text);
            CREATE SCHEMA geo;
            CREATE TABLE geo.cities (name text, state text, population int, PRIMARY KEY (name, state));
            INSERT INTO everything VALUES (1, {Values});
            INSERT INTO geo.cities VALUES ('New York', 'NY', 8336817);
            CREATE PUBLICATION pub FOR TABLE everything, geo.cities;
            """);
        var store = new ReplicatedStore();
        await using var run = ReplicationRun.Start(pg, db, store);
        await run.WaitForStreamingAsync();
        await using var server = await RelayServer.StartAsync(store, run.Status);

        Assert.Equal("{\"id\":1," + ExpectedAfterId + "}", await server.Client.GetStringAsync("/pub/everything/1"));
        Assert.Equal("""{"name":"New York","state":"NY","population":8336817}""",
            await server.Client.GetStringAsync("/pub/geo.cities/New%20York/NY"));
        var before = (await server.Client.GetAsync("/pub/geo.cities/New%20York/NY")).Headers.ETag!.Tag;

        // The same values through pgoutput streaming render the same way.
        await pg.ExecuteAsync(db, $"""
            INSERT INTO everything VALUES (2, {Values});
            UPDATE geo.cities SET population = population + 1;
            """);
        await run.SyncAsync();
        Assert.Equal("{\"id\":2," + ExpectedAfterId + "}", await server.Client.GetStringAsync("/pub/everything/2"));
        var after = await server.Client.GetAsync("/pub/geo.cities/New%20York/NY");
        Assert.Equal("""{"name":"New York","state":"NY","population":8336818}""", await after.Content.ReadAsStringAsync());
        Assert.NotEqual(before, after.Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/readyz")).StatusCode);
    }
}
