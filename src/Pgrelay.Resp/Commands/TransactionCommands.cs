using Pgrelay.Resp.Protocol;
using Pgrelay.Resp.Server;

namespace Pgrelay.Resp.Commands;

/// <summary>
/// MULTI/EXEC. Clients cannot write, so a transaction is a batch of reads, and EXEC runs them all against one
/// pinned snapshot: every reply reflects the same committed PostgreSQL state. WATCH fails EXEC when replication
/// changed a watched key in between, which is what Redis promises about any other writer.
/// </summary>
internal static class TransactionCommands
{
    public static void Multi(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.Queued is not null)
        {
            writer.WriteError("ERR MULTI calls can not be nested"u8);
            return;
        }
        session.Queued = [];
        session.MultiFailed = false;
        writer.WriteOk();
    }

    public static void Exec(RespSession session, RespRequest request, RespWriter writer)
    {
        var queued = session.Queued;
        if (queued is null)
        {
            writer.WriteError("ERR EXEC without MULTI"u8);
            return;
        }
        session.Queued = null;
        var watched = session.Watched;
        session.Watched = null;
        if (session.MultiFailed)
        {
            session.MultiFailed = false;
            writer.WriteError("EXECABORT Transaction discarded because of previous errors."u8);
            return;
        }
        if (watched is not null && Changed(session, watched))
        {
            writer.WriteNullArray();
            return;
        }
        using var pin = session.Store.Pin();
        session.Pin = pin;
        try
        {
            writer.WriteArrayHeader(queued.Count);
            foreach (var command in queued) session.ExecuteQueued(command);
        }
        finally
        {
            session.Pin = null;
        }
    }

    public static void Discard(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.Queued is null)
        {
            writer.WriteError("ERR DISCARD without MULTI"u8);
            return;
        }
        session.Queued = null;
        session.MultiFailed = false;
        session.Watched = null;
        writer.WriteOk();
    }

    public static void Watch(RespSession session, RespRequest request, RespWriter writer)
    {
        if (session.Queued is not null)
        {
            writer.WriteError("ERR WATCH inside MULTI is not allowed"u8);
            return;
        }
        var watched = session.Watched ??= [];
        for (int i = 1; i < request.Count; i++)
        {
            bool exists = session.Store.TryGetRow(request[i], out var row);
            watched.Add(new WatchedKey(request[i].ToArray(), exists ? row.VersionLsn.Value : 0, exists));
        }
        writer.WriteOk();
    }

    public static void Unwatch(RespSession session, RespRequest request, RespWriter writer)
    {
        session.Watched = null;
        writer.WriteOk();
    }

    private static bool Changed(RespSession session, List<WatchedKey> watched)
    {
        foreach (var w in watched)
        {
            bool exists = session.Store.TryGetRow(w.Key, out var row);
            if (exists != w.Existed || (exists && row.VersionLsn.Value != w.CommitLsn)) return true;
        }
        return false;
    }
}
