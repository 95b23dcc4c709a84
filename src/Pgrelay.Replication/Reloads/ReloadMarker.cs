using Npgsql;

namespace Pgrelay.Replication.Reloads;

/// <summary>
/// A transactional logical message pgrelay writes to the source so that a structural change of the store (a loaded
/// table replacing the held one, a table leaving the publications) happens inside a real source transaction: it gets that
/// transaction's LSN, becomes visible atomically with it, and reaches the feed in commit order. The payload names the
/// instance, so another pgrelay on the same database ignores it.
/// </summary>
internal static class ReloadMarker
{
    public const string Prefix = "pgrelay.reload";

    public static async Task EmitAsync(NpgsqlConnection conn, string id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT pg_logical_emit_message(true, @prefix, @id)", conn);
        cmd.Parameters.AddWithValue("prefix", Prefix);
        cmd.Parameters.AddWithValue("id", id);
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
