using System.Collections.Concurrent;
using System.Text;
using Microsoft.Extensions.Logging;
using Pgrelay.Resp.Acl;
using Pgrelay.Resp.Commands;
using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.PubSub;
using Pgrelay.Resp.Tracking;
using Pgrelay.Store;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;
using Pgrelay.Transport;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Resp.Server;

/// <summary>
/// One client connection, as a consumer of bytes: the transport hands it what arrived, it runs the complete requests
/// in order and writes replies in place into the connection's output buffer. Pub/sub messages and invalidations
/// arrive from the notification thread into an outbox; the transport has them written between batches, on the
/// connection's own thread, so the two never interleave inside one reply.
/// </summary>
public sealed unsafe class RespSession : IProtocolSession
{
    private readonly Connection _connection;
    private readonly RespParser _parser;
    private readonly RespRequest _request = new();
    private readonly RespRequest _queuedRequest = new();
    private readonly object _subscriptionGate = new();
    private readonly HashSet<string> _channels = new(StringComparer.Ordinal);
    private readonly HashSet<string> _patterns = new(StringComparer.Ordinal);
    private readonly HashSet<string> _shardChannels = new(StringComparer.Ordinal);
    private ConcurrentQueue<OutboundMessage>? _outbox;   // made on the first push: most clients never get one
    private CommandDefinition? _lastCommand;
    private int _uncountedCommands;
    private volatile bool _closed;
    private volatile bool _subscriber;

    internal RespSession(RespServer server, Connection connection, long id)
    {
        Server = server;
        _connection = connection;
        _parser = new RespParser(server.Options.Limits);
        Writer = new RespWriter(connection.Output);
        Id = id;
        User = server.Acl.Default;
        IsAuthenticated = !server.Acl.RequiresAuthentication;
        Tracking = new TrackingState();
    }

    public RespServer Server { get; }
    public ReplicatedStore Store => Server.Store;
    public RespWriter Writer { get; }
    public long Id { get; }
    public string? Name { get; internal set; }
    public string RemoteAddress => _connection.RemoteAddress;   // formatted only if asked for (CLIENT LIST, a log line)
    public string LocalAddress => _connection.LocalAddress;
    public AclUser User { get; internal set; }
    public bool IsAuthenticated { get; internal set; }
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset LastInteraction => DateTimeOffset.UtcNow - TimeSpan.FromMilliseconds(Environment.TickCount64 - _connection.LastInteraction);
    public string LastCommandName => _lastCommand?.FullName ?? "NULL";
    public TrackingState Tracking { get; }

    /// <summary>The transport's view of this client (TLS, buffer sizes), for CLIENT LIST and tests.</summary>
    public Connection Connection => _connection;

    /// <summary>A reusable buffer for replies that must be rendered before their length is known (JSON.GET); made on first use.</summary>
    internal Keyspace.KeyBuffer Scratch => _scratch ??= new();

    private Keyspace.KeyBuffer? _scratch;

    /// <summary>Out-of-band messages queued and output not yet sent, in bytes (CLIENT LIST omem).</summary>
    public long OutboxBytes => _connection.PendingOutputBytes;

    // ---- MULTI state ----
    internal List<byte[][]>? Queued { get; set; }
    internal bool MultiFailed { get; set; }
    internal List<WatchedKey>? Watched { get; set; }
    /// <summary>Set while EXEC runs: every read sees this one snapshot.</summary>
    internal StorePin? Pin { get; set; }

    /// <summary>Set by QUIT, a protocol error, or a command that removes this client's own rights: close once the reply is sent.</summary>
    internal bool CloseAfterReply
    {
        get => _closeAfterReply;
        set
        {
            _closeAfterReply = value;
            if (value) _connection.CloseAfterReply();
        }
    }

    private bool _closeAfterReply;

    // ---------------- the transport's side ----------------

    /// <summary>Redis's authRequired(): the pre-authentication caps apply until this client has authenticated.</summary>
    private bool AuthRequired => !IsAuthenticated;

    public int MissingBytes => _parser.MissingBytes;

    public OutputLimitClass OutputClass => _subscriber || Tracking.Enabled ? OutputLimitClass.PubSub : OutputLimitClass.Normal;

    public bool ExemptFromIdleTimeout => _subscriber;

    /// <summary>Bytes the parser has examined on this connection (linearity checks).</summary>
    internal long ParsedBytes => _parser.BytesExamined;

