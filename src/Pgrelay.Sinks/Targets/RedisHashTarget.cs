using System.Text;
using Pgrelay.Core.Rows;
using Pgrelay.Sinks.Events;
using Pgrelay.Store;
using Pgrelay.Store.Tables;
using StackExchange.Redis;

namespace Pgrelay.Sinks.Targets;

/// <summary>
/// Keeps an external Redis (or Redis Cluster) holding the same <c>pub.table.key</c> hashes pgrelay serves itself: field
/// per column with PostgreSQL's text output, NULL columns left out. An insert or update replaces the whole hash in one
/// script call (atomic per key, and a script touches one key, so it works on a cluster); a delete is DEL; a truncate
/// (and the start of an initial load) removes the table's keys by SCAN. Key order within a batch is kept because one
/// connection pipelines the commands in order.
/// A partial (replayed) image only touches the fields it knows; the others keep what the hash holds. A key change with a
/// partial image first reads the old hash (HGETALL, after this batch's earlier writes to it) and writes the new key
/// whole; when the old hash is gone (outside a filter, or deleted by an earlier attempt of this very batch) the new key
/// keeps what it holds, or, when it does not exist either, takes the missing values from pgrelay's store
/// (<see cref="ChangeEvent.Current"/>). Redelivering a batch therefore ends in the same hashes.
/// </summary>
public sealed class RedisHashTarget(string address, string? prefix, ReplicatedStore store) : ISinkTarget
{
    // ARGV: [1] "1" replaces the whole hash, "0" touches only the given fields; [2] n, then n field/value pairs to set;
    // then m, then m fields to delete; then f, then f field/value pairs to set only if the key did not exist.
    private const string WriteScript = """
        local existed = redis.call('EXISTS', KEYS[1])
        if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) end
        local n = tonumber(ARGV[2])
        local at = 3
        if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, at, at + 2 * n - 1)) end
        at = at + 2 * n
        local m = tonumber(ARGV[at])
        at = at + 1
        if m > 0 then redis.call('HDEL', KEYS[1], unpack(ARGV, at, at + m - 1)) end
        at = at + m
        local f = tonumber(ARGV[at])
        at = at + 1
        if f > 0 and existed == 0 then redis.call('HSET', KEYS[1], unpack(ARGV, at, at + 2 * f - 1)) end
        return n
        """;

    // Per key, after an ALTER TABLE. ARGV: d, then d fields to delete; r, then r old/new field pairs to rename; a, then a
    // field/value pairs to add where absent (the value existing rows have in an added column).
    private const string AlterScript = """
        local at = 1
        local d = tonumber(ARGV[at]); at = at + 1
        for i = 1, d do redis.call('HDEL', KEYS[1], ARGV[at]); at = at + 1 end
        local r = tonumber(ARGV[at]); at = at + 1
        for i = 1, r do
          local v = redis.call('HGET', KEYS[1], ARGV[at])
          if v then redis.call('HSET', KEYS[1], ARGV[at + 1], v); redis.call('HDEL', KEYS[1], ARGV[at]) end
          at = at + 2
        end
        local a = tonumber(ARGV[at]); at = at + 1
        for i = 1, a do redis.call('HSETNX', KEYS[1], ARGV[at], ARGV[at + 1]); at = at + 2 end
        return 1
        """;

    /// <summary>Sets fields (count, then name/value pairs) on a hash that exists: a replayed column's values from the store.</summary>
    private const string FillScript = """
        if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
        local n = tonumber(ARGV[1])
        for i = 0, n - 1 do redis.call('HSET', KEYS[1], ARGV[2 + 2 * i], ARGV[3 + 2 * i]) end
        return 1
        """;

    private readonly string _prefix = prefix ?? "";
    private readonly Dictionary<StoredTable, string[]> _publications = new(ReferenceEqualityComparer.Instance);
    private IReadOnlyList<PublicationView>? _publicationsOf;
    private ConnectionMultiplexer? _redis;

    public async Task OpenAsync(CancellationToken ct)
    {
        if (_redis is { IsConnected: true }) return;
        if (_redis is not null) await _redis.DisposeAsync().ConfigureAwait(false);
        _redis = await RedisConnections.ConnectAsync(address).ConfigureAwait(false);
    }

