using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// The layout of a checkpoint file: a preamble, then blocks ("pages"), each with its own checksum, so a torn or
/// corrupt file is found before any of it is served and a later paged store can write its pages the same way.
/// <code>
/// preamble  12 bytes "PGRELAY-CKPT", u32 format version (little-endian, like every integer here)
/// block     u8 kind, 3 bytes zero, u32 payload length n, n bytes payload, u32 CRC32C of kind..payload
///   1 header  UTF-8 JSON: source (system identifier, database, slot), LSN K, creation time, every table's schema
///             (columns, types, modifiers, key, replica identity) and membership token, the publications
///   2 table   u32 relation id, u64 versions that follow (each stands for its copies)
///   3 rows    u32 count, then per row version: u32 length, the RowFormat bytes (version LSN ≤ K, flags...; the key hash is
///             seeded per process, so the loader computes it again)
///   4 footer  u64 K again, u64 versions in the file, u32 blocks before it: proof the file is complete
/// </code>
/// A file is written as <c>checkpoint-&lt;K hex&gt;.tmp</c>, fsynced, renamed to <c>.ckpt</c> and its directory fsynced
/// only once every durable consumer has acknowledged K: a <c>.ckpt</c> is complete and safe to start from.
/// </summary>
internal static class CheckpointFormat
{
    public const int Version = 1;
    public static ReadOnlySpan<byte> Magic => "PGRELAY-CKPT"u8;
    public const int PreambleSize = 16;
    public const int BlockHeaderSize = 8;
    public const int BlockTrailerSize = 4;

    /// <summary>Rows are gathered into blocks of about this size (one bigger row makes a block of its own).</summary>
    public const int PageSize = 1 << 20;

    public const byte HeaderBlock = 1, TableBlock = 2, RowsBlock = 3, FooterBlock = 4;

    public const string Extension = ".ckpt";
    public const string TemporaryExtension = ".tmp";
    public const string Prefix = "checkpoint-";

    public static string FileName(ulong lsn) => $"{Prefix}{lsn:X16}{Extension}";
    public static string TemporaryName(ulong lsn) => $"{Prefix}{lsn:X16}{TemporaryExtension}";

    /// <summary>The LSN a file name carries, or null for a file that is not a checkpoint.</summary>
    public static ulong? LsnOf(string fileName, string extension)
    {
        if (!fileName.StartsWith(Prefix, StringComparison.Ordinal) || !fileName.EndsWith(extension, StringComparison.Ordinal)) return null;
        var hex = fileName.AsSpan(Prefix.Length, fileName.Length - Prefix.Length - extension.Length);
        return hex.Length == 16 && ulong.TryParse(hex, System.Globalization.NumberStyles.HexNumber, null, out var lsn) ? lsn : null;
    }

    public static void WritePreamble(Span<byte> destination)
    {
        Magic.CopyTo(destination);
        BinaryPrimitives.WriteInt32LittleEndian(destination[12..], Version);
    }

    /// <summary>CRC32C (Castagnoli), hardware-accelerated where the CPU has it.</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (var word in words) crc = BitOperations.Crc32C(crc, word);
        foreach (var b in data[(words.Length * sizeof(ulong))..]) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }
}