    public int Consume(ReadOnlySpan<byte> input, OutputBuffer output)
    {
        int done = 0;
        fixed (byte* start = input)
        {
            try
            {
                while (done < input.Length && !_closeAfterReply && !_closed)
                {
                    var result = _parser.Parse(input[done..], _request, AuthRequired, out int consumed);
                    if (result == RespParseResult.Incomplete) break;
                    if (result == RespParseResult.Error)
                    {
                        ProtocolError();
                        done = input.Length;   // like Redis, nothing after a protocol error is read
                        break;
                    }
                    if (result == RespParseResult.Command)
                    {
                        _request.Bind(start + done);
                        Execute(_request);
                    }
                    done += consumed;
                    if (output.Length >= ConnectionLimits.FlushThreshold) break;
                }
            }
            finally
            {
                _request.Bind(null);
            }
        }
        PublishCommandCount();
        return done;
    }

    private void ProtocolError()
    {
        Server.Stats.ProtocolError();
        Span<byte> message = stackalloc byte[64];
        Writer.WriteError(message[.._parser.FormatError(message)]);
        CloseAfterReply = true;
    }

    public long WritePending(OutputBuffer output)
    {
        long written = 0;
        var outbox = _outbox;
        while (!_closed && outbox is not null && outbox.TryDequeue(out var message))
        {
            message.Write(this);
            written += message.Size;
        }
        return written;
    }

    void IProtocolSession.Closed() => Close();

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
        lock (_subscriptionGate) return Subscribed(_shardChannels.Add(channel));
    }

    internal bool RemoveShardSubscription(string channel)
    {
        lock (_subscriptionGate) return Subscribed(_shardChannels.Remove(channel));
    }

    internal string[] ShardSubscriptions()
    {
        lock (_subscriptionGate) return [.. _shardChannels];
    }

    internal bool AddSubscription(string name, bool pattern)
    {
        lock (_subscriptionGate) return Subscribed((pattern ? _patterns : _channels).Add(name));
    }

    internal bool RemoveSubscription(string name, bool pattern)
    {
        lock (_subscriptionGate) return Subscribed((pattern ? _patterns : _channels).Remove(name));
    }

    /// <summary>Keeps the flag the transport reads without a lock (output class, idle timeout) in step; under the gate.</summary>
    private bool Subscribed(bool changed)
    {
        _subscriber = _channels.Count + _patterns.Count + _shardChannels.Count > 0;
        return changed;
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
    /// Queues a message for this client; safe from any thread. The transport applies Redis's client-output-buffer-limit
    /// to what is queued and unsent: a client that lets too much pile up is disconnected.
    /// </summary>
    public void Push(OutboundMessage message)
    {
        if (_closed) return;
        var outbox = _outbox ?? Interlocked.CompareExchange(ref _outbox, new(), null) ?? _outbox;
        outbox.Enqueue(message);
        if (!_connection.TryQueueOutput(message.Size) && _connection.CloseReason == CloseReason.OutputBufferLimit)
            outbox.Clear();
    }

    // ---------------- closing ----------------

    /// <summary>Closes the connection from outside the request loop (CLIENT KILL, a deleted user).</summary>
    public void Kill(string reason)
    {
        if (_closed) return;
        Server.Logger.LogDebug("Redis client {Id} ({Address}) closed: {Reason}", Id, RemoteAddress, reason);
        _connection.Close();
    }

    private void Close()
    {
        _closed = true;
        if (_connection.CloseReason == CloseReason.OutputBufferLimit) Server.Stats.OutputLimitDisconnect();
        Server.Hub.RemoveAll(this);
        Server.Tracking.Disable(this);
        Pin?.Dispose();
        Pin = null;
        _outbox?.Clear();
        Server.Clients.Remove(this);
        Server.Stats.AddParsedBytes(_parser.BytesExamined);
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
               $"multi={(Queued is null ? -1 : Queued.Count)} qbuf={_connection.QueryBufferLength} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 " +
               $"omem={OutboxBytes} tot-mem=0 events=r cmd={LastCommandName} user={User.Name} redir={(Tracking.Enabled ? Tracking.RedirectId : -1)} resp={Writer.Protocol}";
    }
}

/// <summary>A key WATCHed before MULTI: EXEC fails when replication changed it meanwhile.</summary>
internal readonly record struct WatchedKey(byte[] Key, ulong CommitLsn, bool Existed);
