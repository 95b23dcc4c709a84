using System.Buffers.Binary;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Store.Tables;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// memcached's binary protocol (protocol_binary.txt), which memcached 1.6 still negotiates from a connection's first
/// byte (0x80). Reads are served as binary GET/GETK with their quiet forms, NOOP, VERSION, STAT and QUIT; every write
/// is refused with a "not stored" status and its value is read and dropped, so the next packet is framed right.
/// The checks on each packet's lengths are memcached's, in its order, with its status codes and texts.
/// </summary>
internal sealed partial class MemcachedSession
{
    private const byte BinaryMagic = 0x80;
    private const int BinaryHeaderSize = 24;

    private static class Opcode
    {
        public const byte Get = 0x00, Set = 0x01, Add = 0x02, Replace = 0x03, Delete = 0x04, Increment = 0x05, Decrement = 0x06,
            Quit = 0x07, Flush = 0x08, GetQ = 0x09, Noop = 0x0a, Version = 0x0b, GetK = 0x0c, GetKQ = 0x0d, Append = 0x0e,
            Prepend = 0x0f, Stat = 0x10, SetQ = 0x11, AddQ = 0x12, ReplaceQ = 0x13, DeleteQ = 0x14, IncrementQ = 0x15,
            DecrementQ = 0x16, QuitQ = 0x17, FlushQ = 0x18, AppendQ = 0x19, PrependQ = 0x1a, Touch = 0x1c, Gat = 0x1d,
            GatQ = 0x1e, GatK = 0x23, GatKQ = 0x24;
    }

    private static class Status
    {
        public const ushort NotFound = 0x0001, InvalidArguments = 0x0004, NotStored = 0x0005, UnknownCommand = 0x0081;
    }

    private Step ExecuteBinary(ReadOnlySpan<byte> input, out int consumed)
    {
        consumed = 0;
        if (input.Length < BinaryHeaderSize)
        {
            _missing = BinaryHeaderSize - input.Length;
            return Step.NeedMore;
        }
        if (input[0] != BinaryMagic) return Step.Close;   // memcached: "Invalid magic", connection closed
        byte opcode = input[1];
        int keyLength = BinaryPrimitives.ReadUInt16BigEndian(input[2..]);
        int extras = input[4];
        long bodyLength = BinaryPrimitives.ReadUInt32BigEndian(input[8..]);
        uint opaque = BinaryPrimitives.ReadUInt32LittleEndian(input[12..]);
        if (input.Length < BinaryHeaderSize + extras + keyLength)
        {
            _missing = BinaryHeaderSize + extras + keyLength - input.Length;
            return Step.NeedMore;
        }
        consumed = BinaryHeaderSize + extras + keyLength;
        var key = input.Slice(BinaryHeaderSize + extras, keyLength);
        long valueLength = bodyLength - extras - keyLength;

        if (keyLength > bodyLength || keyLength + extras > bodyLength)
            return BinaryError(opcode, Status.UnknownCommand, opaque, close: true);
        if (keyLength > MemcachedOptions.MaxKeyLength) return BinaryError(opcode, Status.InvalidArguments, opaque, close: true);

        bool quiet = opcode is Opcode.GetQ or Opcode.GetKQ or Opcode.QuitQ or Opcode.SetQ or Opcode.AddQ or Opcode.ReplaceQ
            or Opcode.DeleteQ or Opcode.IncrementQ or Opcode.DecrementQ or Opcode.FlushQ or Opcode.AppendQ or Opcode.PrependQ or Opcode.GatQ or Opcode.GatKQ;
        bool empty = extras == 0 && keyLength == 0 && bodyLength == 0;
        switch (opcode)
        {
            case Opcode.Version:
                if (!empty) break;
                _out.BinaryHeader(opcode, 0, 0, 0, _server.Utf8Version.Length, opaque, 0);
                _out.Write(_server.Utf8Version);
                return Step.Continue;
            case Opcode.Noop:
                if (!empty) break;
                _out.BinaryHeader(opcode, 0, 0, 0, 0, opaque, 0);
                return Step.Continue;
            case Opcode.Quit or Opcode.QuitQ:
                if (!empty) break;
                if (!quiet) _out.BinaryHeader(opcode, 0, 0, 0, 0, opaque, 0);
                return Step.Close;
            case Opcode.Get or Opcode.GetQ or Opcode.GetK or Opcode.GetKQ:
                if (extras != 0 || bodyLength != keyLength || keyLength == 0) break;
                return BinaryGet(opcode, key, opaque, quiet, withKey: opcode is Opcode.GetK or Opcode.GetKQ);
            case Opcode.Stat:
                if (extras != 0) break;
                Skip(valueLength);
                return BinaryStats(opcode, opaque);
            case Opcode.Set or Opcode.Add or Opcode.Replace or Opcode.SetQ or Opcode.AddQ or Opcode.ReplaceQ:
                if (extras != 8 || keyLength == 0 || bodyLength < keyLength + 8) break;
                return BinaryRefuse(opcode, opaque, valueLength, ref _counts.CmdSet);
            case Opcode.Append or Opcode.Prepend or Opcode.AppendQ or Opcode.PrependQ:
                if (keyLength == 0 || extras != 0) break;
                return BinaryRefuse(opcode, opaque, valueLength, ref _counts.CmdSet);
            case Opcode.Delete or Opcode.DeleteQ:
                if (keyLength == 0 || extras != 0 || bodyLength != keyLength) break;
                return BinaryRefuse(opcode, opaque, 0, ref _counts.WritesRejected);
            case Opcode.Increment or Opcode.Decrement or Opcode.IncrementQ or Opcode.DecrementQ:
                if (keyLength == 0 || extras != 20 || bodyLength != keyLength + 20) break;
                return BinaryRefuse(opcode, opaque, 0, ref _counts.WritesRejected);
            case Opcode.Flush or Opcode.FlushQ:
                if (keyLength != 0 || bodyLength != extras || (extras != 0 && extras != 4)) break;
                return BinaryRefuse(opcode, opaque, 0, ref _counts.CmdFlush);
            case Opcode.Touch or Opcode.Gat or Opcode.GatQ or Opcode.GatK or Opcode.GatKQ:
                if (extras != 4 || keyLength == 0) break;
                return BinaryRefuse(opcode, opaque, valueLength, ref _counts.CmdTouch);
            default:
                Skip(valueLength);
                return BinaryError(opcode, Status.UnknownCommand, opaque, close: false);
        }
        // The lengths do not fit the command: memcached answers "Invalid arguments" and closes.
        return BinaryError(opcode, Status.InvalidArguments, opaque, close: true);
    }

