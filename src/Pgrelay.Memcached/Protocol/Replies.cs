namespace Pgrelay.Memcached.Protocol;

/// <summary>Fixed response lines, worded as memcached words them so clients recognise them.</summary>
internal static class Replies
{
    public static ReadOnlySpan<byte> Crlf => "\r\n"u8;
    public static ReadOnlySpan<byte> End => "END\r\n"u8;
    public static ReadOnlySpan<byte> Error => "ERROR\r\n"u8;
    public static ReadOnlySpan<byte> Ok => "OK\r\n"u8;
    public static ReadOnlySpan<byte> Reset => "RESET\r\n"u8;
    public static ReadOnlySpan<byte> MetaNoop => "MN\r\n"u8;
    public static ReadOnlySpan<byte> MetaMiss => "EN"u8;
    public static ReadOnlySpan<byte> BadFormat => "CLIENT_ERROR bad command line format\r\n"u8;
    public static ReadOnlySpan<byte> LineTooLong => "CLIENT_ERROR line too long\r\n"u8;
    public static ReadOnlySpan<byte> InvalidFlag => "CLIENT_ERROR invalid flag\r\n"u8;
    public static ReadOnlySpan<byte> DuplicateFlag => "CLIENT_ERROR duplicate flag\r\n"u8;
    public static ReadOnlySpan<byte> OpaqueTooLong => "CLIENT_ERROR opaque token too long\r\n"u8;
    public static ReadOnlySpan<byte> BadKeyEncoding => "CLIENT_ERROR error decoding key\r\n"u8;
    public static ReadOnlySpan<byte> BadDelta => "CLIENT_ERROR invalid numeric delta argument\r\n"u8;
    public static ReadOnlySpan<byte> ShutdownDisabled => "ERROR: shutdown not enabled\r\n"u8;

    /// <summary>The answer to every write: the data lives in PostgreSQL, and pgrelay only mirrors it.</summary>
    public static ReadOnlySpan<byte> ReadOnly => "SERVER_ERROR pgrelay is a read-only replica of PostgreSQL; write to the database\r\n"u8;

    /// <summary>memcached 1.6's words to a connection over maxconns, written before it closes it.</summary>
    public static ReadOnlySpan<byte> TooManyConnections => "ERROR Too many open connections\r\n"u8;
}
