namespace Pgrelay.Memcached.Protocol;

/// <summary>
/// The words of one command line, split on spaces as memcached splits them (runs of spaces count as one).
/// A struct over the line: copying it makes an independent cursor, which is how commands look ahead.
/// </summary>
internal ref struct LineTokens(ReadOnlySpan<byte> line)
{
    private ReadOnlySpan<byte> _rest = line;

    public bool Next(out ReadOnlySpan<byte> token)
    {
        int start = 0;
        while (start < _rest.Length && _rest[start] == (byte)' ') start++;
        if (start == _rest.Length)
        {
            _rest = default;
            token = default;
            return false;
        }
        var rest = _rest[start..];
        int end = rest.IndexOf((byte)' ');
        if (end < 0) end = rest.Length;
        token = rest[..end];
        _rest = rest[end..];
        return true;
    }

    /// <summary>Words left, without consuming them.</summary>
    public readonly int Count()
    {
        var probe = this;
        int n = 0;
        while (probe.Next(out _)) n++;
        return n;
    }

    /// <summary>The last word left (for a trailing <c>noreply</c>), without consuming anything.</summary>
    public readonly ReadOnlySpan<byte> Last()
    {
        var probe = this;
        ReadOnlySpan<byte> last = default;
        while (probe.Next(out var token)) last = token;
        return last;
    }
}
