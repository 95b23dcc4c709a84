using Pgrelay.Core.Model;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Events;

namespace Pgrelay.Sinks.Tests;

/// <summary>
/// A sink's checkpoint file keeps, with its position, the tables it has written (so that a load can clear those pgrelay
/// no longer holds); files of older versions, without that list, still read.
/// </summary>
public sealed class CheckpointFileTests : IDisposable
{
    private readonly string _state = Directory.CreateTempSubdirectory("pgrelay-checkpoint-file").FullName;

    [Fact]
    public void The_position_and_the_tables_written_round_trip()
    {
        var store = new CheckpointStore(_state);
        var at = new Checkpoint(new Lsn(0x1_0000_0200), new Lsn(0x1_0000_0100), DateTimeOffset.UtcNow);
        store.Save("s", at, [new WrittenTable(16400, "public", "t\"x", ["pub", "p%2Eq"]), new WrittenTable(16500, "other", "u", [])]);
        var read = new CheckpointStore(_state).Read("s");
        Assert.Equal(at.EndLsn, read.Position!.Value.EndLsn);
        Assert.Equal(at.CommitLsn, read.Position!.Value.CommitLsn);
        Assert.Equal(["16400 public.t\"x pub,p%2Eq", "16500 other.u "], read.Written!.Select(t => $"{t.RelationId} {t} {string.Join(',', t.Publications)}"));
    }

    [Fact]
    public void A_load_under_way_has_tables_but_no_position()
    {
        var store = new CheckpointStore(_state);
        store.Save("s", null, [new WrittenTable(16400, "public", "t", ["pub"])]);
        var read = new CheckpointStore(_state).Read("s");
        Assert.Null(read.Position);
        Assert.Single(read.Written!);
        Assert.Null(new CheckpointStore(_state).Oldest(["s"]));   // no position: nothing for the slot to keep
    }

    [Fact]
    public void A_file_of_an_older_version_reads_with_its_tables_unknown()
    {
        File.WriteAllText(Path.Combine(_state, "s.checkpoint"), """{"end_lsn":"1/200","commit_lsn":"1/100","written":"2026-12-01T10:00:00.0000000+00:00"}""");
        var read = new CheckpointStore(_state).Read("s");
        Assert.Equal(Lsn.Parse("1/200"), read.Position!.Value.EndLsn);
        Assert.Null(read.Written);
        Assert.Null(new CheckpointStore(_state).Read("none").Position);
    }

    public void Dispose() => Directory.Delete(_state, recursive: true);
}
