using Microsoft.Extensions.Logging;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Store;
using Pgrelay.Store.Snapshots;
using Pgrelay.Transport;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// One client connection, as a consumer of bytes: the transport hands it what arrived, it frames command lines (or
/// binary-protocol packets, chosen by the first byte as memcached negotiates), runs them in order and writes replies
/// in place into the connection's output buffer. A partial line is searched for its end only where the last search
/// stopped, so a long multi-get trickled in small pieces costs its length, not its square.
/// </summary>
internal sealed partial class MemcachedSession : IProtocolSession
{
    private readonly MemcachedServer _server;
    private readonly ReplicatedStore _store;
    private readonly MemcachedOptions _options;
    private readonly Connection _connection;
    private readonly ResponseWriter _out;
    private readonly ValueBuffer _value = new();
    private readonly RenderedRowCache _rendered;
    private StorePin? _pin;
    private SessionCounts _counts;

    /// <summary>Bytes of a storage command's data block still to discard.</summary>
    private long _skip;

    /// <summary>How far the unfinished line at the start of the input has been searched for its newline.</summary>
    private int _scanned;

    private enum Framing : byte { Unknown, Text, Binary }
    private Framing _framing;
    private int _missing;

    private enum Step { Continue, NeedMore, Close }

    public MemcachedSession(MemcachedServer server, Connection connection)
    {
        _server = server;
        _store = server.Store;
        _options = server.Options;
        _connection = connection;
        _out = new ResponseWriter(connection.Output);
        _rendered = server.Rendered;
    }

    public int MissingBytes => _missing;

    public OutputLimitClass OutputClass => OutputLimitClass.Normal;

    public bool ExemptFromIdleTimeout => false;

    public long WritePending(OutputBuffer output) => 0;

    public int Consume(ReadOnlySpan<byte> input, OutputBuffer output)
    {
        int done = 0;
        long writtenBefore = output.TotalWritten;
        _missing = 0;
        while (true)
        {
            if (_skip > 0)
            {
                int n = (int)Math.Min(_skip, input.Length - done);
                done += n;
                _skip -= n;
                if (_skip > 0)
                {
                    _missing = (int)Math.Min(_skip, int.MaxValue);
                    break;
                }
            }
            if (done == input.Length) break;
            if (_framing == Framing.Unknown) _framing = input[done] == BinaryMagic ? Framing.Binary : Framing.Text;
            var step = _framing == Framing.Binary ? ExecuteBinary(input[done..], out int consumed) : ExecuteLine(input[done..], out consumed);
            done += consumed;
            if (step == Step.Close)
            {
                _connection.CloseAfterReply();
                done = input.Length;
                break;
            }
            if (step == Step.NeedMore || output.Length >= ConnectionLimits.FlushThreshold) break;
        }
        _counts.BytesRead += done;
        _counts.BytesWritten += output.TotalWritten - writtenBefore;
        _counts.FlushTo(_server.Stats);
        _value.Trim();
        return done;
    }

    /// <summary>Runs the line at the start of <paramref name="input"/> once its newline is there.</summary>
    private Step ExecuteLine(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        int from = Math.Min(_scanned, input.Length);
        int newline = input[from..].IndexOf((byte)'\n');
        if (newline < 0)
        {
            _scanned = input.Length;
            return input.Length > _options.MaxLineLength ? LineWithoutNewline(input) : Step.NeedMore;
        }
        newline += from;
        _scanned = 0;
        consumed = newline + 1;
        return Execute(input[..newline]);
    }

    /// <summary>
    /// memcached 1.6 with 2048 bytes and no newline: a multi-get may go on (up to this server's own bound on a get
    /// line); anything else is closed without a word, exactly as memcached closes it.
    /// </summary>
    private Step LineWithoutNewline(ReadOnlySpan<byte> input)
    {
        int spaces = 0;
        while (spaces < input.Length && input[spaces] == (byte)' ') spaces++;
        var start = input[spaces..];
        if (spaces > 100 || !(start.StartsWith("get "u8) || start.StartsWith("gets "u8))) return Step.Close;
        if (input.Length <= _options.MaxGetLineLength) return Step.NeedMore;
        _out.Write(Replies.LineTooLong);
        return Step.Close;
    }

    void IProtocolSession.Closed()
    {
        _counts.FlushTo(_server.Stats);
        _value.Dispose();
        _pin?.Dispose();
        Interlocked.Decrement(ref _server.Stats.CurrentConnections);
    }

    private Step Execute(ReadOnlySpan<byte> line)
    {
        if (line.Length > 1 && line[^1] == (byte)'\r') line = line[..^1];   // memcached keeps a lone "\r"
        var tokens = new LineTokens(line);
        if (!tokens.Next(out var command))
        {
            _out.Write(Replies.Error);
            return Step.Continue;
        }
        switch (command.Length)
        {
            case 2:
                if (command.SequenceEqual("mg"u8)) return MetaGet(ref tokens);
                if (command.SequenceEqual("mn"u8)) return Reply(Replies.MetaNoop);
                if (command.SequenceEqual("ms"u8)) return MetaSet(ref tokens);
                if (command.SequenceEqual("md"u8) || command.SequenceEqual("ma"u8)) return MetaWrite(ref tokens);
                if (command.SequenceEqual("me"u8)) return MetaDebug(ref tokens);
                break;
            case 3:
                if (command.SequenceEqual("get"u8)) return Get(ref tokens, withCas: false);
                if (command.SequenceEqual("set"u8) || command.SequenceEqual("add"u8)) return Storage(ref tokens, hasCas: false);
                if (command.SequenceEqual("cas"u8)) return Storage(ref tokens, hasCas: true);
                if (command.SequenceEqual("gat"u8)) return GetAndTouch(ref tokens);
                break;
            case 4:
                if (command.SequenceEqual("gets"u8)) return Get(ref tokens, withCas: true);
                if (command.SequenceEqual("incr"u8) || command.SequenceEqual("decr"u8)) return Arithmetic(ref tokens);
                if (command.SequenceEqual("quit"u8)) return Step.Close;
                if (command.SequenceEqual("gats"u8)) return GetAndTouch(ref tokens);
                break;
            case 5:
                if (command.SequenceEqual("stats"u8)) return Stats(ref tokens);
                if (command.SequenceEqual("touch"u8)) return Touch(ref tokens);
                break;
            case 6:
                if (command.SequenceEqual("append"u8)) return Storage(ref tokens, hasCas: false);
                if (command.SequenceEqual("delete"u8)) return Delete(ref tokens);
                break;
            case 7:
                if (command.SequenceEqual("version"u8)) return Version();
                if (command.SequenceEqual("replace"u8) || command.SequenceEqual("prepend"u8)) return Storage(ref tokens, hasCas: false);
                break;
            case 8:
                if (command.SequenceEqual("shutdown"u8)) return Reply(Replies.ShutdownDisabled);
                break;
            case 9:
                if (command.SequenceEqual("flush_all"u8)) return FlushAll(ref tokens);
                if (command.SequenceEqual("verbosity"u8)) return Verbosity(ref tokens);
                break;
        }
        return Reply(Replies.Error);
    }

    private Step Reply(ReadOnlySpan<byte> reply)
    {
        _out.Write(reply);
        return Step.Continue;
    }

    private Step Version()
    {
        _out.Write("VERSION "u8);
        _out.Write(_server.Utf8Version);
        _out.Crlf();
        return Step.Continue;
    }
}
