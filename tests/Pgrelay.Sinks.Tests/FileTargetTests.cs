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

    /// <summary>Records the size of every write, as stdout would receive them.</summary>
    private sealed class WriteSizes : MemoryStream
    {
        public List<int> Sizes { get; } = [];
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) { Sizes.Add(count); return base.WriteAsync(buffer, offset, count, ct); }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) { Sizes.Add(buffer.Length); return base.WriteAsync(buffer, ct); }
    }

    [Fact]
    public async Task Stdout_and_file_write_a_batch_in_pieces_of_at_most_batch_bytes_and_whole_lines()
    {
        var batch = TestEvents.Inserts(0, 50);
        var output = new WriteSizes();
        await using (var stdout = new StdoutTarget(output, batchBytes: 1000))
            await stdout.DeliverAsync(batch, default);
        Assert.True(output.Sizes.Count > 5, string.Join(",", output.Sizes));
        Assert.All(output.Sizes, size => Assert.InRange(size, 1, 1000));
        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => i.ToString()), lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("key").GetString()));

        var path = Path.Combine(_dir, "pieces.jsonl");
        await using (var file = new FileTarget(path, maxBytes: 0, maxAge: TimeSpan.Zero, batchBytes: 1000))
        {
            await file.OpenAsync(default);
            await file.DeliverAsync(batch, default);
            await file.DeliverAsync(TestEvents.Inserts(50, 1), default);
        }
        Assert.Equal(lines.Append(File.ReadLines(path).Last()), File.ReadAllLines(path));
        Assert.Equal(51, File.ReadAllLines(path).Length);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
