using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>Commands that would change data. PostgreSQL owns the data; this server only mirrors it.</summary>
internal static class WriteCommands
{
    public static void Deny(RespSession session, RespRequest request, RespWriter writer) =>
        writer.WriteError("READONLY pgrelay serves a read-only replica of PostgreSQL; write to the database instead"u8);
}
