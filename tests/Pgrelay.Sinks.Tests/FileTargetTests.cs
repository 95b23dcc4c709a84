using System.Text.Json;
using Pgrelay.Sinks.Targets;

namespace Pgrelay.Sinks.Tests;

public sealed class FileTargetTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pgrelay-file-sink").FullName;

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public async Task Writes_json_lines_and_rotates_by_size_without_splitting_a_batch()
    {
        var clock = new ManualClock();
        var path = Path.Combine(_dir, "changes.jsonl");
        await using (var target = new FileTarget(path, maxBytes: 1000, maxAge: TimeSpan.Zero, clock))
        {
            await target.OpenAsync(default);
            for (int i = 0; i < 5; i++)
            {
                clock.Now = clock.Now.AddSeconds(1);
                await target.DeliverAsync(TestEvents.Inserts(i * 10, 10), default);
            }
        }
        var files = Directory.GetFiles(_dir).Order().ToArray();
        Assert.Equal(5, files.Length);   // each 10-event batch passes 1000 bytes, so every next batch starts a new file
        Assert.Contains(Path.Combine(_dir, "changes-20260301T120002000Z.jsonl"), files);
        var ids = files.SelectMany(File.ReadAllLines).Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetString()).ToList();
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString()).Order(), ids.Order());
        Assert.All(files, f => Assert.Equal(10, File.ReadAllLines(f).Length));
    }

    [Fact]
    public async Task Rotates_by_age()
    {
        var clock = new ManualClock();
        var path = Path.Combine(_dir, "audit.log");
        await using var target = new FileTarget(path, maxBytes: 0, maxAge: TimeSpan.FromMinutes(10), clock);
        await target.OpenAsync(default);
        await target.DeliverAsync(TestEvents.Inserts(1, 1), default);
        clock.Now = clock.Now.AddMinutes(5);
        await target.DeliverAsync(TestEvents.Inserts(2, 1), default);
        Assert.Single(Directory.GetFiles(_dir));
        clock.Now = clock.Now.AddMinutes(6);
        await target.DeliverAsync(TestEvents.Inserts(3, 1), default);
        Assert.Equal(2, Directory.GetFiles(_dir).Length);
        Assert.Single(File.ReadAllLines(path));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(_dir, "audit-20260301T121100000Z.log")).Length);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
