using System.Buffers;
using System.Buffers.Text;
using System.Globalization;

namespace Pgrelay.Core.Model;

/// <summary>A PostgreSQL log sequence number: a byte position in the WAL, written as "X/Y" in hex.</summary>
public readonly record struct Lsn(ulong Value) : IComparable<Lsn>
{
    public static readonly Lsn Zero = new(0);

    public int CompareTo(Lsn other) => Value.CompareTo(other.Value);
    public static bool operator <(Lsn a, Lsn b) => a.Value < b.Value;
    public static bool operator >(Lsn a, Lsn b) => a.Value > b.Value;
    public static bool operator <=(Lsn a, Lsn b) => a.Value <= b.Value;
    public static bool operator >=(Lsn a, Lsn b) => a.Value >= b.Value;
    public static Lsn Max(Lsn a, Lsn b) => a.Value >= b.Value ? a : b;
    public static Lsn Min(Lsn a, Lsn b) => a.Value <= b.Value ? a : b;

    public override string ToString() => $"{Value >> 32:X}/{Value & 0xFFFFFFFF:X}";

    /// <summary>Writes "X/Y" as UTF-8; returns bytes written (at most 17).</summary>
    public int Format(Span<byte> destination)
    {
        Utf8Formatter.TryFormat((uint)(Value >> 32), destination, out int hi, new StandardFormat('X'));
        destination[hi] = (byte)'/';
        Utf8Formatter.TryFormat((uint)Value, destination[(hi + 1)..], out int lo, new StandardFormat('X'));
        return hi + 1 + lo;
    }

    public static Lsn Parse(string text) =>
        TryParse(text, out var lsn) ? lsn : throw new FormatException($"'{text}' is not an LSN (expected X/Y in hex)");

    public static bool TryParse(ReadOnlySpan<char> text, out Lsn lsn)
    {
        lsn = Zero;
        int slash = text.IndexOf('/');
        if (slash <= 0 || slash == text.Length - 1) return false;
        if (!uint.TryParse(text[..slash], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var hi) ||
            !uint.TryParse(text[(slash + 1)..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var lo))
            return false;
        lsn = new Lsn(((ulong)hi << 32) | lo);
        return true;
    }
}
