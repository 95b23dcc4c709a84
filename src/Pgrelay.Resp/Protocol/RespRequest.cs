namespace Pgrelay.Resp.Protocol;

/// <summary>
/// One parsed command. Arguments of a multibulk request are (offset, length) slices of the connection's receive
/// buffer, readable only while the command runs (<see cref="Bind"/>): nothing is copied. Inline requests (quotes and
/// escapes need rewriting) and commands queued by MULTI have their arguments copied into an arena owned here and
/// reused, so parsing allocates nothing once warm either way.
/// </summary>
public sealed unsafe class RespRequest
{
    private (int Start, int Length)[] _args = new (int, int)[16];
    private byte* _base;
    private byte[]? _arena;
    private int _arenaUsed;
    private bool _inArena;

    public int Count { get; private set; }

    public ReadOnlySpan<byte> this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new IndexOutOfRangeException();
            var (start, length) = _args[index];
            if (_inArena) return _arena.AsSpan(start, length);
            if (_base is null) throw new InvalidOperationException("request arguments read outside the command");
            return new ReadOnlySpan<byte>(_base + start, length);
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
        Count = 0;
        _arenaUsed = 0;
        _inArena = false;
        _base = null;
    }

    /// <summary>
    /// Makes slice arguments readable: <paramref name="requestStart"/> is where the request begins in the receive
    /// buffer, pinned by the caller for as long as the command runs. Null unbinds.
    /// </summary>
    internal void Bind(byte* requestStart) => _base = requestStart;

    /// <summary>A multibulk argument: <paramref name="length"/> bytes at <paramref name="start"/> from the request's first byte.</summary>
    internal void AddSlice(int start, int length)
    {
        if (Count == _args.Length) Array.Resize(ref _args, Count * 2);
        _args[Count++] = (start, length);
    }

    /// <summary>Reserves room in the arena for an argument the caller writes (inline unescaping, MULTI).</summary>
    internal Span<byte> AddArenaArgument(int length)
    {
        _inArena = true;
        _arena ??= new byte[Math.Max(256, length)];
        if (_arenaUsed + length > _arena.Length)
            Array.Resize(ref _arena, Math.Max(_arenaUsed + length, _arena.Length * 2));
        if (Count == _args.Length) Array.Resize(ref _args, Count * 2);
        _args[Count++] = (_arenaUsed, length);
        var span = _arena.AsSpan(_arenaUsed, length);
        _arenaUsed += length;
        return span;
    }

    /// <summary>Shrinks the last arena argument after it was written shorter than reserved (inline escapes).</summary>
    internal void TrimLast(int length)
    {
        var (start, reserved) = _args[Count - 1];
        _args[Count - 1] = (start, length);
        _arenaUsed -= reserved - length;
    }

    /// <summary>Loads a queued command back (EXEC).</summary>
    internal void Load(byte[][] arguments)
    {
        Reset();
        foreach (var a in arguments) a.CopyTo(AddArenaArgument(a.Length));
        _inArena = true;
    }
}
