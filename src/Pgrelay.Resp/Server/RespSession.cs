using System.IO.Pipelines;
using System.Text;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.PubSub;
using Pgrelay.Resp.Tracking;
using Pgrelay.Store;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;

namespace Pgrelay.Resp.Server;

/// <summary>
/// One client connection: reads requests, runs them in order and writes replies to the same pipe. Pub/sub
/// messages and invalidations arrive from the notification thread into an outbox; a pump writes them between
/// replies, so the two never interleave inside one reply.
/// </summary>
public sealed class RespSession
{
    /// <summary>Replies are flushed at least this often during a pipelined batch, so memory stays bounded.</summary>
    private const int FlushThreshold = 64 * 1024;

    private readonly ConnectionContext _connection;
    private readonly PipeWriter _output;
    private readonly RespRequest _request = new();
    private readonly RespRequest _queuedRequest = new();
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly object _subscriptionGate = new();
    private readonly HashSet<string> _channels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _patterns = new(StringComparer.Ordinal);
    private readonly HashSet<string> _shardChannels = new(StringComparer.Ordinal);
    private Channel<OutboundMessage>? _outbox;
    private long _outboxBytes;
    private long _lastInteractionTicks;
    private CommandDefinition? _lastCommand;
    private int _uncountedCommands;
    private volatile bool _closed;

    internal RespSession(RespServer server, ConnectionContext connection, long id)
    {
        Server = server;
        _connection = connection;
        _output = connection.Transport.Output;
        Writer = new RespWriter(_output);
        Id = id;
        RemoteAddress = connection.RemoteEndPoint?.ToString() ?? "?";
        LocalAddress = connection.LocalEndPoint?.ToString() ?? "?";
        User = server.Acl.Default;
        IsAuthenticated = !server.Acl.RequiresAuthentication;
        Tracking = new TrackingState();
        _lastInteractionTicks = DateTime.UtcNow.Ticks;
    }

    public RespServer Server { get; }
    public ReplicatedStore Store => Server.Store;
    public RespWriter Writer { get; }
    public long Id { get; }
    public string? Name { get; internal set; }
    public string RemoteAddress { get; }
    public string LocalAddress { get; }
    public AclUser User { get; internal set; }
    public bool IsAuthenticated { get; internal set; }
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset LastInteraction => new(Interlocked.Read(ref _lastInteractionTicks), TimeSpan.Zero);
    public string LastCommandName => _lastCommand?.FullName ?? "NULL";
    public TrackingState Tracking { get; }

    /// <summary>A reusable buffer for replies that must be rendered before their length is known (JSON.GET).</summary>
    internal Keyspace.KeyBuffer Scratch { get; } = new();
    public long OutboxBytes => Interlocked.Read(ref _outboxBytes);

    // ---- MULTI state ----
    internal List<byte[][]>? Queued { get; set; }
    internal bool MultiFailed { get; set; }
    internal List<WatchedKey>? Watched { get; set; }
    /// <summary>Set while EXEC runs: every read sees this one snapshot.</summary>
    internal StorePin? Pin { get; set; }

    /// <summary>Set by QUIT: close once the reply is written.</summary>
    internal bool CloseAfterReply { get; set; }

    // ---------------- request loop ----------------

