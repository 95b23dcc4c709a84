using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Schema;
using Pgrelay.Replication.Snapshot;
using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests.DirectCopy;

/// <summary>
/// Runs <see cref="SnapshotCopier"/> on its own: a snapshot exported by an ordinary transaction (held open meanwhile),
/// the publication introspected inside it, the copy into a <see cref="RecordingTarget"/>.
/// </summary>
internal static class CopyRun
{
    public static async Task<(RecordingTarget Target, SnapshotCopier Copier, SourceSchema Schema)> CopyAsync(
        string source, Action<ReplicationOptions>? configure = null, IReplicationTarget? target = null, ILogger? log = null,
        CancellationToken ct = default)
    {
        var options = new ReplicationOptions { Source = source, Publications = ["pub"], CopyParallelism = 2, CopyRangePages = 8 };
        configure?.Invoke(options);
        var sourceOptions = SourceOptions.Parse(source);
        await using var holder = new NpgsqlConnection(sourceOptions.ConnectionString("pgrelay-test"));
        await holder.OpenAsync(ct);
        await using (var begin = new NpgsqlCommand("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", holder))
            await begin.ExecuteNonQueryAsync(ct);
        await using var export = new NpgsqlCommand("SELECT pg_export_snapshot()", holder);
        var snapshot = (string)(await export.ExecuteScalarAsync(ct))!;
        await using var versionCommand = new NpgsqlCommand("SHOW server_version_num", holder);
        var version = int.Parse((string)(await versionCommand.ExecuteScalarAsync(ct))!);
        var schema = await new PublicationIntrospector(NullLogger.Instance).LoadAsync(holder, version, options.Publications.ToList(), ct);

        var recording = new RecordingTarget();
        target ??= recording;
        target.BeginSnapshot(schema.Publications);
        var copier = new SnapshotCopier(sourceOptions, options, target, new ReplicationStatus(), log ?? NullLogger.Instance);
        await copier.CopyAsync(snapshot, schema.Tables, ct);
        return (recording, copier, schema);
    }

    /// <summary>The copied table equals the table in the database, row for row and byte for byte.</summary>
    public static async Task MatchesDatabaseAsync(PostgresHarness pg, string database, RecordingTarget target, string table)
    {
        var (schema, copied) = target.Snapshot(table);
        var actual = await pg.ReadTableAsync(database, schema);
        Assert.Equal(actual.Count, copied.Count);
        foreach (var (key, values) in actual)
        {
            Assert.True(copied.TryGetValue(key, out var mine), $"{table}: row {key} missing from the copy");
            Assert.Equal(values, mine);
        }
    }

    /// <summary>
    /// Values that stress the COPY text format and the framing: NULLs, empty strings, every escape, multi-byte UTF-8, bytea,
    /// arrays and json, and TOASTed values bigger than a receive segment (so one CopyData message spans several reads).
    /// </summary>
    public const string TrickyTable = """
        CREATE TABLE tricky (id int PRIMARY KEY, t text, b bytea, a text[], j jsonb, n numeric, ts timestamptz, f float8);
        INSERT INTO tricky
        SELECT g,
               CASE g % 7 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN E'tab\there\nnewline\\back\rcr\bbs\fff\vvt'
                          WHEN 3 THEN 'ü€😀 ' || g WHEN 4 THEN CASE WHEN g % 70 = 4 THEN repeat('x', 200000 + g) ELSE 'four ' || g END ELSE 'plain ' || g END,
               CASE WHEN g % 5 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
               ARRAY['a', 'b c', NULL, E'q"uo\\te'],
               jsonb_build_object('n', g, 's', E'line\nbreak'),
               g / 7.0,
               '2024-01-01'::timestamptz + g * interval '1 minute',
               CASE WHEN g % 11 = 0 THEN 'NaN'::float8 ELSE g / 3.0 END
        FROM generate_series(1, 3000) g;
        UPDATE tricky SET t = repeat('y', 2500000) WHERE id = 10;
        ANALYZE tricky;
        CREATE PUBLICATION pub FOR TABLE tricky;
        """;
}
