using System.Text.Json;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Sinks.Configuration;
using Pgrelay.Sinks.Events;
using Pgrelay.Sinks.Rules;
using Pgrelay.Store.Feed;
using static Pgrelay.Sinks.Tests.Rows;

namespace Pgrelay.Sinks.Tests;

public class RuleTests
{
    /// <summary>Applies the changes to a store holding users 1 and 2, then builds the sink's events through the rules.</summary>
    private static List<ChangeEvent> Events(string rulesJson, bool boundaries, params RowChange[] changes)
    {
        var settings = ParseRules(rulesJson);
        var store = NewStore(Row("1", "ann@example.com", "34", "NO"), Row("2", "bob@example.com", "17", "SE"));
        store.Apply(Txn(changes));
        var read = new List<CommittedTransaction>();
        Assert.Equal(FeedRead.Transaction, store.Feed.TryReadAfterEnd(store.Feed.OldestResumableEndLsn, 10, read));
        var output = new List<ChangeEvent>();
        new EventBuilder(RuleSet.For("s", settings.Rules), boundaries).Add(read.Single(), output);
        return output;
    }

    private static SinkSettings ParseRules(string rulesJson)
    {
        var path = Path.GetTempFileName();
        File.WriteAllText(path, $$"""{ "sinks": { "s": { "type": "stdout" } }, "rules": {{rulesJson}} }""");
        try { return SinkSettingsParser.Parse(null, path); }
        finally { File.Delete(path); }
    }

    private static JsonElement Json(ChangeEvent e) => JsonDocument.Parse(EventJson.ToJsonString(e)).RootElement;

    private static RowChange Insert(params string?[] v) => new(ChangeKind.Insert, Users, Row(v));
    private static RowChange Update(params string?[] v) => new(ChangeKind.Update, Users, Row(v));

    [Theory]
    [InlineData("""{"column":"age","op":"gte","value":18}""", new[] { "3", "4" })]
    [InlineData("""{"column":"age","op":"gt","value":"9"}""", new[] { "3", "4" })]   // numeric, not text, comparison
    [InlineData("""{"column":"age","op":"lt","value":18}""", new[] { "5" })]
    [InlineData("""{"column":"age","op":"lte","value":40}""", new[] { "3", "5" })]
    [InlineData("""{"column":"country","op":"eq","value":"NO"}""", new[] { "3" })]
    [InlineData("""{"column":"country","op":"ne","value":"NO"}""", new[] { "4" })]   // as in SQL, NULL is not "not equal"
    [InlineData("""{"column":"country","op":"in","value":["SE","DK"]}""", new[] { "4" })]
    [InlineData("""{"column":"email","op":"contains","value":"@corp"}""", new[] { "4" })]
    [InlineData("""{"column":"email","op":"regex","value":"^[a-c]"}""", new[] { "3", "5" })]
    [InlineData("""{"column":"country","op":"is-null"}""", new[] { "5" })]
    [InlineData("""{"column":"country","op":"not-null"}""", new[] { "3", "4" })]
    public void Filters_keep_only_matching_rows(string condition, string[] expectedIds)
    {
        var events = Events($$"""[{ "table": "users", "filter": [{{condition}}] }]""", false,
            Insert("3", "carl@example.com", "40", "NO"),
            Insert("4", "dina@corp.example", "52", "SE"),
            Insert("5", "alf@example.com", "9", null));
        Assert.Equal(expectedIds, events.Select(e => e.Key).ToArray());
    }

    [Fact]
    public void An_update_that_moves_a_row_out_of_or_into_the_filter_becomes_a_delete_or_an_insert()
    {
        // As PostgreSQL 15's publication row filters: users 1 (34) and 2 (17) exist; the filter keeps adults.
        var events = Events("""[{ "table": "users", "filter": [{"column":"age","op":"gte","value":18}] }]""", false,
            Update("1", "ann@example.com", "16", "NO"),     // leaves the filtered set
            Update("2", "bob@example.com", "18", "SE"),     // enters it
            Update("2", "bob@example.com", "19", "SE"),     // stays in it
            Update("1", "ann@example.com", "15", "NO"));    // stays out of it
        Assert.Equal(["d", "c", "u"], events.Select(e => e.OpName));
        var left = Json(events[0]);
        Assert.Equal("1", left.GetProperty("key").GetString());
        Assert.Equal(34, left.GetProperty("before").GetProperty("age").GetInt32());
        Assert.Equal(JsonValueKind.Null, left.GetProperty("after").ValueKind);
        var entered = Json(events[1]);
        Assert.Equal("2", entered.GetProperty("key").GetString());
        Assert.Equal(JsonValueKind.Null, entered.GetProperty("before").ValueKind);
        Assert.Equal(18, entered.GetProperty("after").GetProperty("age").GetInt32());
    }

