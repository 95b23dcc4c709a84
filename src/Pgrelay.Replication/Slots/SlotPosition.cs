using Npgsql;
using Pgrelay.Core.Model;
using Pgrelay.Replication.Connection;

namespace Pgrelay.Replication.Slots;

/// <summary>
/// What the slot may hold for this instance to stream on without a gap, checked on every (re)attach.
/// <para>The store contains every commit below its applied LSN, and nothing the server streams below what this instance
/// has confirmed is missing from it (confirmations only cover what was applied, or the server position while nothing
/// was pending). So a slot confirmed beyond the larger of the two was moved by someone else — pg_replication_slot_advance,
/// another process streaming from it — or dropped and created again (a new slot starts at the current WAL position,
/// beyond anything this instance has seen): the transactions in between will never be streamed.</para>
/// <para>The check runs once START_REPLICATION holds the slot (its active_pid is our walsender), because nobody can move
/// an active slot; the decoder and the confirmations wait for it.</para>
/// </summary>
public sealed class SlotPosition
{
    private ulong _confirmed;

    /// <summary>The highest position this instance has told the server it holds everything below.</summary>
    public Lsn Confirmed => new(Volatile.Read(ref _confirmed));

    public void Confirm(Lsn lsn)
    {
        ulong value = lsn.Value, seen;
        while ((seen = Volatile.Read(ref _confirmed)) < value && Interlocked.CompareExchange(ref _confirmed, value, seen) != seen) { }
    }

    /// <summary>A new slot (or a kept one resumed at its confirmed position): its position is where this instance starts.</summary>
    public void Reset(Lsn lsn) => Volatile.Write(ref _confirmed, lsn.Value);

    /// <summary>
    /// Waits until <paramref name="walSenderPid"/> holds the slot and returns its confirmed position; throws <see cref="SlotMovedException"/> when the slot
    /// is confirmed beyond what this instance holds (<paramref name="applied"/> or <see cref="Confirmed"/>).
    /// </summary>
    public async Task<Lsn> VerifyAttachAsync(SourceOptions source, string slot, int walSenderPid, Lsn applied, CancellationToken ct)
    {
        await using var conn = await Preflight.OpenAsync(source, ct).ConfigureAwait(false);
        await using var cmd = new NpgsqlCommand(
            "SELECT active_pid, confirmed_flush_lsn, wal_status FROM pg_replication_slots WHERE slot_name = @slot", conn);
        cmd.Parameters.AddWithValue("slot", slot);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(1);
        while (true)
        {
            await using (var reader = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                    throw new SlotMovedException($"slot {slot} was dropped");
                if (!reader.IsDBNull(0) && reader.GetInt32(0) == walSenderPid)
                {
                    var confirmed = reader.IsDBNull(1) ? Lsn.Zero : new Lsn((ulong)reader.GetFieldValue<NpgsqlTypes.NpgsqlLogSequenceNumber>(1));
                    var holds = Lsn.Max(applied, Confirmed);
                    if (confirmed > holds)
                        throw new SlotMovedException(
                            $"slot {slot} is confirmed at {confirmed}, past what this instance holds ({holds}): someone else moved it, or dropped and recreated it; the transactions in between are lost to this slot");
                    if (!reader.IsDBNull(2) && reader.GetString(2) == "lost")
                        throw new SlotMovedException($"slot {slot} was invalidated (wal_status lost): the server removed WAL it needed");
                    return confirmed;
                }
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"slot {slot} was not taken by this session's walsender within a minute");
            await Task.Delay(20, ct).ConfigureAwait(false);
        }
    }
}
