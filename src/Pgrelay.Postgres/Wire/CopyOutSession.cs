using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Npgsql;

namespace Pgrelay.Postgres.Wire;

/// <summary>
/// Speaks PostgreSQL's simple-query protocol directly on a connection Npgsql opened (<see cref="NpgsqlStreamTakeover"/>),
/// for one purpose: <c>COPY … TO STDOUT</c> with the CopyData messages framed here, straight out of the received bytes.
/// <para>
/// Why: Npgsql's COPY API returns one CopyData message per read call, i.e. one row, and pays a message dispatch, buffer
/// bookkeeping and cancellation checks for each; for a snapshot of millions of short rows that was more CPU than parsing
/// them. Here a row costs a 5-byte header check and one call of the sink, on bytes a <see cref="ReceivePump"/> thread
/// read while the previous ones were parsed.
/// </para>
/// <para>
/// One caller thread at a time. Server errors throw <see cref="PostgresException"/> (as from Npgsql) after the server is
/// ready again; a lost connection throws <see cref="IOException"/>; bytes that break the protocol throw
/// <see cref="InvalidDataException"/> and leave the session unusable. Disposing closes the connection.
/// </para>
/// </summary>
public sealed class CopyOutSession : IDisposable
{
    // Backend message types (protocol 3.0).
    private const byte CopyData = (byte)'d', CopyOutResponse = (byte)'H', CopyDone = (byte)'c', CommandComplete = (byte)'C',
        ReadyForQuery = (byte)'Z', ErrorResponse = (byte)'E', NoticeResponse = (byte)'N', ParameterStatus = (byte)'S',
        NotificationResponse = (byte)'A', EmptyQueryResponse = (byte)'I', RowDescription = (byte)'T', DataRow = (byte)'D',
        CopyInResponse = (byte)'G', CopyBothResponse = (byte)'W';

    /// <summary>The largest message other than CopyData, DataRow and RowDescription kept in memory: errors and notices are short.</summary>
    private const int MaxControlMessage = 1 << 20;

    private readonly NpgsqlConnection _connection;
    private readonly Stream _stream;
    private readonly ReceivePump _pump;
    private byte[] _buffer = [];
    private int _position, _end;
    private byte[] _message = new byte[256];
    private bool _broken;
    private PostgresException? _error;   // an ErrorResponse of the running query, thrown once the server is ready again
    private int _disposed;

    private CopyOutSession(NpgsqlConnection connection, Stream stream, Stream readFrom)
    {
        _connection = connection;
        _stream = stream;
        _pump = new ReceivePump(readFrom, "pgrelay copy reader");
    }

    /// <summary>
    /// Takes over <paramref name="connection"/> (open and idle; the session owns it from now on and closes it), or answers
    /// null with the reason when Npgsql's connection cannot be taken safely; the caller then keeps using Npgsql.
    /// </summary>
    public static CopyOutSession? TryTakeOver(NpgsqlConnection connection, out string? reason) => TryTakeOver(connection, out reason, null);

    /// <summary>Tests read the server's bytes through <paramref name="readThrough"/> (e.g. one byte per read).</summary>
    internal static CopyOutSession? TryTakeOver(NpgsqlConnection connection, out string? reason, Func<Stream, Stream>? readThrough)
    {
        var stream = NpgsqlStreamTakeover.TryTake(connection, out reason);
        return stream is null ? null : new CopyOutSession(connection, stream, readThrough?.Invoke(stream) ?? stream);
    }

    /// <summary>Runs SQL that returns no rows (or whose rows are ignored), e.g. COMMIT.</summary>
    public void Execute(string sql)
    {
        SendQuery(sql);
        Run(sink: null, out _);
    }

    /// <summary>Runs <c>COPY … TO STDOUT</c> (text or csv) and hands its data to <paramref name="sink"/>; returns the server's row count.</summary>
    public long CopyOut(string sql, ICopyDataSink sink)
    {
        SendQuery(sql);
        if (!Run(sink, out long rows)) throw Broken($"the server did not start a COPY TO STDOUT for: {sql}");
        return rows;
    }

    /// <summary>
    /// Reads responses up to ReadyForQuery. Returns whether a COPY out ran; its data goes to <paramref name="sink"/>.
    /// An ErrorResponse is thrown once the server is ready for the next query, so the session stays usable.
    /// </summary>
    private bool Run(ICopyDataSink? sink, out long rows)
    {
        _error = null;
        try
        {
            return Read(sink, out rows);
        }
        catch (PostgresException e) when (ReferenceEquals(e, _error))
        {
            throw;   // thrown at ReadyForQuery: the server is ready for the next query
        }
        catch (IOException) when (_error is not null)
        {
            // A FATAL error (the backend was terminated, the server shuts down) is followed by the end of the connection,
            // not by ReadyForQuery: the error is the cause worth reporting.
            _broken = true;
            throw _error;
        }
        catch
        {
            // The connection ended, the bytes broke the protocol, or the sink gave up in the middle of the data: the rest
            // of the response is still on its way, so nothing further can be read in step.
            _broken = true;
            throw;
        }
    }

