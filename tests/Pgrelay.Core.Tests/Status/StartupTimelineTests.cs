using Pgrelay.Core.Status;
using Xunit;

namespace Pgrelay.Core.Tests.Status;

public class StartupTimelineTests
{
    [Fact]
    public void Steps_keep_their_first_mark_in_the_order_they_ended()
    {
        var timeline = new StartupTimeline();
        timeline.Mark("settings");
        timeline.Mark("served");
        timeline.Mark("settings");   // a start-up retried after a failure: not start-up any more
        Assert.Equal(["settings", "served"], timeline.Marks.Select(m => m.Step));
        Assert.True(timeline.Marks[0].Milliseconds <= timeline.Marks[1].Milliseconds);
        Assert.True(timeline.Has("served"));
        Assert.False(timeline.Has("checkpoint loaded"));
        Assert.StartsWith("settings ", timeline.ToString());
    }

    [Fact]
    public void A_timeline_since_the_process_started_counts_the_time_before_it_was_made()
    {
        // This test process has run for a while (the test host started first): its exec is well before now.
        var fromExec = StartupTimeline.SinceProcessStart();
        var fromNow = new StartupTimeline();
        Assert.True(fromExec.ElapsedMilliseconds > fromNow.ElapsedMilliseconds);
    }
}
