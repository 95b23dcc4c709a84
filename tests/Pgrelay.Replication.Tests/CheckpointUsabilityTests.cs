using Pgrelay.Core.Checkpoints;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Checkpoints;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>The slot and sink rules of <see cref="CheckpointUsability"/> on their own (the data rules run against real
/// PostgreSQL in CheckpointRestartTests).</summary>
public sealed class CheckpointUsabilityTests
{
    private static readonly CheckpointInfo Checkpoint = new("/s/checkpoints/checkpoint-0000000000001000.ckpt", 1,
        new CheckpointSource("1", "db", "mine", new Dictionary<uint, string>()), new Lsn(0x1000), DateTimeOffset.UtcNow, []);

    [Fact]
    public void A_slot_at_or_below_K_is_usable_and_every_other_state_says_why_not()
    {
        Assert.Null(CheckpointUsability.SlotProblem(Checkpoint, "mine", new(new Lsn(0x1000), "reserved")));
        Assert.Null(CheckpointUsability.SlotProblem(Checkpoint, "mine", new(new Lsn(0x800), "extended")));
        Assert.Contains("is confirmed at 0/1001", CheckpointUsability.SlotProblem(Checkpoint, "mine", new(new Lsn(0x1001), "reserved")));
        Assert.Contains("invalidated", CheckpointUsability.SlotProblem(Checkpoint, "mine", new(new Lsn(0x800), "lost")));
        Assert.Contains("no longer exists", CheckpointUsability.SlotProblem(Checkpoint, "mine", null));
        Assert.Contains("not a logical slot", CheckpointUsability.SlotProblem(Checkpoint, "mine", new(null, null)));
        Assert.Contains("this instance's slot is other", CheckpointUsability.SlotProblem(Checkpoint, "other", new(new Lsn(0x800), "reserved")));
    }

    [Fact]
    public void A_sink_checkpoint_older_than_K_makes_the_checkpoint_unusable()
    {
        Assert.Null(CheckpointUsability.SinkProblem(Checkpoint, null));
        Assert.Null(CheckpointUsability.SinkProblem(Checkpoint, new Lsn(0x1000)));
        Assert.Contains("past a sink's checkpoint at 0/FFF", CheckpointUsability.SinkProblem(Checkpoint, new Lsn(0xFFF)));
    }
}