    private bool Read(ICopyDataSink? sink, out long rows)
    {
        rows = 0;
        bool copying = false, copied = false;
        while (true)
        {
            // The hot path: a whole CopyData message in the current segment, one sink call per row.
            if (copying && _end - _position >= 5 && _buffer[_position] == CopyData)
            {
                int length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_position + 1)) - 4;
                if (length < 0) throw Broken($"CopyData message with length {length + 4}");
                if (_end - _position - 5 >= length)
                {
                    sink!.Write(_buffer.AsSpan(_position + 5, length));
                    _position += 5 + length;
                    continue;
                }
            }
            byte type = ReadByte();
            int bodyLength = ReadInt32() - 4;
            if (bodyLength < 0) throw Broken($"message '{(char)type}' with length {bodyLength + 4}");
            switch (type)
            {
                case CopyData:
                    if (!copying) throw Broken("CopyData outside a COPY");
                    Stream(bodyLength, sink!);
                    break;
                case CopyOutResponse:
                    var header = ReadMessage(bodyLength);
                    if (sink is null) throw Broken("the server started a COPY TO STDOUT for a statement that was not one");
                    // Overall format 0 is text (and csv); 1 is binary, which nothing here parses.
                    if (header.Length < 1 || header[0] != 0) throw Broken("the server started a binary COPY where text was asked for");
                    copying = copied = true;
                    break;
                case CopyDone:
                    Skip(bodyLength);
                    copying = false;
                    break;
                case CommandComplete:
                    rows = CopyRows(ReadMessage(bodyLength));
                    break;
                case ErrorResponse:
                    _error ??= BackendError.Parse(ReadMessage(bodyLength));
                    copying = false;
                    break;
                case ReadyForQuery:
                    Skip(bodyLength);
                    if (_error is not null) throw _error;
                    return copied;
                case NoticeResponse or ParameterStatus or NotificationResponse or EmptyQueryResponse or RowDescription or DataRow:
                    Skip(bodyLength);
                    break;
                case CopyInResponse or CopyBothResponse:
                    // The server now waits for data from us: nothing here can continue this connection.
                    throw Broken("the server asked for COPY data from the client");
                default:
                    throw Broken($"unexpected message '{(char)type}' (0x{type:x2})");
            }
        }
    }

    private void SendQuery(string sql)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        if (_broken) throw new InvalidOperationException("the COPY session broke earlier and cannot be used");
        int textLength = Encoding.UTF8.GetByteCount(sql);
        var message = ArrayPool<byte>.Shared.Rent(textLength + 6);
        try
        {
            message[0] = (byte)'Q';
            BinaryPrimitives.WriteInt32BigEndian(message.AsSpan(1), textLength + 5);
            Encoding.UTF8.GetBytes(sql, message.AsSpan(5));
            message[5 + textLength] = 0;
            _stream.Write(message, 0, textLength + 6);
            _stream.Flush();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(message);
        }
    }

    /// <summary>A CopyData body that continues past the current segment: handed to the sink piece by piece.</summary>
    private void Stream(int length, ICopyDataSink sink)
    {
        while (length > 0)
        {
            if (_position == _end) Fill();
            int n = Math.Min(length, _end - _position);
            sink.Write(_buffer.AsSpan(_position, n));
            _position += n;
            length -= n;
        }
    }

    private ReadOnlySpan<byte> ReadMessage(int length)
    {
        if (length > MaxControlMessage) throw Broken($"a {length}-byte control message");
        if (_message.Length < length) _message = new byte[Math.Max(length, _message.Length * 2)];
        for (int copied = 0; copied < length;)
        {
            if (_position == _end) Fill();
            int n = Math.Min(length - copied, _end - _position);
            _buffer.AsSpan(_position, n).CopyTo(_message.AsSpan(copied));
            _position += n;
            copied += n;
        }
        return _message.AsSpan(0, length);
    }

    private void Skip(int length)
    {
        while (length > 0)
        {
            if (_position == _end) Fill();
            int n = Math.Min(length, _end - _position);
            _position += n;
            length -= n;
        }
    }

    private byte ReadByte()
    {
        if (_position == _end) Fill();
        return _buffer[_position++];
    }

    private int ReadInt32()
    {
        if (_end - _position >= 4)
        {
            int value = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_position));
            _position += 4;
            return value;
        }
        return ReadByte() << 24 | ReadByte() << 16 | ReadByte() << 8 | ReadByte();
    }

    private void Fill()
    {
        _buffer = _pump.Next(out _end);
        _position = 0;
    }

    /// <summary>"COPY 123" → 123.</summary>
    private static long CopyRows(ReadOnlySpan<byte> tag)
    {
        int end = tag.IndexOf((byte)0);
        if (end >= 0) tag = tag[..end];
        int space = tag.LastIndexOf((byte)' ');
        return space >= 0 && System.Buffers.Text.Utf8Parser.TryParse(tag[(space + 1)..], out long rows, out int used) && used == tag.Length - space - 1
            ? rows : 0;
    }

    private InvalidDataException Broken(string what)
    {
        _broken = true;
        return new InvalidDataException($"PostgreSQL protocol: {what}");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        // Npgsql's Close sends Terminate and closes the socket, which fails the pump's pending read and ends its thread.
        try { _connection.Dispose(); }
        catch (Exception e) when (e is NpgsqlException or IOException or ObjectDisposedException) { }
        _pump.Dispose();
    }
}
