using System.Buffers.Text;
using Pgrelay.Memcached.Protocol;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// Every write is refused: the rows belong to PostgreSQL and change only through it. A refused storage command
/// still has its data block read and thrown away, so the next command on the connection is read from the right
/// byte. Classic <c>noreply</c> silences the refusal (the client will not read a reply); meta <c>q</c> only
/// silences success codes, so meta writes are always answered.
/// </summary>
internal sealed partial class MemcachedSession
{
    private static bool IsNoReply(ReadOnlySpan<byte> token) => token.SequenceEqual("noreply"u8);

    private static bool TryParse(ReadOnlySpan<byte> token, out ulong value) =>
        Utf8Parser.TryParse(token, out value, out int consumed) && consumed == token.Length;

    private static bool TryParse(ReadOnlySpan<byte> token, out long value) =>
        Utf8Parser.TryParse(token, out value, out int consumed) && consumed == token.Length;

    private Step Refuse(bool noReply)
    {
        _counts.WritesRejected++;
        if (!noReply) _out.Write(Replies.ReadOnly);
        return Step.Continue;
    }

    // set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]
    // cas <key> <flags> <exptime> <bytes> <cas unique> [noreply]
    private Step Storage(ref LineTokens tokens, bool hasCas)
    {
        int count = tokens.Count();
        int required = hasCas ? 5 : 4;
        if (count != required && count != required + 1) return Reply(Replies.Error);
        bool noReply = count == required + 1 && IsNoReply(tokens.Last());
        tokens.Next(out var key);
        tokens.Next(out var flags);
        tokens.Next(out var exptime);
        tokens.Next(out var bytes);
        if (key.Length > MemcachedOptions.MaxKeyLength ||
            !TryParse(flags, out ulong flagValue) || flagValue > uint.MaxValue ||
            !TryParse(exptime, out long _) ||
            !TryParse(bytes, out long length) || length < 0 || length > int.MaxValue - 2)
            return Reply(Replies.BadFormat);   // as memcached: the data block is then read as commands
        if (hasCas && (!tokens.Next(out var cas) || !TryParse(cas, out ulong _))) return Reply(Replies.BadFormat);
        _counts.CmdSet++;
        _skip = length + 2;
        return Refuse(noReply);
    }

    // ms <key> <datalen> <flag>*
    private Step MetaSet(ref LineTokens tokens)
    {
        _counts.CmdMeta++;
        if (!tokens.Next(out var key)) return Reply(Replies.Error);
        if (key.Length > MemcachedOptions.MaxKeyLength || !tokens.Next(out var datalen) ||
            !TryParse(datalen, out long length) || length < 0 || length > int.MaxValue - 2)
            return Reply(Replies.BadFormat);
        _counts.CmdSet++;
        _skip = length + 2;
        return Refuse(noReply: false);
    }

    // md <key> <flag>*, ma <key> <flag>*
    private Step MetaWrite(ref LineTokens tokens)
    {
        _counts.CmdMeta++;
        if (!tokens.Next(out var key)) return Reply(Replies.Error);
        if (key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);
        return Refuse(noReply: false);
    }

    // incr|decr <key> <value> [noreply]
    private Step Arithmetic(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count is < 2 or > 3) return Reply(Replies.Error);
        bool noReply = count == 3 && IsNoReply(tokens.Last());
        tokens.Next(out var key);
        tokens.Next(out var delta);
        if (key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);
        if (!TryParse(delta, out ulong _)) return Reply(Replies.BadDelta);
        return Refuse(noReply);
    }

    // delete <key> [0] [noreply]
    private Step Delete(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count is < 1 or > 3) return Reply(Replies.Error);
        bool noReply = count > 1 && IsNoReply(tokens.Last());
        tokens.Next(out var key);
        if (key.Length > MemcachedOptions.MaxKeyLength) return Reply(Replies.BadFormat);
        // A delay other than 0 was removed from memcached long ago; it answers this to such clients.
        if (count - (noReply ? 1 : 0) == 2 && (!tokens.Next(out var delay) || !delay.SequenceEqual("0"u8)))
            return Reply("CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"u8);
        return Refuse(noReply);
    }

    // touch <key> <exptime> [noreply]
    private Step Touch(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count is < 2 or > 3) return Reply(Replies.Error);
        bool noReply = count == 3 && IsNoReply(tokens.Last());
        tokens.Next(out var key);
        tokens.Next(out var exptime);
        if (key.Length > MemcachedOptions.MaxKeyLength || !TryParse(exptime, out long _)) return Reply(Replies.BadFormat);
        _counts.CmdTouch++;
        return Refuse(noReply);
    }

    // gat|gats <exptime> <key>*: fetching is fine, but changing a row's lifetime is a write
    private Step GetAndTouch(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count == 0) return Reply(Replies.Error);
        if (count == 1) return Reply(Replies.End);   // no keys: nothing to fetch, nothing to touch
        _counts.CmdTouch++;
        return Refuse(noReply: false);
    }

    // flush_all [delay] [noreply]
    private Step FlushAll(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count > 2) return Reply(Replies.Error);
        bool noReply = count > 0 && IsNoReply(tokens.Last());
        _counts.CmdFlush++;
        return Refuse(noReply);
    }

    // verbosity <level> [noreply]: accepted; pgrelay's log level is set by its own configuration
    private Step Verbosity(ref LineTokens tokens)
    {
        int count = tokens.Count();
        if (count is < 1 or > 2) return Reply(Replies.Error);
        bool noReply = count == 2 && IsNoReply(tokens.Last());
        tokens.Next(out var level);
        if (!TryParse(level, out ulong value)) return Reply(Replies.BadFormat);
        _server.Verbosity = (int)Math.Min(value, int.MaxValue);
        if (!noReply) _out.Write(Replies.Ok);
        return Step.Continue;
    }
}
