using Microsoft.Extensions.Logging;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Hosting;
using Pgrelay.Store;
using Pgrelay.Testing;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// One logical-replication cluster per test class; sources and targets are databases in it. PostgreSQL 15 unless a
/// derived fixture asks for another version: a suite runs on every version through one nested class per version
/// (<c>PostgresSinkTests+PG17</c>).
/// </summary>
public class PostgresFixture : PostgresHarness, IAsyncLifetime
{
    public PostgresFixture() { }
    protected PostgresFixture(int version) : base(version) { }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Rows of a table as their text form in key order: equal lists mean equal tables.</summary>
    public async Task<List<string>> RowsAsync(string database, string table, string orderBy)
    {
        var rows = new List<string>();
        await using var conn = await OpenAsync(database);
        await using var cmd = new Npgsql.NpgsqlCommand($"SELECT t::text FROM {table} t ORDER BY {orderBy}", conn);
        await using var reader = await cmd.ExecuteReaderAsync();
        while (await reader.ReadAsync()) rows.Add(reader.GetString(0));
        return rows;
    }
}

public sealed class Postgres14Fixture() : PostgresFixture(14);
public sealed class Postgres16Fixture() : PostgresFixture(16);
public sealed class Postgres17Fixture() : PostgresFixture(17);
public sealed class Postgres18Fixture() : PostgresFixture(18);

/// <summary>
/// pgrelay's sink path in-process: replication into a store and the sinks reading its feed, like the host wires them
/// (resume plan from the checkpoint files, replay of what the kept slot holds below the snapshot).
/// </summary>
internal sealed class SinkRig : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private static int _markers;
    private PostgresHarness _harness = null!;

    private SinkRig(ReplicatedStore store, ReplicationRun replication, SinkSupervisor sinks)
    {
        Store = store;
        Replication = replication;
        Sinks = sinks;
        Running = sinks.RunAsync(_stop.Token);
    }

    public ReplicatedStore Store { get; }
    public ReplicationRun Replication { get; }
    public SinkSupervisor Sinks { get; }
    public Task Running { get; }
    public ListLoggerFactory Log { get; private init; } = new();

    public static SinkRig Start(PostgresHarness harness, string database, SinkSettings settings, ILoggerFactory? loggers = null,
        Action<Replication.ReplicationOptions>? configure = null)
    {
        settings.RetryInitialDelay = TimeSpan.FromMilliseconds(50);
        settings.RetryMaxDelay = TimeSpan.FromMilliseconds(500);
        var store = new ReplicatedStore();
        var plan = SinkResumePlan.For(settings);
        var log = new ListLoggerFactory();
        loggers ??= log;
        // The sinks (and their durable consumers) exist before replication can confirm anything.
        ReplicationRun? replication = null;
        var sinks = new SinkSupervisor(settings, store, loggers, () => replication?.Status.ConfirmedLsn ?? Core.Model.Lsn.Zero,
            idleLsn: () => replication?.Status.IdleLsn ?? Core.Model.Lsn.Zero);
        replication = ReplicationRun.Start(harness, database, store, o =>
        {
            o.KeepSlot = plan.KeepSlot;
            o.ResumeFrom = plan.ResumeFrom;
            o.DropSlotOnStop = plan.DropSlotOnStop;
            o.StateDirectory = settings.StateDirectory;   // as the host does: the instance finds its own slot again
            configure?.Invoke(o);
        }, loggers);
        return new SinkRig(store, replication, sinks) { Log = log, _harness = harness };
    }

    /// <summary>
    /// Waits until everything committed so far in the source is checkpointed by every sink. The marker is a real change
    /// (a logical message is not enough after a restart: the snapshot may already be past it while the kept slot's older
    /// transactions are still being replayed into the feed); once it is applied, every transaction before it is in the
    /// feed, and each sink must have the feed's last one. Needs a published table <c>sync_marker(id int primary key)</c>.
    /// </summary>
    public async Task SyncAsync()
    {
        await SyncOnceAsync();
        // DDL that moves columns reloads the table beside the stream (decided before the marker arrived): the sinks get
        // its rows once the load is swapped in.
        if (Replication.Status.Reloads.Count == 0) return;
        await Replication.WaitAsync(() => Replication.Status.Reloads.Count == 0, "tables loading beside the stream to be loaded");
        await SyncOnceAsync();
    }

    private async Task SyncOnceAsync()
    {
        // After the snapshot: a marker inside it would be visible before the kept slot's older transactions are replayed.
        await Replication.WaitAsync(() => Store.IsReady, "the snapshot");
        int marker = Interlocked.Increment(ref _markers);
        await _harness.ExecuteAsync(Replication.Database, $"INSERT INTO sync_marker VALUES ({marker})");
        var key = System.Text.Encoding.UTF8.GetBytes($"pub.sync_marker.{marker}");
        await Replication.WaitAsync(() => Store.IsReady && Store.TryGetRow(key, out _), $"sync marker {marker}");
        var end = Store.Feed.NewestEndLsn;
        var deadline = DateTime.UtcNow + ReplicationRun.DefaultTimeout;
        while (!Sinks.Runners.All(r => r.Status.CheckpointLsn >= end))
        {
            if (Running.IsCompleted) await Running;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"gave up waiting for every sink to checkpoint {end}: " +
                    string.Join("; ", Sinks.Statuses.Select(s => $"{s.Name} {s.State} at {s.Acknowledged}, {s.EventsDelivered} events: {s.LastError}")) +
                    $"; store applied end {Store.AppliedEndLsn}, feed newest end {Store.Feed.NewestEndLsn}, oldest {Store.Feed.OldestResumableEndLsn}\n" +
                    string.Join("\n", Log.Lines.TakeLast(40)));
            await Task.Delay(20);
        }
    }

    /// <summary>Stops like the host does: replication first, then the sinks.</summary>
    public async ValueTask DisposeAsync()
    {
        await Replication.DisposeAsync();
        _stop.Cancel();
        await Running;
        await Sinks.DisposeAsync();
    }
}
