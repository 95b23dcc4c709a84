using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// The layout of a checkpoint file: a preamble, then blocks, each with its own checksum, so a torn or corrupt file is
/// found before any of it is served. The rows travel as the store's own pages (<see cref="Pages.PageFormat"/>), so a
/// load reads each page straight into the array it serves from and builds the index from the hash tags beside it,
/// without computing a key.
/// <code>
/// preamble  12 bytes "PGRELAY-CKPT", u32 format version (little-endian, like every integer here)
/// block     u8 kind, 3 bytes zero, u32 payload length n, n bytes payload, u32 CRC32C of kind..payload
///   1 header  UTF-8 JSON: source (system identifier, database, slot), LSN K, creation time, every table's schema
///             (columns, types, modifiers, key, replica identity) and membership token, the publications
///   2 table   u32 relation id, u64 versions that follow (each stands for its copies), u64 the store's key hash seed
///             (the same in every table block)
///   5 page    u32 record count c, c × u32 hash tags (the top 24 bits of each record's key hash under the seed), then
///             one page image: its 64-byte header (base LSN: the first record's) and c records, one version each,
///             visible at K (version LSN ≤ K, no previous address, shape 0: the table's one schema after a load)
///   4 footer  u64 K again, u64 versions in the file, u32 blocks before it: proof the file is complete
/// </code>
/// Format 4 (this one): rows with a one-byte column count and no states when every column holds a value
/// (<see cref="Core.Rows.RowFormat"/>), tags the top 24 bits of each key hash, where the index takes a key's home from.
/// Format 3 had the same tags and the older rows, format 2 the low 24 bits: an older file is refused (a fresh snapshot),
/// never misread.
/// A file is written as <c>checkpoint-&lt;K hex&gt;.tmp</c>, fsynced, renamed to <c>.ckpt</c> and its directory fsynced
/// only once every durable consumer has acknowledged K: a <c>.ckpt</c> is complete and safe to start from.
/// </summary>
internal static class CheckpointFormat
{
    public const int Version = 4;
    public static ReadOnlySpan<byte> Magic => "PGRELAY-CKPT"u8;
    public const int PreambleSize = 16;
    public const int BlockHeaderSize = 8;
    public const int BlockTrailerSize = 4;

    /// <summary>Page images are at most this size (one bigger row makes a page of its own), like the store's own pages.</summary>
    public const int PageSize = Pages.PageFormat.MaxPageSize;

    public const byte HeaderBlock = 1, TableBlock = 2, FooterBlock = 4, PageBlock = 5;

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

    /// <summary>CRC32C of pieces back to back, as if they were one span.</summary>
    public static uint Crc32C(uint crc, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, ReadOnlySpan<byte> c, ReadOnlySpan<byte> d) =>
        Crc32C(Crc32C(Crc32C(Crc32C(crc, a), b), c), d);

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