    public async Task DeliverAsync(SinkBatch batch, CancellationToken ct)
    {
        var redis = _redis ?? throw new InvalidOperationException("not connected to Redis");
        var db = redis.GetDatabase();
        if (batch.LoadStartTables is not null || batch.LoadWrittenTables is not null) await ClearForLoadAsync(redis, batch, ct).ConfigureAwait(false);
        var pending = new List<Task>(batch.Events.Count);
        var events = batch.Events.Exists(e => e.Replayed) ? await FindOldKeysAsync(redis, batch.Events, ct).ConfigureAwait(false) : batch.Events;
        foreach (var e in events)
        {
            if (e.Table is not { } table || e.SourceTable is not { } source) continue;
            switch (e.Op)
            {
                case EventOp.Truncate:
                    await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
                    pending.Clear();
                    await DeleteTableAsync(redis, source, table, ct, e.UnpublishedFrom).ConfigureAwait(false);
                    break;
                case EventOp.Relation when e.UnpublishedFrom is { } left:
                    await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
                    pending.Clear();
                    await RepublishAsync(redis, source, table, left, batch.PublishedRows, ct).ConfigureAwait(false);
                    break;
                case EventOp.Relation:
                    await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
                    pending.Clear();
                    await AlterAsync(redis, source, e, batch.StoreRows, ct).ConfigureAwait(false);
                    break;
                case EventOp.Delete when e.Before is { } before:
                    foreach (var key in KeysOf(source, table, e.BeforeKey)) pending.Add(db.KeyDeleteAsync(key));
                    break;
                case EventOp.Insert or EventOp.Update or EventOp.Read when e.After is { } after:
                    var oldKeys = e.KeyChanged && e.BeforeKey is { } oldKey ? KeysOf(source, table, oldKey).ToList() : null;
                    var newKeys = KeysOf(source, table, e.Key).ToList();
                    if (!SinkValue.AnyUnknown(after))
                    {
                        foreach (var key in oldKeys ?? []) pending.Add(db.KeyDeleteAsync(key));
                        var arguments = Arguments(table, after, null);
                        foreach (var key in newKeys) pending.Add(db.ScriptEvaluateAsync(WriteScript, [key], arguments));
                        break;
                    }
                    SinkValue[]? current = null;
                    bool looked = false;
                    for (int p = 0; p < newKeys.Count; p++)
                    {
                        RedisValue[]? whole = null;
                        if (oldKeys is not null)
                        {
                            var old = await db.HashGetAllAsync(oldKeys[p]).WaitAsync(ct).ConfigureAwait(false);
                            if (old.Length > 0) whole = Arguments(table, CarryOver(table, after, old), null);
                            pending.Add(db.KeyDeleteAsync(oldKeys[p]));
                        }
                        // The store's values are needed only when the new key does not exist (the script sets them only then).
                        if (whole is null && !looked && !await db.KeyExistsAsync(newKeys[p]).WaitAsync(ct).ConfigureAwait(false))
                        {
                            current = e.Current is null ? null : await e.Current(ct).ConfigureAwait(false);
                            looked = true;
                        }
                        pending.Add(db.ScriptEvaluateAsync(WriteScript, [newKeys[p]], whole ?? Arguments(table, after, current)));
                    }
                    break;
            }
        }
        await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// A load's first slice: deletes the hashes of the tables it loads, and those the sink wrote before under a publication
    /// (or for a table) the load does not rewrite: a table removed from the publications while pgrelay was down, a
    /// publication it left, a table the rules route elsewhere now.
    /// </summary>
    private async Task ClearForLoadAsync(ConnectionMultiplexer redis, SinkBatch batch, CancellationToken ct)
    {
        var cleared = new HashSet<(string Publication, string Table)>();
        foreach (var table in batch.LoadStartTables ?? [])
            foreach (var source in store.Tables.Where(t => t.RelationId == table.SourceSchema.RelationId))
            {
                await DeleteTableAsync(redis, source, table, ct).ConfigureAwait(false);
                foreach (var publication in PublicationsOf(source)) cleared.Add((publication, table.KeyName));
            }
        foreach (var table in batch.LoadWrittenTables ?? [])
            if (table.Publications.Where(p => cleared.Add((p, table.KeyName))).ToArray() is { Length: > 0 } stale)
                await ForEachKeyAsync(redis, table.KeyName, stale, (db, key) => db.KeyDeleteAsync(key), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The batch with replayed events of tables with an identity index on other columns given the old key they lack (see
    /// <see cref="IdentityKeys"/>): the hashes hold the identity columns, so the table's hashes are read (SCAN, HMGET) for
    /// the identities the batch names. Only replays of such tables pay for it.
    /// </summary>
    private async Task<List<ChangeEvent>> FindOldKeysAsync(ConnectionMultiplexer redis, List<ChangeEvent> events, CancellationToken ct)
    {
        var tables = new Dictionary<SinkTable, (IdentityKeys Keys, HashSet<string> Wanted)>(ReferenceEqualityComparer.Instance);
        foreach (var e in events)
        {
            if (!e.Replayed || e.Table is not { } table) continue;
            if (!tables.TryGetValue(table, out var found))
            {
                if (IdentityKeys.For(table) is not { } keys) continue;
                tables[table] = found = (keys, new HashSet<string>(StringComparer.Ordinal));
            }
            if (found.Keys.Needed(e) is { } identity) found.Wanted.Add(identity);
        }
        if (tables.Values.All(t => t.Wanted.Count == 0)) return events;
        var db = redis.GetDatabase();
        foreach (var (table, (keys, wanted)) in tables)
        {
            if (wanted.Count == 0) continue;
            var source = events.First(e => ReferenceEquals(e.Table, table)).SourceTable;
            if (source is null || PublicationsOf(source) is not [var publication, ..]) continue;
            RedisValue[] fields = [.. table.KeyColumns.Concat(keys.Columns).Select(c => (RedisValue)table.Columns[c].Utf8Name)];
            int k = table.KeyColumns.Length;
            var pattern = Glob($"{_prefix}{publication}.{table.KeyName}.") + "*";
            foreach (var server in Primaries(redis))
                await foreach (var hash in server.KeysAsync(db.Database, pattern, pageSize: 1000).WithCancellation(ct).ConfigureAwait(false))
                {
                    var values = await db.HashGetAsync(hash, fields).WaitAsync(ct).ConfigureAwait(false);
                    if (values.Any(v => v.IsNull)) continue;
                    var identity = string.Join('\0', values.Skip(k).Select(v => (string)v!));
                    if (wanted.Contains(identity)) keys.Known(identity, [.. values.Take(k).Select(v => (string)v!)]);
                }
        }
        var resolved = new List<ChangeEvent>(events.Count);
        foreach (var e in events)
            resolved.Add(e.Table is { } table && tables.TryGetValue(table, out var found) ? found.Keys.Resolve(e) : e);
        return resolved;
    }

    /// <summary>
    /// The script's arguments for a row: a complete row replaces the hash; a partial one sets its values, deletes its
    /// NULL fields and, for a key that does not exist yet, sets the values it lacks from <paramref name="fallback"/>.
    /// </summary>
    private static RedisValue[] Arguments(SinkTable table, SinkValue[] row, SinkValue[]? fallback)
    {
        int values = 0, nulls = 0, missing = 0;
        foreach (var v in row)
        {
            if (v.State == ColumnState.Value) values++;
            else if (v.State == ColumnState.Null) nulls++;
        }
        bool complete = !SinkValue.AnyUnknown(row);
        if (!complete && fallback is not null)
            for (int i = 0; i < row.Length; i++)
                if (row[i].IsUnknown && i < fallback.Length && fallback[i].IsValue) missing++;
        if (complete) nulls = 0;   // the hash is replaced: NULL fields are simply not there
        var args = new RedisValue[4 + 2 * values + nulls + 2 * missing];
        args[0] = complete ? "1" : "0";
        args[1] = values;
        int set = 2, deletes = 3 + 2 * values, fallbacks = 4 + 2 * values + nulls;
        args[2 + 2 * values] = nulls;
        args[3 + 2 * values + nulls] = missing;
        for (int i = 0; i < row.Length; i++)
        {
            var name = table.Columns[i].Utf8Name;
            if (row[i].State == ColumnState.Value)
            {
                args[set++] = name;
                args[set++] = row[i].Bytes;
            }
            else if (row[i].State == ColumnState.Null && !complete) args[deletes++] = name;
            else if (missing > 0 && row[i].IsUnknown && i < fallback!.Length && fallback[i].IsValue)
            {
                args[fallbacks++] = name;
                args[fallbacks++] = fallback[i].Bytes;
            }
        }
        return args;
    }

    /// <summary>The new row with the values it lacks taken from the old hash (a field the hash lacks is NULL).</summary>
    private static SinkValue[] CarryOver(SinkTable table, SinkValue[] after, HashEntry[] old)
    {
        var row = (SinkValue[])after.Clone();
        for (int i = 0; i < row.Length; i++)
        {
            if (!row[i].IsUnknown) continue;
            row[i] = SinkValue.Null;
            foreach (var entry in old)
                if (((byte[])entry.Name!).AsSpan().SequenceEqual(table.Columns[i].Utf8Name))
                {
                    row[i] = new SinkValue(ColumnState.Value, (byte[])entry.Value!);
                    break;
                }
        }
        return row;
    }

    private IEnumerable<RedisKey> KeysOf(StoredTable source, SinkTable table, string? rowKey)
    {
        if (rowKey is null) yield break;
        foreach (var publication in PublicationsOf(source))
            yield return (RedisKey)$"{_prefix}{publication}.{table.KeyName}.{rowKey}";
    }

    private string[] PublicationsOf(StoredTable source)
    {
        var current = store.Publications;
        if (!ReferenceEquals(current, _publicationsOf))
        {
            _publications.Clear();
            _publicationsOf = current;
        }
        if (!_publications.TryGetValue(source, out var names))
            _publications[source] = names = current.Where(p => p.Tables.Contains(source)).Select(p => p.KeyName).ToArray();
        return names;
    }

    public bool WantsSchemaChanges => true;

    /// <summary>Deletes every hash of the table; a table removed from the publications names the ones that held it.</summary>
    private Task DeleteTableAsync(ConnectionMultiplexer redis, StoredTable source, SinkTable table, CancellationToken ct,
        string[]? publications = null) =>
        ForEachKeyAsync(redis, source, table, (db, key) => db.KeyDeleteAsync(key), ct, publications);

    /// <summary>
    /// The table's publications changed while it stays published: the hashes of the publications it left go, and every row
    /// is written under each publication holding it now (the ones it joined lack them; the others are rewritten as they
    /// are). The rows are the store's current ones, ahead of the feed: the changes after this one follow and bring each
    /// key to where the feed ends.
    /// </summary>
    private async Task RepublishAsync(ConnectionMultiplexer redis, StoredTable source, SinkTable table, string[] left,
        Func<SinkTable, IEnumerable<(SinkValue[] Row, int Copies)>>? publishedRows, CancellationToken ct)
    {
        if (left.Length > 0) await DeleteTableAsync(redis, source, table, ct, left).ConfigureAwait(false);
        if (publishedRows is null) return;
        var db = redis.GetDatabase();
        var pending = new List<Task>(1000);
        var keyOf = new ChangeEvent { Op = EventOp.Read, Table = table };
        foreach (var (row, copies) in publishedRows(table))
        {
            var arguments = Arguments(table, row, null);
            for (int copy = 1; copy <= copies; copy++)
                foreach (var key in KeysOf(source, table, keyOf.KeyOf(row, copy))) pending.Add(db.ScriptEvaluateAsync(WriteScript, [key], arguments));
            if (pending.Count < 1000) continue;
            await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
            pending.Clear();
        }
        await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Gives every hash of the table the new shape, column by name: fields of columns whose name is gone are deleted. A
    /// changed type keeps the stored text. Live, the store's reload of the table follows with every row in the new shape
    /// (added columns filled, a rename read as a drop and an add). A replay has no reload rows: an added column's values
    /// are set from the store's rows on the hashes that exist (later replayed changes overwrite them).
    /// </summary>
    private async Task AlterAsync(ConnectionMultiplexer redis, StoredTable source, ChangeEvent e,
        Func<SinkTable, IEnumerable<SinkValue[]>>? storeRows, CancellationToken ct)
    {
        var table = e.Table!;
        var drops = new List<RedisValue>();
        var added = new List<int>();
        if (e is { PreviousTable: { } before, PreviousColumns: { } continues })
        {
            for (int i = 0; i < before.Columns.Count; i++)
                if (!continues.Contains(i)) drops.Add(before.Columns[i].Utf8Name);
            for (int i = 0; i < continues.Length; i++)
                if (continues[i] < 0) added.Add(i);
        }
        else added.AddRange(Enumerable.Range(0, table.Columns.Count).Where(i => !table.Columns[i].IsKey));
        if (drops.Count > 0)
        {
            RedisValue[] arguments = [drops.Count, .. drops, 0, 0];
            await ForEachKeyAsync(redis, source, table, (db, key) => db.ScriptEvaluateAsync(AlterScript, [key], arguments), ct).ConfigureAwait(false);
        }
        if (added.Count == 0 || !(e.Replayed || e.PreviousTable is null) || storeRows is null || table.IsMultiset) return;
        var db = redis.GetDatabase();
        var pending = new List<Task>(1000);
        foreach (var row in storeRows(table))
        {
            var fields = new List<RedisValue>();
            foreach (var i in added)
                if (row[i].IsValue)
                {
                    fields.Add(table.Columns[i].Utf8Name);
                    fields.Add(row[i].Bytes);
                }
            if (fields.Count == 0) continue;
            RedisValue[] arguments = [fields.Count / 2, .. fields];
            foreach (var key in KeysOf(source, table, e.KeyOf(row))) pending.Add(db.ScriptEvaluateAsync(FillScript, [key], arguments));
            if (pending.Count >= 1000)
            {
                await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
                pending.Clear();
            }
        }
        await Task.WhenAll(pending).WaitAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Runs <paramref name="action"/> on every key of the table (each publication's), found by SCAN on every primary.</summary>
    private Task ForEachKeyAsync(ConnectionMultiplexer redis, StoredTable source, SinkTable table, Func<IDatabase, RedisKey, Task> action,
        CancellationToken ct, string[]? publications = null) =>
        ForEachKeyAsync(redis, table.KeyName, publications ?? PublicationsOf(source), action, ct);

    /// <summary>Runs <paramref name="action"/> on every key of the table named <paramref name="keyName"/> under these publications.</summary>
    private async Task ForEachKeyAsync(ConnectionMultiplexer redis, string keyName, IReadOnlyList<string> publications, Func<IDatabase, RedisKey, Task> action,
        CancellationToken ct)
    {
        var db = redis.GetDatabase();
        foreach (var publication in publications)
        {
            var pattern = Glob($"{_prefix}{publication}.{keyName}.") + "*";
            foreach (var server in Primaries(redis))
            {
                var batch = new List<Task>(1000);
                await foreach (var key in server.KeysAsync(db.Database, pattern, pageSize: 1000).WithCancellation(ct).ConfigureAwait(false))
                {
                    // One key per call: on a cluster, a multi-key command must stay in one hash slot.
                    batch.Add(action(db, key));
                    if (batch.Count == 1000)
                    {
                        await Task.WhenAll(batch).ConfigureAwait(false);
                        batch.Clear();
                    }
                }
                await Task.WhenAll(batch).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Every server that holds keys: in a cluster the masters serving slots, else the non-replicas. All must be reachable:
    /// a truncate that skipped an unreachable one would leave its keys behind once it is back, so the batch waits instead.
    /// </summary>
    private static List<IServer> Primaries(ConnectionMultiplexer redis)
    {
        var servers = redis.GetServers();
        IEnumerable<IServer> primaries = servers.Where(s => !s.IsReplica);
        if (servers.FirstOrDefault(s => s.IsConnected && s.ServerType == ServerType.Cluster)?.ClusterConfiguration is { } cluster)
            primaries = cluster.Nodes.Where(n => !n.IsReplica && n.Slots.Count > 0).Select(n => redis.GetServer(n.EndPoint));
        var list = primaries.ToList();
        if (list.FirstOrDefault(s => !s.IsConnected) is { } away)
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, CommandFlags.None,
                $"Redis {away.EndPoint} is not connected, so the keys it holds cannot be removed", null, CommandStatus.Unknown);
        return list;
    }

    private static string Glob(string literal)
    {
        var sb = new StringBuilder(literal.Length + 8);
        foreach (var c in literal)
        {
            if (c is '*' or '?' or '[' or ']' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        if (_redis is not null) await _redis.DisposeAsync().ConfigureAwait(false);
        _redis = null;
    }
}