    internal async Task RunAsync()
    {
        var input = _connection.Transport.Input;
        var limits = Server.Options.Limits;
        try
        {
            while (!_closed)
            {
                var read = await input.ReadAsync(_connection.ConnectionClosed);
                var buffer = read.Buffer;
                bool close = false;
                await _writeGate.WaitAsync();
                // Once per batch of requests, not per command: a shared clock read and a contended counter
                // per command cost more than a pipelined HGET itself.
                Interlocked.Exchange(ref _lastInteractionTicks, DateTime.UtcNow.Ticks);
                try
                {
                    while (!close)
                    {
                        RespReader.Result result;
                        try
                        {
                            result = RespReader.TryParse(ref buffer, _request, limits);
                        }
                        catch (RespProtocolException e)
                        {
                            Server.Stats.ProtocolError();
                            Writer.WriteError("ERR Protocol error: " + e.Message);
                            close = true;
                            break;
                        }
                        if (result == RespReader.Result.Incomplete) break;
                        if (result == RespReader.Result.Empty) continue;
                        Execute(_request);
                        if (CloseAfterReply) close = true;
                        if (_output.UnflushedBytes > FlushThreshold) await _output.FlushAsync();
                    }
                    PublishCommandCount();
                    input.AdvanceTo(buffer.Start, buffer.End);
                    await _output.FlushAsync();
                }
                finally
                {
                    _writeGate.Release();
                }
                if (close || read.IsCompleted || read.IsCanceled) break;   // canceled: the server is stopping
            }
        }
        catch (OperationCanceledException) { }
        catch (ConnectionResetException) { }
        catch (IOException) { }
        catch (Exception e)
        {
            Server.Logger.LogError(e, "Redis client {Id} ({Address}) failed", Id, RemoteAddress);
        }
        finally
        {
            Close();
        }
    }

    /// <summary>Runs one request through the checks Redis makes, in Redis's order, then the command.</summary>
    internal void Execute(RespRequest request)
    {
        _uncountedCommands++;
        var command = Server.Commands.Find(request.Name);
        if (command is null)
        {
            FailQueuedTransaction();
            Writer.WriteError(UnknownCommandMessage(request));
            return;
        }
        if (command.HasSubcommands && request.Count >= 2)
        {
            var sub = command.FindSubcommand(request[1]);
            if (sub is null)
            {
                FailQueuedTransaction();
                Writer.WriteError($"ERR unknown subcommand '{Truncate(request.ArgString(1))}'. Try {command.Name.ToUpperInvariant()} HELP.");
                return;
            }
            command = sub;
        }
        _lastCommand = command;
        if (!command.ArityMatches(request.Count))
        {
            Reject(command, $"ERR wrong number of arguments for '{command.FullName}' command");
            return;
        }
        if (!IsAuthenticated && !command.Has(CommandFlags.NoAuth))
        {
            Reject(command, "NOAUTH Authentication required.");
            return;
        }
        // Refused while queuing inside MULTI is logged with Redis's "multi" context, not "toplevel".
        if (IsAuthenticated && !CheckPermissions(command, request, inMulti: Queued is not null)) return;
        if (InSubscriberMode && !command.Has(CommandFlags.SubscriberContext))
        {
            Writer.WriteError($"ERR Can't execute '{command.FullName}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context");
            return;
        }
        if (command.Has(CommandFlags.DenyWrite))
        {
            FailQueuedTransaction();
            WriteCommands.Deny(this, request, Writer);
            return;
        }
        if (Queued is not null && !command.Has(CommandFlags.NoMulti))
        {
            Queued.Add(request.ToArrays());
            Writer.WriteSimple("QUEUED"u8);
            return;
        }
        command.Handler(this, request, Writer);
        Tracking.AfterCommand(command.Parent ?? command);
    }

    /// <summary>
    /// Refuses a command before it runs. Inside MULTI the transaction is marked failed; a refused EXEC also
    /// discards it, and says so the way Redis does ("EXECABORT Transaction discarded because of: ...").
    /// </summary>
    private void Reject(CommandDefinition command, string error)
    {
        if (command.Name == "exec")
        {
            Queued = null;
            MultiFailed = false;
            Watched = null;
            Writer.WriteError("EXECABORT Transaction discarded because of: " + (error.StartsWith("ERR ", StringComparison.Ordinal) ? error[4..] : error));
            return;
        }
        FailQueuedTransaction();
        Writer.WriteError(error);
    }

    private bool CheckPermissions(CommandDefinition command, RespRequest request, bool inMulti)
    {
        var permissions = User.Permissions;
        var root = permissions.Root;
        // The common case (a user allowed every key and channel, like default) costs one array read.
        if (root.AllowsEverything && root.CanRun(command, request)) return true;
        var denial = permissions.Check(command, request, out int argument);
        if (denial == AclDenial.None) return true;
        var target = denial == AclDenial.Command ? command.FullName : request.ArgString(argument);
        Server.Acl.Log.Add(denial, inMulti, target, User.Name, Describe());
        Reject(command, AclMessages.NoPermission(denial, command));
        return false;
    }

