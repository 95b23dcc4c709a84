using Pgrelay.Sinks.Configuration;

namespace Pgrelay.Sinks.Tests;

public class SettingsTests
{
    [Fact]
    public void Flags_name_sinks_after_their_type()
    {
        var s = SinkSettingsParser.Parse(["stdout", "file:/tmp/x.jsonl", "webhook:https://example.com/hook", "postgres:postgres://u@127.0.0.1:5432/db",
            "redis-stream:127.0.0.1:6379/events", "redis-hash:127.0.0.1:6380", "file:/tmp/y.jsonl"], null, "/tmp/state");
        Assert.Equal(["stdout", "file", "webhook", "postgres", "redis-stream", "redis-hash", "file-2"], s.Sinks.Select(x => x.Name));
        Assert.Equal("/tmp/x.jsonl", s.Sinks[1].Target);
        Assert.Equal("events", s.Sinks[4].Stream);
        Assert.Equal("127.0.0.1:6379", s.Sinks[4].Target);
        Assert.Equal("127.0.0.1:6380", s.Sinks[5].Target);
        Assert.Equal("/tmp/state", s.StateDirectory);
    }

    [Theory]
    [InlineData("kafka:x", "unknown sink type 'kafka'")]
    [InlineData("file", "needs a path")]
    [InlineData("webhook:ftp://x", "http(s) URL")]
    [InlineData("postgres", "needs a target database")]
    [InlineData("postgres:postgres://h/db?frobnicate=1", "is not a postgres:// URL or connection string")]
    public void Bad_flags_are_one_line(string flag, string expected)
    {
        var e = Assert.Throws<SinkConfigurationException>(() => SinkSettingsParser.Parse([flag], null));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [Fact]
    public void Config_file_defines_sinks_with_options_and_inline_rules()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, """
            {
              "source": "postgres://ignored-by-sinks",
              "state-dir": "/var/lib/pgrelay",
              "sinks": {
                "audit": { "type": "file", "path": "/var/log/changes.jsonl", "max-size": "64MB", "max-age": "1h", "transactions": true },
                "hook": { "type": "webhook", "url": "https://example.com/in", "secret": "s3cret", "timeout": "5s", "max-attempts": 3, "batch-size": 100, "batch-bytes": "1MB",
                          "rules": [ { "table": "orders", "ops": ["c"] } ] }
              },
              "rules": [ { "name": "mask-emails", "table": "*", "transform": [ { "column": "email", "type": "mask", "keep-last": 4 } ] } ]
            }
            """);
        try
        {
            var s = SinkSettingsParser.Parse(null, path);
            Assert.Equal("/var/lib/pgrelay", s.StateDirectory);
            var audit = s.Sinks.Single(x => x.Name == "audit");
            Assert.Equal(64L * 1024 * 1024, audit.MaxFileBytes);
            Assert.Equal(TimeSpan.FromHours(1), audit.MaxFileAge);
            Assert.True(audit.Transactions);
            var hook = s.Sinks.Single(x => x.Name == "hook");
            Assert.Equal(("s3cret", 3, 100), (hook.Secret, hook.MaxAttempts, hook.BatchSize));
            Assert.Equal(TimeSpan.FromSeconds(5), hook.Timeout);
            Assert.Equal(1024 * 1024, hook.BatchBytes);
            Assert.Equal(SinkDefinition.DefaultBatchBytes, audit.BatchBytes);
            Assert.Equal(2, s.Rules.Count);
            Assert.Equal(["hook"], s.Rules.Single(r => r.Table == "orders").Sinks);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Unknown_sink_keys_are_rejected()
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, """{ "sinks": { "a": { "type": "file", "path": "/x", "rotate": "daily" } } }""");
        try
        {
            var e = Assert.Throws<SinkConfigurationException>(() => SinkSettingsParser.Parse(null, path));
            Assert.Equal("sink 'a': unknown key 'rotate' for a file sink (known: type, transactions, batch-size, rules, batch-bytes, path, max-size, max-age)", e.Message);
        }
        finally { File.Delete(path); }
    }
}