    [Fact]
    public void Rules_apply_per_operation_and_table()
    {
        var events = Events("""
            [{ "table": "users", "ops": ["u"], "filter": [{"column":"age","op":"gt","value":100}] },
             { "table": "other", "filter": [{"column":"x","op":"eq","value":"never"}] }]
            """, false,
            Insert("3", "carl@example.com", "40", "NO"),
            Update("1", "ann@example.com", "35", "NO"));
        Assert.Equal(["c"], events.Select(e => e.OpName));
    }

    [Fact]
    public void Transforms_mask_hash_replace_and_drop()
    {
        var events = Events("""
            [{ "table": "*", "transform": [
                {"column":"email","type":"mask","keep-first":2,"keep-last":4},
                {"column":"country","type":"hash"},
                {"column":"age","type":"drop"}]},
             { "table": "public.users", "transform": [{"column":"email","type":"regex-replace","pattern":"\\*+","replacement":"#"}] }]
            """, false, Insert("3", "carl@example.com", "40", "NO"));
        var after = Json(events.Single()).GetProperty("after");
        Assert.Equal("ca#.com", after.GetProperty("email").GetString());
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData("NO"u8)), after.GetProperty("country").GetString());
        Assert.False(after.TryGetProperty("age", out _));
        Assert.Equal(3, after.GetProperty("id").GetInt32());
    }

    [Fact]
    public void Mask_never_reveals_a_short_value()
    {
        var events = Events("""[{ "transform": [{"column":"country","type":"mask","keep-first":1,"keep-last":1}] }]""", false,
            Insert("3", "c@x", "40", "NO"));
        Assert.Equal("**", Json(events.Single()).GetProperty("after").GetProperty("country").GetString());
    }

    [Fact]
    public void Routing_renames_table_schema_and_columns()
    {
        var events = Events("""[{ "table": "users", "route": { "schema": "crm", "table": "people", "columns": { "email": "mail" } } }]""", false,
            Insert("3", "carl@example.com", "40", "NO"));
        var json = Json(events.Single());
        Assert.Equal("crm", json.GetProperty("schema").GetString());
        Assert.Equal("people", json.GetProperty("table").GetString());
        Assert.Equal("carl@example.com", json.GetProperty("after").GetProperty("mail").GetString());
        Assert.False(json.GetProperty("after").TryGetProperty("email", out _));
    }

    [Fact]
    public void Update_events_carry_the_complete_before_image_from_the_store()
    {
        var events = Events("[]", true, Update("2", "bob@example.com", "18", "SE"));
        Assert.Equal(["begin", "u", "commit"], events.Select(e => e.OpName));
        var json = Json(events[1]);
        Assert.Equal(17, json.GetProperty("before").GetProperty("age").GetInt32());
        Assert.Equal("bob@example.com", json.GetProperty("before").GetProperty("email").GetString());
        Assert.Equal(18, json.GetProperty("after").GetProperty("age").GetInt32());
        Assert.Equal("2", json.GetProperty("key").GetString());
        Assert.Equal(7u, json.GetProperty("xid").GetUInt32());
        Assert.Equal(events[1].CommitLsn.ToString(), json.GetProperty("lsn").GetString());
        Assert.StartsWith("2026-01-02T03:04:05", json.GetProperty("ts").GetString());
        Assert.Equal(1, Json(events[2]).GetProperty("events").GetInt32());
    }

    [Fact]
    public void Boundaries_are_left_out_when_every_change_was_filtered()
    {
        var events = Events("""[{ "filter": [{"column":"age","op":"gt","value":1000}] }]""", true, Insert("3", "c@x", "40", "NO"));
        Assert.Empty(events);
    }

    [Theory]
    [InlineData("""[{ "filter": [{"column":"a","op":"between","value":1}] }]""", "filter op 'between'")]
    [InlineData("""[{ "filter": [{"column":"a","op":"regex","value":"(unclosed"}] }]""", "not a valid regular expression")]
    [InlineData("""[{ "filter": [{"column":"a","op":"eq"}] }]""", "needs a \"value\"")]
    [InlineData("""[{ "filter": [{"column":"a","op":"is-null","value":1}] }]""", "takes no value")]
    [InlineData("""[{ "transform": [{"column":"a","type":"rot13"}] }]""", "transform type 'rot13'")]
    [InlineData("""[{ "transform": [{"column":"a","type":"regex-replace"}] }]""", "needs a \"pattern\"")]
    [InlineData("""[{ "ops": ["x"] }]""", "'x' is not one of c, u, d, t, r")]
    [InlineData("""[{ "sinks": ["nope"] }]""", "'nope', which is not a configured sink")]
    [InlineData("""[{ "route": { "columns": { "a": "x", "b": "x" } } }]""", "same name")]
    [InlineData("""[{ "colour": "red" }]""", "unknown key 'colour'")]
    public void Invalid_rules_stop_with_one_line(string rules, string expected)
    {
        var e = Assert.Throws<SinkConfigurationException>(() => ParseRules(rules));
        Assert.Contains(expected, e.Message);
        Assert.DoesNotContain('\n', e.Message);
        Assert.StartsWith("rule '", e.Message);
    }
}
