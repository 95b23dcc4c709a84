using Pgrelay.Configuration;

namespace Pgrelay.Host.Tests;

public class SettingsLoaderTests
{
    private static readonly Dictionary<string, string?> NoFlags = new();

    [Fact]
    public void Environment_variables_fill_settings_and_flags_win()
    {
        var env = new Dictionary<string, string?>
        {
            ["PGRELAY_SOURCE"] = "postgres://env@127.0.0.1/db",
            ["PGRELAY_PUBLICATION"] = "a, b",
            ["PGRELAY_COPY_PARALLELISM"] = "5",
            ["PGRELAY_HTTP"] = ":9000",
            ["PGRELAY_RESP"] = "off",
        };
        var settings = SettingsLoader.Load(new Dictionary<string, string?> { ["copy-parallelism"] = "7" }, env);
        Assert.Equal("postgres://env@127.0.0.1/db", settings.Source);
        Assert.Equal(["a", "b"], settings.Publications);
        Assert.Equal(7, settings.CopyParallelism);
        Assert.Equal("127.0.0.1:9000", settings.Http!.ToString());
        Assert.Null(settings.Resp);
        Assert.Equal("127.0.0.1:11211", settings.Memcached!.ToString());
    }

    [Fact]
    public void Durations_and_sizes_accept_units()
    {
        var settings = SettingsLoader.Load(new Dictionary<string, string?> { ["heartbeat"] = "500ms", ["spill-threshold"] = "16MB", ["feed-max-bytes"] = "1GB" },
            new Dictionary<string, string?>());
        Assert.Equal(TimeSpan.FromMilliseconds(500), settings.Heartbeat);
        Assert.Equal(16L * 1024 * 1024, settings.SpillThresholdBytes);
        Assert.Equal(1024L * 1024 * 1024, settings.FeedMaxBytes);
        Assert.Equal(256L * 1024 * 1024, SettingsLoader.Load(new Dictionary<string, string?>(), new Dictionary<string, string?>()).FeedMaxBytes);
    }

    [Theory]
    [InlineData("heartbeat", "soon")]
    [InlineData("spill-threshold", "-1")]
    [InlineData("feed-max-bytes", "0")]
    [InlineData("resp", "127.0.0.1:70000")]
    [InlineData("log-level", "loud")]
    public void Bad_values_name_their_setting(string key, string value)
    {
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(new Dictionary<string, string?> { [key] = value }, new Dictionary<string, string?>()));
        Assert.StartsWith(key + ":", e.Message);
    }

    [Fact]
    public void Listening_beyond_loopback_without_a_password_is_refused()
    {
        var settings = SettingsLoader.Load(new Dictionary<string, string?> { ["source"] = "x", ["publication"] = "p", ["resp"] = "0.0.0.0:6379" }, new Dictionary<string, string?>());
        var e = Assert.Throws<SettingsException>(() => SettingsLoader.RequireSource(settings));
        Assert.StartsWith("resp:", e.Message);
        Assert.Contains("password", e.Message);
    }

    [Fact]
    public void Unknown_keys_in_the_config_file_are_reported()
    {
        var file = Path.GetTempFileName();
        File.WriteAllText(file, """{ "sorce": "typo" }""");
        try
        {
            var e = Assert.Throws<SettingsException>(() => SettingsLoader.Load(new Dictionary<string, string?> { ["config"] = file }, new Dictionary<string, string?>()));
            Assert.Contains("sorce", e.Message);
        }
        finally { File.Delete(file); }
        Assert.NotNull(NoFlags);
    }
}
