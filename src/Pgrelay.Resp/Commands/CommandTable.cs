using System.Collections.Frozen;
using static Pgrelay.Resp.Commands.AclCategories;
using F = Pgrelay.Resp.Commands.CommandFlags;

namespace Pgrelay.Resp.Commands;

/// <summary>
/// Every command the server knows, looked up by name without allocating (the name bytes are widened into a
/// stack buffer and matched case-insensitively through the dictionary's span lookup).
/// </summary>
public sealed class CommandTable
{
    private readonly FrozenDictionary<string, CommandDefinition>.AlternateLookup<ReadOnlySpan<char>> _lookup;

    public static CommandTable Default { get; } = new(Build());

    private CommandTable(List<CommandDefinition> commands)
    {
        var every = new List<CommandDefinition>();
        foreach (var command in commands)
        {
            every.Add(command);
            every.AddRange(command.Subcommands);
        }
        for (int i = 0; i < every.Count; i++) every[i].Index = i;
        All = commands;
        Every = every;
        var byName = commands.ToFrozenDictionary(c => c.Name, StringComparer.OrdinalIgnoreCase);
        _lookup = byName.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Top-level commands, as COMMAND lists them.</summary>
    public IReadOnlyList<CommandDefinition> All { get; }
    public int Count => All.Count;

    /// <summary>Commands and subcommands: every one has an <see cref="CommandDefinition.Index"/> below <see cref="BitCount"/>.</summary>
    public IReadOnlyList<CommandDefinition> Every { get; }
    public int BitCount => Every.Count;

    public CommandDefinition? Find(ReadOnlySpan<byte> name)
    {
        if (name.Length == 0 || name.Length > 32) return null;
        Span<char> chars = stackalloc char[name.Length];
        for (int i = 0; i < name.Length; i++) chars[i] = (char)name[i];
        return _lookup.TryGetValue(chars, out var command) ? command : null;
    }

    public CommandDefinition? Find(string name) => _lookup.TryGetValue(name.AsSpan(), out var command) ? command : null;

    /// <summary>A command or, for <c>client|kill</c>, a subcommand by its full name; null when either part is unknown.</summary>
    public CommandDefinition? FindFull(string fullName)
    {
        int bar = fullName.IndexOf('|');
        if (bar < 0) return Find(fullName);
        var parent = Find(fullName[..bar]);
        return parent?.FindSubcommand(System.Text.Encoding.UTF8.GetBytes(fullName[(bar + 1)..]));
    }

    private static List<CommandDefinition> Build()
    {
        var list = new List<CommandDefinition>();
        CommandDefinition Add(string name, int arity, F flags, AclCategories categories, int first, int last, int step, string group, string summary, CommandHandler handler,
            ChannelArguments channels = ChannelArguments.None)
        {
            var command = new CommandDefinition(name, arity, flags, categories, first, last, step, group, summary, handler) { ChannelArguments = channels };
            list.Add(command);
            return command;
        }
        static void Sub(CommandDefinition parent, string name, int arity, AclCategories categories, string summary, int first = 0, int last = 0, int step = 0) =>
            parent.AddSubcommand(new CommandDefinition(parent, name, arity, parent.Flags, categories, first, last, step, summary));
        void Write(string name, int arity, AclCategories categories, int first = 1, int last = 1, int step = 1) =>
            list.Add(new CommandDefinition(name, arity, F.Write | F.DenyWrite, categories | AclCategories.Write, first, last, step,
                "write", "Refused: pgrelay serves a read-only replica of PostgreSQL", WriteCommands.Deny));

        // Hashes: every row is a hash.
        Add("hgetall", 2, F.ReadOnly, Read | Hash | Slow, 1, 1, 1, "hash", "Returns all fields and values in a hash.", HashCommands.HGetAll);
        Add("hget", 3, F.ReadOnly | F.Fast, Read | Hash | Fast, 1, 1, 1, "hash", "Returns the value of a field in a hash.", HashCommands.HGet);
        Add("hmget", -3, F.ReadOnly | F.Fast, Read | Hash | Fast, 1, 1, 1, "hash", "Returns the values of all fields in a hash.", HashCommands.HMGet);
        Add("hexists", 3, F.ReadOnly | F.Fast, Read | Hash | Fast, 1, 1, 1, "hash", "Determines whether a field exists in a hash.", HashCommands.HExists);
        Add("hkeys", 2, F.ReadOnly, Read | Hash | Slow, 1, 1, 1, "hash", "Returns all fields in a hash.", HashCommands.HKeys);
        Add("hvals", 2, F.ReadOnly, Read | Hash | Slow, 1, 1, 1, "hash", "Returns all values in a hash.", HashCommands.HVals);
        Add("hlen", 2, F.ReadOnly | F.Fast, Read | Hash | Fast, 1, 1, 1, "hash", "Returns the number of fields in a hash.", HashCommands.HLen);
        Add("hstrlen", 3, F.ReadOnly | F.Fast, Read | Hash | Fast, 1, 1, 1, "hash", "Returns the length of the value of a field.", HashCommands.HStrLen);
        Add("hscan", -3, F.ReadOnly, Read | Hash | Slow, 1, 1, 1, "hash", "Iterates over fields and values of a hash.", HashCommands.HScan);
        Add("json.get", -2, F.ReadOnly, Read | Slow, 1, 1, 1, "json", "Returns a row, or one column of it, as JSON.", HashCommands.JsonGet);

        // Keyspace.
        Add("exists", -2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, -1, 1, "generic", "Determines whether one or more keys exist.", KeyCommands.Exists);
        Add("type", 2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, 1, 1, "generic", "Determines the type of value stored at a key.", KeyCommands.Type);
        Add("keys", 2, F.ReadOnly, AclCategories.Keyspace | Read | Slow | Dangerous, 0, 0, 0, "generic", "Returns all key names that match a pattern.", KeyCommands.Keys);
        Add("scan", -2, F.ReadOnly, AclCategories.Keyspace | Read | Slow, 0, 0, 0, "generic", "Iterates over the key names in the database.", KeyCommands.Scan);
        Add("dbsize", 1, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 0, 0, 0, "server", "Returns the number of keys in the database.", KeyCommands.DbSize);
        Add("ttl", 2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, 1, 1, "generic", "Returns the expiration time in seconds of a key.", KeyCommands.Ttl);
        Add("pttl", 2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, 1, 1, "generic", "Returns the expiration time in milliseconds of a key.", KeyCommands.Ttl);
        Add("expiretime", 2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, 1, 1, "generic", "Returns the expiration time of a key as a Unix timestamp.", KeyCommands.Ttl);
        Add("pexpiretime", 2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, 1, 1, "generic", "Returns the expiration time of a key as a Unix milliseconds timestamp.", KeyCommands.Ttl);
        Add("touch", -2, F.ReadOnly | F.Fast, AclCategories.Keyspace | Read | Fast, 1, -1, 1, "generic", "Returns the number of existing keys out of those specified.", KeyCommands.Exists);
        Add("get", 2, F.ReadOnly | F.Fast, Read | AclCategories.String | Fast, 1, 1, 1, "string", "Returns the string value of a key.", KeyCommands.Get);
        Add("mget", -2, F.ReadOnly | F.Fast, Read | AclCategories.String | Fast, 1, -1, 1, "string", "Atomically returns the string values of one or more keys.", KeyCommands.MGet);
        var memory = Add("memory", -2, F.ReadOnly, Slow, 0, 0, 0, "server", "A container for memory diagnostics commands.", KeyCommands.Memory);
        Sub(memory, "usage", -3, Read | Slow, "Estimates the memory usage of a key.", first: 2, last: 2, step: 1);
        Sub(memory, "stats", 2, Slow, "Returns details about memory usage.");
        Sub(memory, "doctor", 2, Slow, "Outputs a memory problems report.");
        Sub(memory, "purge", 2, Slow, "Asks the allocator to release memory.");
        Sub(memory, "help", 2, Slow, "Returns helpful text about the different subcommands.");
        var obj = Add("object", -2, F.ReadOnly, Slow, 0, 0, 0, "generic", "A container for object introspection commands.", KeyCommands.Object);
        Sub(obj, "encoding", 3, AclCategories.Keyspace | Read | Slow, "Returns the internal encoding of a Redis object.", first: 2, last: 2, step: 1);
        Sub(obj, "freq", 3, AclCategories.Keyspace | Read | Slow, "Returns the logarithmic access frequency counter of a Redis object.", first: 2, last: 2, step: 1);
        Sub(obj, "idletime", 3, AclCategories.Keyspace | Read | Slow, "Returns the time since the last access to a Redis object.", first: 2, last: 2, step: 1);
        Sub(obj, "refcount", 3, AclCategories.Keyspace | Read | Slow, "Returns the reference count of a value of a key.", first: 2, last: 2, step: 1);
        Sub(obj, "help", 2, AclCategories.Keyspace | Slow, "Returns helpful text about the different subcommands.");
        Add("randomkey", 1, F.ReadOnly, AclCategories.Keyspace | Read | Slow, 0, 0, 0, "generic", "Returns a random key name from the database.", KeyCommands.RandomKey);

        // Connection.
        Add("ping", -1, F.Fast | F.SubscriberContext, Fast | Connection, 0, 0, 0, "connection", "Returns the server's liveliness response.", ConnectionCommands.Ping);
        Add("echo", 2, F.Fast, Fast | Connection, 0, 0, 0, "connection", "Returns the given string.", ConnectionCommands.Echo);
        Add("hello", -1, F.NoAuth | F.Fast | F.Stale | F.Loading, Fast | Connection, 0, 0, 0, "connection", "Handshakes with the Redis server.", ConnectionCommands.Hello);
        Add("auth", -2, F.NoAuth | F.Fast | F.Stale | F.Loading, Fast | Connection, 0, 0, 0, "connection", "Authenticates the connection.", ConnectionCommands.Auth);
        Add("select", 2, F.Fast | F.Loading | F.Stale, Fast | Connection, 0, 0, 0, "connection", "Changes the selected database.", ConnectionCommands.Select);
        Add("quit", -1, F.NoAuth | F.Fast | F.SubscriberContext, Fast | Connection, 0, 0, 0, "connection", "Closes the connection.", ConnectionCommands.Quit);
        Add("reset", 1, F.NoAuth | F.Fast | F.SubscriberContext | F.NoMulti, Fast | Connection, 0, 0, 0, "connection", "Resets the connection.", ConnectionCommands.Reset);
        var client = Add("client", -2, F.None, Slow | Connection, 0, 0, 0, "connection", "A container for client connection commands.", ClientCommands.Client);
        Sub(client, "id", 2, Slow | Connection, "Returns the unique client ID of the connection.");
        Sub(client, "setname", 3, Slow | Connection, "Sets the connection name.");
        Sub(client, "getname", 2, Slow | Connection, "Returns the name of the connection.");
        Sub(client, "list", -2, Admin | Slow | Dangerous | Connection, "Lists open connections.");
        Sub(client, "info", 2, Slow | Connection, "Returns information about the connection.");
        Sub(client, "kill", -3, Admin | Slow | Dangerous | Connection, "Terminates open connections.");
        Sub(client, "setinfo", 4, Slow | Connection, "Sets information specific to the client or connection.");
        Sub(client, "tracking", -3, Slow | Connection, "Controls server-assisted client-side caching for the connection.");
        Sub(client, "caching", 3, Slow | Connection, "Instructs the server whether to track the keys in the next request.");
        Sub(client, "getredir", 2, Slow | Connection, "Returns the client ID to which the connection's tracking notifications are redirected.");
        Sub(client, "trackinginfo", 2, Slow | Connection, "Returns information about server-assisted client-side caching for the connection.");
        Sub(client, "no-evict", 3, Admin | Slow | Dangerous | Connection, "Sets the client eviction mode of the connection.");
        Sub(client, "no-touch", 3, Slow | Connection, "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.");
        Sub(client, "help", 2, Slow | Connection, "Returns helpful text about the different subcommands.");

        // Server.
        Add("info", -1, F.Loading | F.Stale, Slow | Dangerous, 0, 0, 0, "server", "Returns information and statistics about the server.", ServerCommands.Info);
        var command = Add("command", -1, F.Loading | F.Stale, Slow | Connection, 0, 0, 0, "server", "Returns detailed information about all commands.", ServerCommands.Command);
        Sub(command, "count", 2, Slow | Connection, "Returns a count of commands.");
        Sub(command, "info", -2, Slow | Connection, "Returns information about one, multiple or all commands.");
        Sub(command, "docs", -2, Slow | Connection, "Returns documentary information about one, multiple or all commands.");
        Sub(command, "list", -2, Slow | Connection, "Returns a list of command names.");
        Sub(command, "help", 2, Slow | Connection, "Returns helpful text about the different subcommands.");
        var config = Add("config", -2, F.Admin | F.Loading | F.Stale, Admin | Slow | Dangerous, 0, 0, 0, "server", "A container for server configuration commands.", ServerCommands.Config);
        Sub(config, "get", -3, Admin | Slow | Dangerous, "Returns the effective values of configuration parameters.");
        Sub(config, "set", -4, Admin | Slow | Dangerous, "Sets configuration parameters in-flight.");
        Sub(config, "resetstat", 2, Admin | Slow | Dangerous, "Resets the server's statistics.");
        Sub(config, "rewrite", 2, Admin | Slow | Dangerous, "Persists the effective configuration to file.");
        Sub(config, "help", 2, Slow, "Returns helpful text about the different subcommands.");
        Add("time", 1, F.Fast | F.Loading | F.Stale, Fast, 0, 0, 0, "server", "Returns the server time.", ServerCommands.Time);
        Add("role", 1, F.Fast | F.Loading | F.Stale, Admin | Fast | Dangerous, 0, 0, 0, "server", "Returns the replication role.", ServerCommands.Role);
        Add("lastsave", 1, F.Fast | F.Loading | F.Stale, Admin | Fast | Dangerous, 0, 0, 0, "server", "Returns the Unix timestamp of the last successful save to disk.", ServerCommands.LastSave);
        var acl = Add("acl", -2, F.None, Slow, 0, 0, 0, "server", "A container for Access List Control commands.", AclCommands.Acl);
        Sub(acl, "cat", -2, Slow, "Lists the ACL categories, or the commands inside a category.");
        Sub(acl, "deluser", -3, Admin | Slow | Dangerous, "Deletes ACL users, and terminates their connections.");
        Sub(acl, "dryrun", -4, Admin | Slow | Dangerous, "Simulates the execution of a command by a user, without executing the command.");
        Sub(acl, "genpass", -2, Slow, "Generates a pseudorandom, secure password that can be used to identify ACL users.");
        Sub(acl, "getuser", 3, Admin | Slow | Dangerous, "Lists the ACL rules of a user.");
        Sub(acl, "list", 2, Admin | Slow | Dangerous, "Dumps the effective rules in ACL file format.");
        Sub(acl, "load", 2, Admin | Slow | Dangerous, "Reloads the rules from the configured ACL file.");
        Sub(acl, "log", -2, Admin | Slow | Dangerous, "Lists recent security events generated due to ACL rules.");
        Sub(acl, "save", 2, Admin | Slow | Dangerous, "Saves the effective ACL rules in the configured ACL file.");
        Sub(acl, "setuser", -3, Admin | Slow | Dangerous, "Creates and modifies an ACL user and its rules.");
        Sub(acl, "users", 2, Admin | Slow | Dangerous, "Lists all ACL users.");
        Sub(acl, "whoami", 2, Slow, "Returns the authenticated username of the current connection.");
        Sub(acl, "help", 2, Slow, "Returns helpful text about the different subcommands.");

        // Transactions.
        Add("multi", 1, F.Fast | F.NoMulti, Fast | Transaction, 0, 0, 0, "transactions", "Starts a transaction.", TransactionCommands.Multi);
        Add("exec", 1, F.NoMulti, Slow | Transaction, 0, 0, 0, "transactions", "Executes all commands in a transaction.", TransactionCommands.Exec);
        Add("discard", 1, F.Fast | F.NoMulti, Fast | Transaction, 0, 0, 0, "transactions", "Discards a transaction.", TransactionCommands.Discard);
        Add("watch", -2, F.Fast | F.NoMulti, Fast | Transaction, 1, -1, 1, "transactions", "Monitors changes to keys to determine the execution of a transaction.", TransactionCommands.Watch);
        Add("unwatch", 1, F.Fast | F.NoMulti, Fast | Transaction, 0, 0, 0, "transactions", "Forgets about watched keys of a transaction.", TransactionCommands.Unwatch);

        // Pub/sub.
        Add("subscribe", -2, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Listens for messages published to channels.", PubSubCommands.Subscribe, ChannelArguments.All);
        Add("psubscribe", -2, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Listens for messages published to channels that match patterns.", PubSubCommands.PSubscribe, ChannelArguments.AllPatterns);
        Add("unsubscribe", -1, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Stops listening to messages posted to channels.", PubSubCommands.Unsubscribe);
        Add("punsubscribe", -1, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Stops listening to messages published to channels that match patterns.", PubSubCommands.PUnsubscribe);
        Add("publish", 3, F.PubSub | F.Fast, AclCategories.PubSub | Fast, 0, 0, 0, "pubsub", "Posts a message to a channel.", PubSubCommands.Publish, ChannelArguments.First);
        Add("ssubscribe", -2, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Listens for messages published to shard channels.", PubSubCommands.SSubscribe, ChannelArguments.All);
        Add("sunsubscribe", -1, F.PubSub | F.SubscriberContext, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "Stops listening to messages posted to shard channels.", PubSubCommands.SUnsubscribe);
        Add("spublish", 3, F.PubSub | F.Fast, AclCategories.PubSub | Fast, 0, 0, 0, "pubsub", "Post a message to a shard channel.", PubSubCommands.SPublish, ChannelArguments.First);
        var pubsub = Add("pubsub", -2, F.PubSub, AclCategories.PubSub | Slow, 0, 0, 0, "pubsub", "A container for Pub/Sub commands.", PubSubCommands.PubSub);
        Sub(pubsub, "channels", -2, AclCategories.PubSub | Slow, "Returns the active channels.");
        Sub(pubsub, "numsub", -2, AclCategories.PubSub | Slow, "Returns a count of subscribers to channels.");
        Sub(pubsub, "numpat", 2, AclCategories.PubSub | Slow, "Returns a count of unique pattern subscriptions.");
        Sub(pubsub, "shardchannels", -2, AclCategories.PubSub | Slow, "Returns the active shard channels.");
        Sub(pubsub, "shardnumsub", -2, AclCategories.PubSub | Slow, "Returns the count of subscribers of shard channels.");
        Sub(pubsub, "help", 2, Slow, "Returns helpful text about the different subcommands.");

        // Writes: refused with a message saying where writes go.
        Write("set", -3, AclCategories.String | Slow);
        Write("setnx", 3, AclCategories.String | Fast);
        Write("setex", 4, AclCategories.String | Slow);
        Write("psetex", 4, AclCategories.String | Slow);
        Write("mset", -3, AclCategories.String | Slow, 1, -1, 2);
        Write("msetnx", -3, AclCategories.String | Slow, 1, -1, 2);
        Write("append", 3, AclCategories.String | Fast);
        Write("incr", 2, AclCategories.String | Fast);
        Write("decr", 2, AclCategories.String | Fast);
        Write("incrby", 3, AclCategories.String | Fast);
        Write("decrby", 3, AclCategories.String | Fast);
        Write("incrbyfloat", 3, AclCategories.String | Fast);
        Write("getset", 3, AclCategories.String | Fast);
        Write("getdel", 2, AclCategories.String | Fast);
        Write("getex", -2, AclCategories.String | Fast);
        Write("setrange", 4, AclCategories.String | Slow);
        Write("del", -2, AclCategories.Keyspace | Slow, 1, -1, 1);
        Write("unlink", -2, AclCategories.Keyspace | Fast, 1, -1, 1);
        Write("expire", -3, AclCategories.Keyspace | Fast);
        Write("pexpire", -3, AclCategories.Keyspace | Fast);
        Write("expireat", -3, AclCategories.Keyspace | Fast);
        Write("pexpireat", -3, AclCategories.Keyspace | Fast);
        Write("persist", 2, AclCategories.Keyspace | Fast);
        Write("rename", 3, AclCategories.Keyspace | Slow, 1, 2, 1);
        Write("renamenx", 3, AclCategories.Keyspace | Fast, 1, 2, 1);
        Write("move", 3, AclCategories.Keyspace | Fast);
        Write("copy", -3, AclCategories.Keyspace | Slow, 1, 2, 1);
        Write("restore", -4, AclCategories.Keyspace | Slow | Dangerous);
        Write("hset", -4, Hash | Fast);
        Write("hsetnx", 4, Hash | Fast);
        Write("hmset", -4, Hash | Fast);
        Write("hdel", -3, Hash | Fast);
        Write("hincrby", 4, Hash | Fast);
        Write("hincrbyfloat", 4, Hash | Fast);
        Write("lpush", -3, AclCategories.List | Fast);
        Write("rpush", -3, AclCategories.List | Fast);
        Write("lpop", -2, AclCategories.List | Fast);
        Write("rpop", -2, AclCategories.List | Fast);
        Write("sadd", -3, AclCategories.Set | Fast);
        Write("srem", -3, AclCategories.Set | Fast);
        Write("zadd", -4, SortedSet | Fast);
        Write("zrem", -3, SortedSet | Fast);
        Write("xadd", -5, AclCategories.Stream | Fast);
        Write("pfadd", -2, HyperLogLog | Fast);
        Write("flushall", -1, AclCategories.Keyspace | Slow | Dangerous, 0, 0, 0);
        Write("flushdb", -1, AclCategories.Keyspace | Slow | Dangerous, 0, 0, 0);
        Write("swapdb", 3, AclCategories.Keyspace | Fast | Dangerous, 0, 0, 0);
        return list;
    }
}