    /// <summary>Runs a command queued by MULTI (EXEC), reusing a second request buffer.</summary>
    internal void ExecuteQueued(byte[][] arguments)
    {
        _queuedRequest.Load(arguments);
        var command = Server.Commands.Find(_queuedRequest.Name)!;
        if (command.HasSubcommands && _queuedRequest.Count >= 2) command = command.FindSubcommand(_queuedRequest[1]) ?? command;
        // Permissions may have changed since the command was queued (ACL SETUSER from another client).
        if (!CheckPermissions(command, _queuedRequest, inMulti: true)) return;
        command.Handler(this, _queuedRequest, Writer);
        Tracking.AfterCommand(command.Parent ?? command);
    }

    /// <summary>Adds this connection's commands since the last call to the server's total (INFO calls it too, to be current).</summary>
    internal void PublishCommandCount()
    {
        if (_uncountedCommands == 0) return;
        Server.Stats.AddCommands(_uncountedCommands);
        _uncountedCommands = 0;
    }

    private static string Truncate(string text) => text.Length > 128 ? text[..128] : text;

    private void FailQueuedTransaction()
    {
        if (Queued is not null) MultiFailed = true;
    }

    /// <summary>Redis's text: the name and the first arguments, up to about 128 bytes of them.</summary>
    private static string UnknownCommandMessage(RespRequest request)
    {
        var text = new StringBuilder("ERR unknown command '");
        var name = Encoding.UTF8.GetString(request.Name);
        text.Append(name.Length > 128 ? name[..128] : name).Append("', with args beginning with: ");
        var args = new StringBuilder();
        for (int i = 1; i < request.Count && args.Length < 128; i++)
        {
            var arg = Encoding.UTF8.GetString(request[i]);
            int room = 128 - args.Length;
            args.Append('\'').Append(arg.Length > room ? arg[..room] : arg).Append("' ");
        }
        return text.Append(args).ToString();
    }

    // ---------------- reads ----------------

    /// <summary>Reads a row at the pinned snapshot inside EXEC, else the latest; remembers the key for tracking.</summary>
    public bool TryReadRow(ReadOnlySpan<byte> key, out RowRef row)
    {
        if (Tracking.ShouldRemember) Server.Tracking.Remember(key, this);
        bool found = Pin is { } pin ? Store.TryGetRow(key, pin, out row) : Store.TryGetRow(key, out row);
        if (found) Server.Stats.Hit(); else Server.Stats.Miss();
        return found;
    }

    // ---------------- pub/sub ----------------

    public int SubscriptionCount
    {
        get { lock (_subscriptionGate) return _channels.Count + _patterns.Count; }
    }

    public int ShardSubscriptionCount
    {
        get { lock (_subscriptionGate) return _shardChannels.Count; }
    }

    /// <summary>RESP2 connections with any subscription can only run pub/sub commands, PING, QUIT and RESET.</summary>
    public bool InSubscriberMode => !Writer.IsResp3 && (SubscriptionCount > 0 || ShardSubscriptionCount > 0);

    internal bool AddShardSubscription(string channel)
    {
        lock (_subscriptionGate) return _shardChannels.Add(channel);
    }

    internal bool RemoveShardSubscription(string channel)
    {
        lock (_subscriptionGate) return _shardChannels.Remove(channel);
    }

    internal string[] ShardSubscriptions()
    {
        lock (_subscriptionGate) return [.. _shardChannels];
    }

    internal bool AddSubscription(string name, bool pattern)
    {
        lock (_subscriptionGate) return (pattern ? _patterns : _channels).Add(name);
    }

    internal bool RemoveSubscription(string name, bool pattern)
    {
        lock (_subscriptionGate) return (pattern ? _patterns : _channels).Remove(name);
    }

    internal string[] Subscriptions(bool pattern)
    {
        lock (_subscriptionGate) return [.. pattern ? _patterns : _channels];
    }

    public bool IsSubscribedTo(string channel)
    {
        lock (_subscriptionGate) return _channels.Contains(channel);
    }