    private void Skip(long valueLength)
    {
        if (valueLength > 0) _skip = valueLength;
    }

    private Step BinaryGet(byte opcode, ReadOnlySpan<byte> key, uint opaque, bool quiet, bool withKey)
    {
        _counts.CmdGet++;
        if (!_store.TryGetRow(key, out RowRef row))
        {
            _counts.GetMisses++;
            if (quiet) return Step.Continue;
            if (!withKey) return BinaryError(opcode, Status.NotFound, opaque, close: false);
            _out.BinaryHeader(opcode, Status.NotFound, 0, key.Length, key.Length, opaque, 0);
            _out.Write(key);
            return Step.Continue;
        }
        _counts.GetHits++;
        var value = Render(row);
        int keyLength = withKey ? key.Length : 0;
        _out.BinaryHeader(opcode, 0, 4, keyLength, 4 + keyLength + value.Length, opaque, CasOf(row));
        _out.Write([0, 0, 0, 0]);   // flags
        if (withKey) _out.Write(key);
        _out.Write(value);
        return Step.Continue;
    }

    /// <summary>
    /// Every write is refused, quiet or not (a quiet command is silent only on success): "Not stored." would be
    /// memcached's word for a store that did not happen, followed by why.
    /// </summary>
    private Step BinaryRefuse(byte opcode, uint opaque, long valueLength, ref long counter)
    {
        counter++;
        _counts.WritesRejected++;
        Skip(valueLength);
        var message = Replies.ReadOnly[..^2];   // without the CRLF
        _out.BinaryHeader(opcode, Status.NotStored, 0, 0, message.Length, opaque, 0);
        _out.Write(message);
        return Step.Continue;
    }

    private Step BinaryError(byte opcode, ushort status, uint opaque, bool close)
    {
        var text = status switch
        {
            Status.NotFound => "Not found"u8,
            Status.InvalidArguments => "Invalid arguments"u8,
            _ => "Unknown command"u8,
        };
        _out.BinaryHeader(opcode, status, 0, 0, text.Length, opaque, 0);
        _out.Write(text);
        return close ? Step.Close : Step.Continue;
    }

    /// <summary>STAT: one response per statistic (key = name, value = its text), then an empty one, as memcached sends them.</summary>
    private Step BinaryStats(byte opcode, uint opaque)
    {
        var scratch = new Transport.Buffers.OutputBuffer();
        WriteGeneralStats(new ResponseWriter(scratch));
        var lines = System.Text.Encoding.ASCII.GetString(scratch.Unsent).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        foreach (var line in lines)
        {
            var parts = line.Split(' ', 3);
            if (parts.Length != 3 || parts[0] != "STAT") continue;
            var name = System.Text.Encoding.ASCII.GetBytes(parts[1]);
            var value = System.Text.Encoding.ASCII.GetBytes(parts[2]);
            _out.BinaryHeader(opcode, 0, 0, name.Length, name.Length + value.Length, opaque, 0);
            _out.Write(name);
            _out.Write(value);
        }
        _out.BinaryHeader(opcode, 0, 0, 0, 0, opaque, 0);
        return Step.Continue;
    }
}
