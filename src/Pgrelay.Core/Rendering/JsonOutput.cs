using System.Buffers;

namespace Pgrelay.Core.Rendering;

/// <summary>
/// Raw byte output to an <see cref="IBufferWriter{T}"/>. Large values are copied in the chunks the
/// writer offers rather than by asking for one huge span, so a PipeWriter never allocates an
/// oversized segment for a multi-megabyte value.
/// </summary>
internal static class JsonOutput
{
    public static void WriteByte(IBufferWriter<byte> output, byte value)
    {
        output.GetSpan(1)[0] = value;
        output.Advance(1);
    }

    public static void Write(IBufferWriter<byte> output, ReadOnlySpan<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var span = output.GetSpan(Math.Min(bytes.Length, 4096));
            int n = Math.Min(span.Length, bytes.Length);
            bytes[..n].CopyTo(span);
            output.Advance(n);
            bytes = bytes[n..];
        }
    }

    /// <summary>Writes <paramref name="bytes"/> as a JSON string body that is known not to need escaping.</summary>
    public static void WriteQuoted(IBufferWriter<byte> output, ReadOnlySpan<byte> safe)
    {
        WriteByte(output, (byte)'"');
        Write(output, safe);
        WriteByte(output, (byte)'"');
    }
}