    internal int ChannelCount { get { lock (_subscriptionGate) return _channels.Count; } }
    internal int PatternCount { get { lock (_subscriptionGate) return _patterns.Count; } }

    // ---------------- out-of-band messages ----------------

    /// <summary>
    /// Queues a message for this client; safe from any thread. A client that lets more than the output limit
    /// pile up is disconnected, like Redis's client-output-buffer-limit for pub/sub clients.
    /// </summary>
    public void Push(OutboundMessage message)
    {
        if (_closed) return;
        var outbox = _outbox ?? StartOutbox();
        if (Interlocked.Add(ref _outboxBytes, message.Size) > Server.Options.PubSubOutputLimitBytes)
        {
            Server.Stats.OutputLimitDisconnect();
            Server.Logger.LogWarning("Redis client {Id} ({Address}) disconnected: output buffer limit exceeded", Id, RemoteAddress);
            Kill("output buffer limit exceeded");
            return;
        }
        outbox.Writer.TryWrite(message);
    }

    private Channel<OutboundMessage> StartOutbox()
    {
        lock (_subscriptionGate)
        {
            if (_outbox is not null) return _outbox;
            var outbox = Channel.CreateUnbounded<OutboundMessage>(new UnboundedChannelOptions { SingleReader = true });
            _ = Task.Run(() => PumpAsync(outbox.Reader));
            _outbox = outbox;
            return outbox;
        }
    }

    private async Task PumpAsync(ChannelReader<OutboundMessage> reader)
    {
        try
        {
            while (await reader.WaitToReadAsync())
            {
                await _writeGate.WaitAsync();
                try
                {
                    if (_closed) return;
                    while (reader.TryRead(out var message))
                    {
                        message.Write(this);
                        Interlocked.Add(ref _outboxBytes, -message.Size);
                        if (_output.UnflushedBytes > FlushThreshold) await _output.FlushAsync();
                    }
                    await _output.FlushAsync();
                }
                finally
                {
                    _writeGate.Release();
                }
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException or ConnectionAbortedException)
        {
            // The connection went away while a message was being written.
        }
    }

    // ---------------- closing ----------------

    /// <summary>Closes the connection from outside the request loop (CLIENT KILL, output limit, deleted user).</summary>
    public void Kill(string reason)
    {
        if (_closed) return;
        _closed = true;
        _connection.Abort(new ConnectionAbortedException(reason));
    }

    private void Close()
    {
        _closed = true;
        Server.Hub.RemoveAll(this);
        Server.Tracking.Disable(this);
        Pin?.Dispose();
        Pin = null;
        _outbox?.Writer.TryComplete();
        Server.Clients.Remove(this);
    }

    /// <summary>One line of CLIENT LIST / CLIENT INFO, in Redis's field order.</summary>
    public string Describe()
    {
        var now = DateTimeOffset.UtcNow;
        var flags = new StringBuilder();
        if (SubscriptionCount > 0 || ShardSubscriptionCount > 0) flags.Append('P');
        if (Queued is not null) flags.Append('x');
        if (Tracking.Enabled) flags.Append('t');
        if (Tracking.Bcast) flags.Append('B');
        if (flags.Length == 0) flags.Append('N');
        return $"id={Id} addr={RemoteAddress} laddr={LocalAddress} fd=-1 name={Name} age={(long)(now - CreatedAt).TotalSeconds} " +
               $"idle={(long)(now - LastInteraction).TotalSeconds} flags={flags} db=0 sub={ChannelCount} psub={PatternCount} ssub={ShardSubscriptionCount} " +
               $"multi={(Queued is null ? -1 : Queued.Count)} qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 " +
               $"omem={OutboxBytes} tot-mem=0 events=r cmd={LastCommandName} user={User.Name} redir={(Tracking.Enabled ? Tracking.RedirectId : -1)} resp={Writer.Protocol}";
    }
}

/// <summary>A key WATCHed before MULTI: EXEC fails when replication changed it meanwhile.</summary>
internal readonly record struct WatchedKey(byte[] Key, ulong CommitLsn, bool Existed);
