using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pgrelay.Core.Changes;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Delivery;
using Pgrelay.Sinks.Hosting;
using Pgrelay.Sinks.Targets;
using Pgrelay.Testing;
using static Pgrelay.Sinks.Tests.Rows;

namespace Pgrelay.Sinks.Tests;

/// <summary>A real HTTP receiver (Kestrel on loopback) that fails the first requests, then accepts.</summary>
public sealed class WebhookTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private int _failuresLeft;
    private int _refusal = 503;
    private readonly ConcurrentQueue<(string Body, string? Signature, string? Idempotency, bool Accepted)> _requests = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        _app.MapPost("/hook", async (HttpContext context) =>
        {
            var body = await new StreamReader(context.Request.Body).ReadToEndAsync();
            bool accept = Interlocked.Decrement(ref _failuresLeft) < 0;
            _requests.Enqueue((body, context.Request.Headers[WebhookTarget.SignatureHeader], context.Request.Headers[WebhookTarget.IdempotencyHeader], accept));
            return accept ? Results.Ok() : Results.StatusCode(_refusal);
        });
        await _app.StartAsync();
    }

    private string Url => _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First() + "/hook";

    [Fact]
    public async Task Batches_are_signed_retried_and_checkpointed_only_once_accepted()
    {
        _failuresLeft = 7;   // more than one delivery's attempts: the runner must retry the batch itself too
        var store = NewStore(Row("1", "ann@example.com", "34", "NO"), Row("2", "bob@example.com", "17", "SE"));
        var settings = SinkSettingsParser.Parse([$"webhook:{Url}"], null);
        settings.Sinks[0].Secret = "s3cret";
        settings.Sinks[0].MaxAttempts = 3;
        settings.RetryInitialDelay = TimeSpan.FromMilliseconds(20);
        settings.RetryMaxDelay = TimeSpan.FromMilliseconds(100);
        var targets = (SinkDefinition d) => (ISinkTarget)new WebhookTarget(new Uri(d.Target!), d.Secret, TimeSpan.FromSeconds(10), d.MaxAttempts)
        {
            RetryDelay = TimeSpan.FromMilliseconds(10),
        };
        await using var sinks = new SinkSupervisor(settings, store, NullLoggerFactory.Instance, targets: targets);
        using var stop = new CancellationTokenSource();
        var running = sinks.RunAsync(stop.Token);
        var status = sinks.Runners[0].Status;
        await PostgresHarness.WaitUntilAsync(() => status.CheckpointLsn == store.AppliedEndLsn, TimeSpan.FromSeconds(60), "the initial load");

        var txn = Txn(new RowChange(ChangeKind.Insert, Users, Row("3", "carl@example.com", "40", "DK")),
            new RowChange(ChangeKind.Update, Users, Row("1", "ann@example.com", "35", "NO")),
            new RowChange(ChangeKind.Delete, Users, OldRow: Row("2", null, null, null)));
        store.Apply(txn);
        await PostgresHarness.WaitUntilAsync(() => status.CheckpointLsn >= txn.EndLsn, TimeSpan.FromSeconds(60), "the webhook sink to checkpoint");
        Assert.True(store.SafeToConfirmLsn <= status.CheckpointLsn);
        stop.Cancel();
        await running;

        var requests = _requests.ToArray();
        Assert.Equal(7, requests.Count(r => !r.Accepted));
        Assert.True(status.Failures >= 2);   // 7 refusals over deliveries of 3 attempts each: the runner saw at least two fail
        var accepted = requests.Where(r => r.Accepted).ToList();
        Assert.Equal(2, accepted.Count);     // the initial load (op r), then the transaction
        foreach (var r in requests)
        {
            var expected = "sha256=" + Convert.ToHexStringLower(HMACSHA256.HashData("s3cret"u8, System.Text.Encoding.UTF8.GetBytes(r.Body)));
            Assert.Equal(expected, r.Signature);
        }
        // Every retry of a batch carries the same body, so the same idempotency keys.
        Assert.All(requests.GroupBy(r => r.Idempotency), g => Assert.Single(g.Select(r => r.Body).Distinct()));
        var load = JsonDocument.Parse(accepted[0].Body).RootElement.EnumerateArray().ToList();
        // The load opens with a truncate per table that says so, then its rows.
        Assert.Equal("t", load[0].GetProperty("op").GetString());
        Assert.True(load[0].GetProperty("snapshot").GetBoolean());
        load.RemoveAt(0);
        Assert.All(load, e => Assert.Equal("r", e.GetProperty("op").GetString()));
        Assert.Equal(["1", "2"], load.Select(e => e.GetProperty("key").GetString()).Order());
        var changes = JsonDocument.Parse(accepted[1].Body).RootElement.EnumerateArray().ToList();
        Assert.Equal(["c", "u", "d"], changes.Select(e => e.GetProperty("op").GetString()));
        Assert.Equal([$"{txn.CommitLsn}:0", $"{txn.CommitLsn}:1", $"{txn.CommitLsn}:2"], changes.Select(e => e.GetProperty("id").GetString()));
        Assert.Equal(17, changes[2].GetProperty("before").GetProperty("age").GetInt32());   // the delete's before image comes from the store
        Assert.Equal(SinkState.Stopped, status.State);
    }

    [Fact]
    public async Task A_batch_of_big_rows_goes_in_requests_of_at_most_batch_bytes_and_a_bigger_event_goes_alone()
    {
        // 12 updates of ~700 kB rows in one transaction (8.4 MB), then one 5 MB row: with the default batch-bytes (4 MB)
        // the transaction takes several requests, none over 4 MB, and the 5 MB event is a request of its own.
        string Big(int kb, char c) => new(c, kb * 1024);
        var store = NewStore(Enumerable.Range(1, 12).Select(i => Row(i.ToString(), "small", "1", "NO")).ToArray());
        var settings = SinkSettingsParser.Parse([$"webhook:{Url}"], null);
        settings.RetryInitialDelay = TimeSpan.FromMilliseconds(20);
        await using var sinks = new SinkSupervisor(settings, store, NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var running = sinks.RunAsync(stop.Token);
        var status = sinks.Runners[0].Status;
        await PostgresHarness.WaitUntilAsync(() => status.CheckpointLsn == store.AppliedEndLsn, TimeSpan.FromSeconds(60), "the initial load");

        var updates = Txn(Enumerable.Range(1, 12).Select(i => new RowChange(ChangeKind.Update, Users, Row(i.ToString(), Big(700, 'u'), "2", "NO"))).ToArray());
        var huge = Txn(new RowChange(ChangeKind.Insert, Users, Row("13", Big(5 * 1024, 'h'), "3", "SE")));
        store.Apply(updates);
        store.Apply(huge);
        await PostgresHarness.WaitUntilAsync(() => status.CheckpointLsn >= huge.EndLsn, TimeSpan.FromSeconds(60), "the big rows to be delivered");
        stop.Cancel();
        await running;

        var bodies = _requests.Where(r => r.Accepted).Skip(1).Select(r => r.Body).ToList();   // after the initial load
        var events = bodies.Select(b => JsonDocument.Parse(b).RootElement.EnumerateArray().Select(e => e.GetProperty("id").GetString()!).ToList()).ToList();
        Assert.All(bodies.Zip(events), b => Assert.True(b.First.Length <= SinkDefinition.DefaultBatchBytes || b.Second.Count == 1,
            $"a request of {b.First.Length} bytes with {b.Second.Count} events"));
        Assert.True(bodies.Count >= 4, $"{bodies.Count} requests");
        Assert.Equal(Enumerable.Range(0, 12).Select(i => $"{updates.CommitLsn}:{i}").Append($"{huge.CommitLsn}:0"), events.SelectMany(e => e));
        Assert.Equal([$"{huge.CommitLsn}:0"], events[^1]);
        // Each request names its own first and last event.
        Assert.All(_requests.Where(r => r.Accepted).Skip(1).Zip(events), r => Assert.Equal($"{r.Second[0]}..{r.Second[^1]}", r.First.Idempotency));
    }

    [Fact]
    public async Task A_receiver_refusing_the_batch_with_a_4xx_makes_the_sink_failed_not_retrying_and_nothing_is_skipped()
    {
        _refusal = 422;
        _failuresLeft = 3;
        var store = NewStore(Row("1", "ann@example.com", "34", "NO"));
        var settings = SinkSettingsParser.Parse([$"webhook:{Url}"], null);
        settings.RetryInitialDelay = TimeSpan.FromMilliseconds(20);
        settings.RetryMaxDelay = TimeSpan.FromMilliseconds(200);
        await using var sinks = new SinkSupervisor(settings, store, NullLoggerFactory.Instance);
        using var stop = new CancellationTokenSource();
        var running = sinks.RunAsync(stop.Token);
        var status = sinks.Runners[0].Status;
        var states = new ConcurrentQueue<SinkState>();
        await PostgresHarness.WaitUntilAsync(() =>
        {
            states.Enqueue(status.State);
            return status.CheckpointLsn == store.AppliedEndLsn;
        }, TimeSpan.FromSeconds(60), "the initial load to get through");
        stop.Cancel();
        await running;
        Assert.Equal(3, status.PermanentFailures);
        Assert.Contains(SinkState.Failed, states);
        Assert.DoesNotContain(SinkState.Retrying, states);
        Assert.Equal(4, _requests.Count);   // refused three times by the receiver (no in-delivery retries of a 4xx), then accepted
        Assert.Single(_requests.Select(r => r.Body).Distinct());
    }

    public async Task DisposeAsync() => await _app.DisposeAsync();
}
