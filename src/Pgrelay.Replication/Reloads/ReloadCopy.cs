using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Replication.Connection;
using Pgrelay.Replication.Schema;
using Pgrelay.Replication.Snapshot;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// One round of loads beside the stream (<see cref="TableReloads"/>, step 2): a temporary slot exports a snapshot at its
/// consistent point, the tables are introspected and copied inside it into the target's shadows, and one marker is written
/// for all of them. The temporary slot goes with its connection once the copy is done (the snapshot lives only while that
/// connection stays idle).
/// </summary>
internal sealed class ReloadCopy(SourceOptions source, ReplicationOptions options, IReplicationTarget target, ILogger log, TableReloads owner)
{
    public async Task RunAsync(IReadOnlyList<(uint RelationId, TableReloadStatus Status)> tables, NpgsqlConnection markers, CancellationToken ct)
    {
        await using var replication = new LogicalReplicationConnection(source.ReplicationConnectionString("pgrelay-reload"));
        await replication.Open(ct).ConfigureAwait(false);
        foreach (var (_, status) in tables) status.Phase = "waiting for a snapshot (transactions running now must end first)";
        var name = $"pgrelay_tmp_{Environment.ProcessId}_{Random.Shared.Next(1_000_000)}";
        var slot = await replication.CreatePgOutputReplicationSlot(name, temporarySlot: true,
            slotSnapshotInitMode: LogicalSlotSnapshotInitMode.Export, cancellationToken: ct).ConfigureAwait(false);
        var consistentPoint = new Lsn((ulong)slot.ConsistentPoint);
        var snapshot = slot.SnapshotName ?? throw new InvalidOperationException("the server exported no snapshot");

        var ids = tables.Select(t => t.RelationId).ToHashSet();
        var (schema, membership) = await IntrospectAsync(snapshot, ids, ct).ConfigureAwait(false);
        var loads = new Dictionary<uint, (ITableLoad Load, TableReloadStatus Status, PublishedRelation Membership)>();
        var copies = new List<PublishedTable>();
        foreach (var (id, status) in tables)
        {
            if (!membership.TryGetValue(id, out var relation))
            {
                owner.Attach(id, null);   // not published in the snapshot: nothing to load (a removal follows if it was held)
                continue;
            }
            var table = schema.Tables.FirstOrDefault(t => t.Schema.RelationId == id);
            if (table is null)
            {
                owner.Unloadable(relation);   // introspection said why (no key): logged there
                continue;
            }
            status.Phase = "copying";
            loads[id] = (target.BeginTableLoad(table.Schema, relation.Publications), status, relation);
            copies.Add(table);
        }
        if (copies.Count == 0) return;
        log.LogInformation("copying {Tables} in snapshot {Snapshot} at {ConsistentPoint}, beside the stream",
            string.Join(", ", copies.Select(c => c.Schema)), snapshot, consistentPoint);

        var sink = new LoadSink(loads);
        await new SnapshotCopier(source, options, sink, status: null, log).CopyAsync(snapshot, copies, ct).ConfigureAwait(false);

        var marker = owner.NextMarker();
        foreach (var (id, (load, _, relation)) in loads) owner.Attach(id, new TableReloads.Attempt(marker, consistentPoint, load, relation));
        await ReloadMarker.EmitAsync(markers, marker, ct).ConfigureAwait(false);
    }

    private async Task<(SourceSchema, Dictionary<uint, PublishedRelation>)> IntrospectAsync(string snapshot, HashSet<uint> ids, CancellationToken ct)
    {
        await using var conn = await Preflight.OpenAsync(source, ct).ConfigureAwait(false);
        await using (var begin = new NpgsqlCommand(
            $"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot.Replace("'", "''")}'", conn))
            await begin.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        int version = conn.PostgreSqlVersion.Major * 10000;
        var publications = options.Publications.ToList();
        var schema = await new PublicationIntrospector(log).LoadAsync(conn, version, publications, ct, only: ids).ConfigureAwait(false);
        var membership = await PublicationMembership.ReadAsync(conn, version, publications, ct, ids).ConfigureAwait(false);
        await using (var commit = new NpgsqlCommand("COMMIT", conn))
            await commit.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        return (schema, membership);
    }

    /// <summary>Routes copied rows to each table's load and counts them for /status.</summary>
    private sealed class LoadSink(Dictionary<uint, (ITableLoad Load, TableReloadStatus Status, PublishedRelation Membership)> loads) : ISnapshotRowSink
    {
        public void LoadSnapshotRows(TableSchema table, IReadOnlyList<byte[]> rows)
        {
            var (load, status, _) = loads[table.RelationId];
            load.LoadSnapshotRows(table, rows);
            status.CountRows(rows.Count);
        }

        public void ExpectSnapshotRows(TableSchema table, long estimate) => loads[table.RelationId].Load.ExpectSnapshotRows(table, estimate);
    }
}
