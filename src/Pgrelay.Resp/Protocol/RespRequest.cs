namespace Pgrelay.Resp.Protocol;

/// <summary>
/// One parsed command: its arguments copied back to back into an arena owned by the connection and
/// reused for every request, so parsing allocates nothing once the arena has grown to fit.
/// </summary>
public sealed class RespRequest
{
    private byte[] _arena = new byte[4096];
    private int _used;
    private (int Start, int Length)[] _args = new (int, int)[16];

    public int Count { get; private set; }

    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            var (start, length) = _args[index];
            return _arena.AsSpan(start, length);
        }
    }

    /// <summary>The command name as the client sent it.</summary>
    public ReadOnlySpan<byte> Name => this[0];

    /// <summary>Case-insensitive ASCII comparison of argument <paramref name="index"/> with a lowercase literal.</summary>
    public bool Is(int index, ReadOnlySpan<byte> lowercase) => AsciiEquals(this[index], lowercase);

    public static bool AsciiEquals(ReadOnlySpan<byte> value, ReadOnlySpan<byte> lowercase)
    {
        if (value.Length != lowercase.Length) return false;
        for (int i = 0; i < value.Length; i++)
        {
            int c = value[i];
            if (c is >= 'A' and <= 'Z') c |= 0x20;
            if (c != lowercase[i]) return false;
        }
        return true;
    }

    public string ArgString(int index) => System.Text.Encoding.UTF8.GetString(this[index]);

    /// <summary>Copies the arguments, for commands queued inside MULTI.</summary>
    public byte[][] ToArrays()
    {
        var copy = new byte[Count][];
        for (int i = 0; i < Count; i++) copy[i] = this[i].ToArray();
        return copy;
    }

    internal void Reset()
    {
        _used = 0;
        Count = 0;
    }

    /// <summary>Reserves room for the next argument and returns it for the caller to fill.</summary>
    internal Span<byte> AddArgument(int length)
    {
        if (_used + length > _arena.Length)
            Array.Resize(ref _arena, Math.Max(_used + length, _arena.Length * 2));
        if (Count == _args.Length) Array.Resize(ref _args, Count * 2);
        _args[Count++] = (_used, length);
        var span = _arena.AsSpan(_used, length);
        _used += length;
        return span;
    }

    /// <summary>Loads a queued command back (EXEC).</summary>
    internal void Load(byte[][] arguments)
    {
        Reset();
        foreach (var a in arguments) a.CopyTo(AddArgument(a.Length));
    }

    /// <summary>Shrinks the last argument after it was written shorter than reserved (inline escapes).</summary>
    internal void TrimLast(int length)
    {
        var (start, reserved) = _args[Count - 1];
        _args[Count - 1] = (start, length);
        _used -= reserved - length;
    }
}
