using Pgrelay.Core.Changes;
using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Store.Checkpoints;
using Xunit;
using static Pgrelay.Store.Tests.StoreBuilder;

namespace Pgrelay.Store.Tests;

/// <summary>
/// The checkpoint file on its own: what is written is loaded back exactly (values, NULLs, version LSNs, copies of identical
/// rows), and every way a file can be damaged — any single byte flipped, cut at any length — is refused with a reason,
/// leaving the store empty rather than serving part of it.
/// </summary>
public sealed class CheckpointFileTests : IDisposable
{
    private static readonly TableSchema NoKey = new(200, "public", "bag",
    [
        new ColumnSchema("a", PgTypes.Text, -1, false),
        new ColumnSchema("b", PgTypes.Int4, -1, false),
    ], ReplicaIdentity.Full);

    private readonly string _dir = Directory.CreateTempSubdirectory("pgrelay-ckpt-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static readonly CheckpointSource Source = new("7312345678901234567", "db", "pgrelay_db_00000000", new Dictionary<uint, string>());

    private static ReplicatedStore Populated()
    {
        var store = new ReplicatedStore();
        store.BeginSnapshot([new PublicationSchema("pub", [Cities, NoKey]), new PublicationSchema("other", [NoKey])]);
        store.LoadSnapshotRows(Cities, [Row("Oslo", "NO", "700000"), Row("Bergen", "NO", null), Row("Paris", "FR", "2100000")]);
        store.LoadSnapshotRows(NoKey, [Row("x", "1"), Row("x", "1"), Row("x", "1"), Row(null, null)]);
        store.CompleteSnapshot(new Lsn(0x100));
        var update = new RowChange(ChangeKind.Update, Cities, NewRow: Row("Oslo", "NO", "710000"), OldRow: Row("Oslo", "NO", "700000"));
        store.Apply(Txn(update));
        return store;
    }

    private StoreCheckpoints Checkpoints(ReplicatedStore store)
    {
        var checkpoints = new StoreCheckpoints(store, _dir, TimeSpan.FromHours(1), new CheckpointStatus());
        checkpoints.SetSource(Source, () => new Dictionary<uint, string> { [100] = "r1", [200] = "r2" });
        return checkpoints;
    }

    private async Task<string> WriteOneAsync()
    {
        var store = Populated();
        var lsn = await Checkpoints(store).WriteAsync(CancellationToken.None);
        Assert.Equal(store.VisibleLsn, lsn!.Value);
        return Assert.Single(Directory.GetFiles(Path.Combine(_dir, "checkpoints")));
    }

    [Fact]
    public async Task A_checkpoint_loads_back_exactly_with_version_lsns_copies_and_nulls()
    {
        var original = Populated();
        var checkpoints = Checkpoints(original);
        var lsn = await checkpoints.WriteAsync(CancellationToken.None);
        Assert.NotNull(lsn);

        var loaded = new ReplicatedStore();
        var info = Checkpoints(loaded).Newest(out var problem);
        Assert.Null(problem);
        Assert.NotNull(info);
        Assert.Equal(lsn!.Value, info.Lsn);
        Assert.Equal(Source.SystemIdentifier, info.Source.SystemIdentifier);
        Assert.Equal("r2", info.Source.MembershipTokens[200]);
        Assert.Equal(["pub", "other"], info.Publications.Select(p => p.Name));
        Checkpoints(loaded).Load(info);

        Assert.True(loaded.IsReady);
        Assert.Equal(original.VisibleLsn, loaded.VisibleLsn);
        Assert.Equal(original.TotalRows, loaded.TotalRows);
        Assert.Equal("710000", Get(loaded, "pub.cities.Oslo/NO", 2));
        Assert.Equal("NULL", Get(loaded, "pub.cities.Bergen/NO", 2));
        Assert.Equal("x", Get(loaded, "other.bag.x/1/3", 0));
        Assert.Null(Get(loaded, "other.bag.x/1/4", 0));
        foreach (var key in new[] { "pub.cities.Oslo/NO", "pub.cities.Paris/FR", "pub.bag.x/1", "pub.bag.%FF/%FF" })
        {
            Assert.True(original.TryGetRow(System.Text.Encoding.UTF8.GetBytes(key), out var a), key);
            Assert.True(loaded.TryGetRow(System.Text.Encoding.UTF8.GetBytes(key), out var b), key);
            Assert.Equal(a.VersionLsn, b.VersionLsn);   // ETags and CAS values survive a restart
        }
        // The loaded store applies the next transaction as usual.
        loaded.Apply(Txn(new RowChange(ChangeKind.Delete, Cities, OldRow: Row("Paris", "FR", null))));
        Assert.Null(Get(loaded, "pub.cities.Paris/FR", 0));
    }

    private static readonly TableSchema ByEmail = new(300, "public", "users",
    [
        new ColumnSchema("id", PgTypes.Int4, -1, true),
        new ColumnSchema("email", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Index, identityColumns: ["email"]);

    [Fact]
    public async Task A_loaded_table_finds_rows_by_replica_identity_and_serves_many_pages()
    {
        // An identity index that is not the key: the loader builds it (the pages carry hash tags, not identities); and
        // enough rows for several pages, so every page image is indexed where it lies.
        var original = new ReplicatedStore();
        original.BeginSnapshot([new PublicationSchema("pub", [ByEmail])]);
        const int rows = 30_000;
        original.LoadSnapshotRows(ByEmail, [.. Enumerable.Range(1, rows).Select(i => Row(i.ToString(), $"user{i}@example.com"))]);
        original.CompleteSnapshot(new Lsn(0x100));
        var checkpoints = new StoreCheckpoints(original, _dir, TimeSpan.FromHours(1), new CheckpointStatus());
        checkpoints.SetSource(Source, () => new Dictionary<uint, string>());
        Assert.NotNull(await checkpoints.WriteAsync(CancellationToken.None));

        var loaded = new ReplicatedStore();
        var again = new StoreCheckpoints(loaded, _dir, TimeSpan.FromHours(1), new CheckpointStatus());
        again.SetSource(Source, () => new Dictionary<uint, string>());
        again.Load(again.Newest(out var problem)!);
        Assert.Null(problem);
        Assert.Equal(rows, loaded.TotalRows);
        for (int i = 1; i <= rows; i += 997) Assert.Equal($"user{i}@example.com", Get(loaded, $"pub.users.{i}", 1));

        // The old row names the row by its email only: found through the identity index the load built.
        loaded.Apply(Txn(new RowChange(ChangeKind.Update, ByEmail, NewRow: Row("42", "new@example.com"), OldRow: Row(null, "user42@example.com"))));
        loaded.Apply(Txn(new RowChange(ChangeKind.Delete, ByEmail, OldRow: Row(null, "user7@example.com"))));
        Assert.Equal("new@example.com", Get(loaded, "pub.users.42", 1));
        Assert.Null(Get(loaded, "pub.users.7", 1));
        Assert.Equal(rows - 1, loaded.TotalRows);
    }

    [Fact]
    public async Task Any_single_flipped_byte_is_detected_and_the_store_stays_empty()
    {
        var file = await WriteOneAsync();
        var bytes = await File.ReadAllBytesAsync(file);
        for (int i = 0; i < bytes.Length; i++)
        {
            var damaged = (byte[])bytes.Clone();
            damaged[i] ^= 0x20;
            await File.WriteAllBytesAsync(file, damaged);
            AssertRefused($"byte {i} flipped");
        }
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public async Task A_checkpoint_of_an_older_format_is_refused_not_misread(int version)
    {
        // Format 2 held the low 24 bits of each key hash as tags, format 3 rows with a u16 column count and states always:
        // read with today's index and row layout, keys would not be found or values misread. The preamble says so.
        var file = await WriteOneAsync();
        var bytes = await File.ReadAllBytesAsync(file);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(12), (uint)version);
        await File.WriteAllBytesAsync(file, bytes);
        AssertRefused($"format {version}");
        var info = Checkpoints(new ReplicatedStore()).Newest(out var problem);
        string why = problem ?? Assert.Throws<CheckpointUnusableException>(() => Checkpoints(new ReplicatedStore()).Load(info!)).Message;
        Assert.Contains($"format version {version}", why);
    }

    [Fact]
    public async Task A_file_cut_at_any_length_is_detected_and_the_store_stays_empty()
    {
        var file = await WriteOneAsync();
        var bytes = await File.ReadAllBytesAsync(file);
        for (int length = 0; length < bytes.Length; length++)
        {
            await File.WriteAllBytesAsync(file, bytes[..length]);
            AssertRefused($"cut at {length}");
        }
    }

    [Fact]
    public async Task A_temporary_file_left_by_a_crash_is_never_loaded_and_is_removed()
    {
        var file = await WriteOneAsync();
        var torn = Path.Combine(Path.GetDirectoryName(file)!, "checkpoint-FFFFFFFFFFFFFFFF.tmp");
        await File.WriteAllBytesAsync(torn, (await File.ReadAllBytesAsync(file))[..100]);
        var info = Checkpoints(new ReplicatedStore()).Newest(out var problem);
        Assert.Null(problem);
        Assert.Equal(file, info!.Path);
        Assert.False(File.Exists(torn));
    }

    [Fact]
    public async Task A_new_checkpoint_replaces_the_old_one_and_the_slot_is_held_at_the_newest()
    {
        var store = Populated();
        var checkpoints = Checkpoints(store);
        var first = await checkpoints.WriteAsync(CancellationToken.None);
        Assert.Equal(first!.Value, store.SafeToConfirmLsn);
        store.Apply(Txn(new RowChange(ChangeKind.Insert, Cities, NewRow: Row("Rome", "IT", "1"))));
        Assert.Equal(first!.Value, store.SafeToConfirmLsn);   // applied, but no checkpoint holds it yet
        Assert.Equal(first!.Value, store.ConfirmCeiling);
        var second = await checkpoints.WriteAsync(CancellationToken.None);
        Assert.True(second > first);
        Assert.Equal(second!.Value, store.SafeToConfirmLsn);
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "checkpoints")));
    }

