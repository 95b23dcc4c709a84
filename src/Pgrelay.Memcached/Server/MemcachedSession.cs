using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Store;
using Pgrelay.Store.Snapshots;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// One client connection: frames command lines out of the input pipe, runs them in order and writes replies
/// straight into the output pipe. Pipelined commands are answered in one flush; a long pipeline is flushed
/// every <see cref="FlushThreshold"/> bytes so a slow reader holds back the server instead of filling memory.
/// </summary>
internal sealed partial class MemcachedSession
{
    private const int FlushThreshold = 64 * 1024;

    private readonly MemcachedServer _server;
    private readonly ReplicatedStore _store;
    private readonly MemcachedOptions _options;
    private readonly ConnectionContext _connection;
    private readonly ILogger _logger;
    private readonly PipeReader _input;
    private readonly PipeWriter _output;
    private readonly ResponseWriter _out;
    private readonly ValueBuffer _value = new();
    private readonly RenderedRowCache _rendered;
    private StorePin? _pin;
    private SessionCounts _counts;

    /// <summary>Where a line split across pipe segments is joined; most lines are short.</summary>
    private const int LineScratchSize = 4096;
    private byte[]? _lineScratch;

    /// <summary>Bytes of a storage command's data block still to discard.</summary>
    private long _skip;

    private enum Step { Continue, NeedMore, Flush, Close }

    public MemcachedSession(MemcachedServer server, ConnectionContext connection, ILogger logger)
    {
        _server = server;
        _store = server.Store;
        _options = server.Options;
        _connection = connection;
        _logger = logger;
        _input = connection.Transport.Input;
        _output = connection.Transport.Output;
        _out = new ResponseWriter(_output);
        _rendered = server.Rendered;
    }

    public async Task RunAsync()
    {
        try
        {
            while (true)
            {
                var result = await _input.ReadAsync();
                var buffer = result.Buffer;
                long available = buffer.Length;
                Step step;
                while (true)
                {
                    step = Process(ref buffer);
                    if (_out.Pending > 0)
                    {
                        _counts.BytesWritten += _out.TakePending();
                        var flush = await _output.FlushAsync();
                        if (flush.IsCompleted || flush.IsCanceled) step = Step.Close;
                    }
                    if (step != Step.Flush) break;
                }
                _counts.BytesRead += available - buffer.Length;
                _counts.FlushTo(_server.Stats);
                _value.Trim();
                if (step == Step.Close)
                {
                    _input.AdvanceTo(buffer.End);
                    break;
                }
                _input.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted || result.IsCanceled) break;
            }
        }
        catch (Exception e) when (Sessions.IsDisconnect(e))
        {
        }
        catch (Exception e)
        {
            // A bug must cost one connection, never the listener.
            _logger.LogWarning(e, "memcached connection {ConnectionId} from {Remote} failed; closing it",
                _connection.ConnectionId, _connection.RemoteEndPoint);
        }
        finally
        {
            _counts.FlushTo(_server.Stats);
            _value.Dispose();
            _pin?.Dispose();
            await _input.CompleteAsync();
            await _output.CompleteAsync();
        }
    }

    /// <summary>Runs every complete command in <paramref name="buffer"/>, slicing off what it consumed.</summary>
    private Step Process(ref ReadOnlySequence<byte> buffer)
    {
        while (true)
        {
            if (_skip > 0)
            {
                long n = Math.Min(_skip, buffer.Length);
                buffer = buffer.Slice(n);
                _skip -= n;
                if (_skip > 0) return Step.NeedMore;
            }
            if (buffer.IsEmpty) return Step.NeedMore;

            // Lines inside the first segment (nearly all of them) are run straight off its span; the sequence is
            // sliced once for all of them, since ReadOnlySequence positions cost more than the commands themselves.
            var step = ProcessSegment(buffer.FirstSpan, out int consumed);
            if (consumed > 0)
            {
                buffer = buffer.Slice(consumed);
                if (step == Step.Close) return Step.Close;
                if (_out.Pending >= FlushThreshold) return Step.Flush;
                continue;
            }

            // The next line ends in a later segment, or not at all yet.
            var newline = buffer.PositionOf((byte)'\n');
            if (newline is null)
            {
                if (buffer.Length > LineLimit(buffer)) return LineTooLong();
                return Step.NeedMore;
            }
            var line = buffer.Slice(0, newline.Value);
            buffer = buffer.Slice(buffer.GetPosition(1, newline.Value));

            step = line.IsSingleSegment ? Execute(line.FirstSpan) : ExecuteCopied(line);
            if (step == Step.Close) return Step.Close;
            if (_out.Pending >= FlushThreshold) return Step.Flush;
        }
    }

    /// <summary>Runs the complete lines at the start of <paramref name="span"/> until one closes, asks for a flush
    /// or starts a data block to skip; <paramref name="consumed"/> counts the bytes of the lines run.</summary>
    private Step ProcessSegment(ReadOnlySpan<byte> span, out int consumed)
    {
        consumed = 0;
        while (true)
        {
            int newline = span[consumed..].IndexOf((byte)'\n');
            if (newline < 0) return Step.NeedMore;
            var step = Execute(span.Slice(consumed, newline));
            consumed += newline + 1;
            if (step == Step.Close || _skip > 0 || _out.Pending >= FlushThreshold) return step;
        }
    }

    /// <summary>A line that straddles the pipe's segments: copy it into one pooled array first.</summary>
    private Step ExecuteCopied(ReadOnlySequence<byte> line)
    {
        if (line.Length > LineLimit(line)) return LineTooLong();
        int length = (int)line.Length;
        if (length <= LineScratchSize)
        {
            _lineScratch ??= new byte[LineScratchSize];
            line.CopyTo(_lineScratch);
            return Execute(_lineScratch.AsSpan(0, length));
        }
        var rented = ArrayPool<byte>.Shared.Rent(length);   // a long multi-get: rare, and bounded by the limit
        try
        {
            line.CopyTo(rented);
            return Execute(rented.AsSpan(0, length));
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>get/gets may carry many keys (memcached lets multi-gets run past its 2048-byte line limit too).</summary>
    private int LineLimit(ReadOnlySpan<byte> start) =>
        start.StartsWith("get "u8) || start.StartsWith("gets "u8) ? _options.MaxGetLineLength : _options.MaxLineLength;

    private int LineLimit(ReadOnlySequence<byte> buffer)
    {
        Span<byte> start = stackalloc byte[5];
        int n = (int)Math.Min(buffer.Length, start.Length);
        buffer.Slice(0, n).CopyTo(start);
        return LineLimit(start[..n]);
    }

    /// <summary>No newline within the limit: the client is not speaking memcached (or is hostile). Say so and close.</summary>
    private Step LineTooLong()
    {
        _out.Write(Replies.LineTooLong);
        return Step.Close;
    }

    private Step Execute(ReadOnlySpan<byte> line)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.Length > LineLimit(line)) return LineTooLong();
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
