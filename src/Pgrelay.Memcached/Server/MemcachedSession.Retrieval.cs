using System.Buffers;
using System.Buffers.Text;
using Pgrelay.Core.Rendering;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Store.Snapshots;
using Pgrelay.Store.Tables;

namespace Pgrelay.Memcached.Server;

internal sealed partial class MemcachedSession
{
    private const int MaxOpaqueLength = 32;

    /// <summary>
    /// The CAS unique of a row: its commit LSN, which moves whenever the row changes. Rows loaded by the initial
    /// snapshot carry the snapshot's consistent point, so every row a client can read has a non-zero CAS.
    /// </summary>
    private static ulong CasOf(in RowRef row) => row.VersionLsn.Value;

    /// <summary>The row as the one JSON shape shared with HTTP, rendered once per row version (see <see cref="RenderedRowCache"/>).</summary>
    private ReadOnlySpan<byte> Render(in RowRef row) => _rendered.Get(row, _value);

    /// <summary>This connection's snapshot pin, pinned again for each multi-key get so pinning does not allocate.</summary>
    private StorePin PinSnapshot()
    {
        if (_pin is null)
        {
            _pin = _store.Pin();
            return _pin;
        }
        _store.Repin(_pin);
        return _pin;
    }

    // get <key>*, gets <key>*
    private Step Get(ref LineTokens tokens, bool withCas)
    {
        int keys = 0;
        var probe = tokens;
        while (probe.Next(out var key))
        {
            if (key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);
            keys++;
        }
        if (keys == 0) return Reply(Replies.Error);

        // Several keys are read at one pinned LSN, so a multi-get never shows half of a transaction.
        StorePin? pin = keys > 1 ? PinSnapshot() : null;
        try
        {
            while (tokens.Next(out var key))
            {
                _counts.CmdGet++;
                RowRef row;
                bool found = pin is null ? _store.TryGetRow(key, out row) : _store.TryGetRow(key, pin, out row);
                if (!found)
                {
                    _counts.GetMisses++;
                    continue;
                }
                _counts.GetHits++;
                var value = Render(row);
                _out.Write("VALUE "u8);
                _out.Write(key);
                _out.Write(" 0 "u8);
                _out.WriteNumber((ulong)value.Length);
                if (withCas)
                {
                    _out.Space();
                    _out.WriteNumber(CasOf(row));
                }
                _out.Crlf();
                _out.Write(value);
                _out.Crlf();
            }
        }
        finally
        {
            pin?.Dispose();
        }
        _out.Write(Replies.End);
        return Step.Continue;
    }

    private static int FlagBit(byte flag) => flag switch
    {
        >= (byte)'a' and <= (byte)'z' => flag - 'a',
        >= (byte)'A' and <= (byte)'Z' => 26 + flag - 'A',
        _ => -1,
    };

    private static bool IsMetaGetFlag(byte flag) => flag switch
    {
        (byte)'b' or (byte)'c' or (byte)'f' or (byte)'h' or (byte)'k' or (byte)'l' or (byte)'O' or (byte)'q' or (byte)'s'
            or (byte)'t' or (byte)'u' or (byte)'v' or (byte)'E' or (byte)'N' or (byte)'R' or (byte)'T' => true,
        _ => false,
    };

    // mg <key> <flag>*   (protocol.txt, "Meta Get")
    private Step MetaGet(ref LineTokens tokens)
    {
        _counts.CmdMeta++;
        if (!tokens.Next(out var key)) return Reply(Replies.Error);
        if (key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);

        var flags = tokens;   // replies list return flags in the order the request gave them
        ulong seen = 0;
        bool value = false, quiet = false, base64 = false, size = false;
        while (tokens.Next(out var flag))
        {
            int bit = FlagBit(flag[0]);
            if (bit < 0 || !IsMetaGetFlag(flag[0])) return Reply(Replies.InvalidFlag);
            if ((seen & (1UL << bit)) != 0) return Reply(Replies.DuplicateFlag);
            seen |= 1UL << bit;
            switch (flag[0])
            {
                case (byte)'v': value = true; break;
                case (byte)'q': quiet = true; break;
                case (byte)'b': base64 = true; break;
                case (byte)'s': size = true; break;
                case (byte)'O' when flag.Length - 1 > MaxOpaqueLength: return Reply(Replies.OpaqueTooLong);
            }
        }

        scoped ReadOnlySpan<byte> lookup = key;
        Span<byte> decoded = stackalloc byte[MemcachedOptions.MaxKeyLength];
        if (base64)
        {
            if (Base64.DecodeFromUtf8(key, decoded, out _, out int written) != OperationStatus.Done || written == 0)
                return Reply(Replies.BadKeyEncoding);
            lookup = decoded[..written];
        }

        _counts.CmdGet++;
        if (!_store.TryGetRow(lookup, out var row))
        {
            _counts.GetMisses++;
            if (quiet) return Step.Continue;   // q: a miss is the uninteresting answer, so it is left out
            _out.Write(Replies.MetaMiss);
            while (flags.Next(out var flag))
            {
                if (flag[0] == (byte)'O') _out.MetaFlag((byte)'O', flag[1..]);
                else if (flag[0] == (byte)'k') MetaKey(key, base64);
            }
            _out.Crlf();
            return Step.Continue;
        }

        _counts.GetHits++;
        var data = value || size ? Render(row) : default;
        if (value)
        {
            _out.Write("VA "u8);
            _out.WriteNumber((ulong)data.Length);
        }
        else
        {
            _out.Write("HD"u8);
        }
        while (flags.Next(out var flag))
        {
            switch (flag[0])
            {
                case (byte)'c': _out.MetaFlag((byte)'c', CasOf(row)); break;
                case (byte)'f': _out.MetaFlag((byte)'f', 0UL); break;
                case (byte)'h': _out.MetaFlag((byte)'h', 0UL); break;
                case (byte)'l': _out.MetaFlag((byte)'l', 0UL); break;
                case (byte)'k': MetaKey(key, base64); break;
                case (byte)'O': _out.MetaFlag((byte)'O', flag[1..]); break;
                case (byte)'s': _out.MetaFlag((byte)'s', (ulong)data.Length); break;
                case (byte)'t': _out.MetaFlag((byte)'t', "-1"u8); break;   // rows never expire
            }
        }
        _out.Crlf();
        if (value)
        {
            _out.Write(data);
            _out.Crlf();
        }
        return Step.Continue;
    }

    /// <summary>The k return flag: the key as the client sent it; a base64 key comes back encoded, marked with b.</summary>
    private void MetaKey(ReadOnlySpan<byte> key, bool base64)
    {
        _out.MetaFlag((byte)'k', key);
        if (base64) _out.Write(" b"u8);
    }

    // me <key>: memcached's debug view of an item
    private Step MetaDebug(ref LineTokens tokens)
    {
        _counts.CmdMeta++;
        if (!tokens.Next(out var key) || key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);
        if (!_store.TryGetRow(key, out var row)) return Reply("EN\r\n"u8);
        var data = Render(row);
        _out.Write("ME "u8);
        _out.Write(key);
        _out.Write(" exp=-1 la=0 cas="u8);
        _out.WriteNumber(CasOf(row));
        _out.Write(" fetch=no cls=1 size="u8);
        _out.WriteNumber((ulong)data.Length);
        _out.Crlf();
        return Step.Continue;
    }
}