    [Fact]
    public async Task A_checkpoint_becomes_valid_only_once_every_durable_consumer_has_its_lsn()
    {
        var store = Populated();
        using var sink = store.RegisterDurableConsumer("sink", new Lsn(0x100));
        var checkpoints = Checkpoints(store);
        var writing = checkpoints.WriteAsync(CancellationToken.None);
        await PollUntil(() => checkpoints.Status.State == "waiting-for-consumers");
        Assert.Empty(Directory.GetFiles(Path.Combine(_dir, "checkpoints"), "*.ckpt"));
        Assert.Equal(new Lsn(0x100), store.SafeToConfirmLsn);
        sink.Acknowledge(store.VisibleLsn);
        Assert.Equal(store.VisibleLsn, (await writing)!.Value);
        Assert.Single(Directory.GetFiles(Path.Combine(_dir, "checkpoints"), "*.ckpt"));
    }

    private static async Task PollUntil(Func<bool> condition)
    {
        for (int i = 0; i < 3000 && !condition(); i++) await Task.Delay(10);
        Assert.True(condition());
    }

    private void AssertRefused(string what)
    {
        var store = new ReplicatedStore();
        var checkpoints = Checkpoints(store);
        var info = checkpoints.Newest(out var problem);
        if (info is null)
        {
            Assert.True(problem is not null, what);
        }
        else
        {
            // A flip inside the header's JSON strings can still parse and pass the checksum only if the checksum missed it.
            var e = Assert.Throws<CheckpointUnusableException>(() => checkpoints.Load(info));
            Assert.False(string.IsNullOrEmpty(e.Message), what);
        }
        Assert.False(store.IsReady, what);
        Assert.Empty(store.Tables);
    }
}
