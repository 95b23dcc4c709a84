using System.Diagnostics;
using Pgrelay.Core.Model;
using Pgrelay.Core.Rendering;
using Pgrelay.Core.Rows;
using Pgrelay.Memcached.Protocol;
using Pgrelay.Store.Tables;

namespace Pgrelay.Memcached.Server;

/// <summary>
/// The JSON of recently read row versions, so a hot key is rendered once per version instead of once per read
/// (memcached itself only copies stored bytes; rendering every read would cost pgrelay its throughput).
/// <para>
/// Two-way set-associative by the row's key hash: a key's newer version lands in its older version's set and replaces
/// it, so stale versions do not pile up, and two hot keys that share a set both stay (a direct-mapped cache would make
/// them evict each other on every read, rendering and allocating each time). An entry is valid only for the very row array and
/// schema it was rendered from; row arrays are immutable once readers can see them (the store only re-stamps the
/// LSN of snapshot rows, which the JSON does not contain), so reference equality is exact. Entries are immutable
/// objects published with one reference write, so readers on any thread need no lock.
/// </para>
/// <para>
/// Bounded: the slot array is sized from the byte budget, values above 1/1024 of the budget are not cached, and an
/// entry that would take the total past the budget is not stored. Cache misses allocate (one entry per version
/// rendered); hits do not.
/// </para>
/// </summary>
internal sealed class RenderedRowCache
{
    /// <summary>What an entry costs besides its JSON and the row it keeps alive: the entry object, array headers.</summary>
    private const int EntryOverheadBytes = 64;

    private readonly Entry?[] _slots;
    private readonly int _mask;
    private readonly long _budget;
    private readonly int _largestCached;
    private long _bytes;

    public RenderedRowCache(long budgetBytes)
    {
        _budget = Math.Max(budgetBytes, 0);
        // About one slot per 512 budget bytes: typical rows render to a few hundred bytes.
        long wanted = Math.Clamp(_budget / 512, 2, 1 << 22);
        _slots = _budget == 0 ? [] : new Entry?[(int)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)wanted)];
        _mask = _slots.Length - 1;
        _largestCached = (int)Math.Min(_budget / 1024, 1 << 20);
    }

    /// <summary>Bytes the cache holds now (approximate under concurrent use).</summary>
    public long Bytes => Interlocked.Read(ref _bytes);

    public long BudgetBytes => _budget;

    /// <summary>The row's JSON: from the cache, or rendered into <paramref name="scratch"/> (and cached when it fits).</summary>
    public ReadOnlySpan<byte> Get(in RowRef row, ValueBuffer scratch)
    {
        if (_slots.Length == 0) return Render(row, scratch);
        int hash = row.KeyHash;
        int set = hash & _mask & ~1;
        var first = Volatile.Read(ref _slots[set]);
        if (first is not null && first.Holds(row)) return first.Json;
        var second = Volatile.Read(ref _slots[set + 1]);
        if (second is not null && second.Holds(row)) return second.Json;

        var json = Render(row, scratch);
        if (json.Length > _largestCached) return json;
        // The victim: an older version of this key (same hash), else an empty way, else either.
        int way = first is not null && first.KeyHash == hash ? 0
            : second is not null && second.KeyHash == hash ? 1
            : first is null ? 0
            : second is null ? 1
            : (int)(Stopwatch.GetTimestamp() & 1);
        var victim = way == 0 ? first : second;
        // Checked before allocating: a full cache must not turn every miss into garbage.
        int rowLength = row.View.Body.Length;
        if (Interlocked.Read(ref _bytes) + Entry.CostOf(json.Length, rowLength) - (victim?.Cost ?? 0) > _budget) return json;
        var fresh = new Entry(row, rowLength, json.ToArray());
        var replaced = Interlocked.Exchange(ref _slots[set + way], fresh);
        Interlocked.Add(ref _bytes, fresh.Cost - (replaced?.Cost ?? 0));
        return json;
    }

    private static ReadOnlySpan<byte> Render(in RowRef row, ValueBuffer scratch)
    {
        scratch.Clear();
        JsonRowRenderer.Write(row.View, row.Schema, scratch);
        return scratch.Written;
    }

    private sealed class Entry(in RowRef row, int rowLength, byte[] json)
    {
        // The version rendered, named by where its body lies and its LSN (a page holds many versions).
        private readonly byte[] _buffer = row.View.Buffer;
        private readonly int _body = row.View.BodyStart;
        private readonly ulong _lsn = row.VersionLsn.Value;
        public readonly int KeyHash = row.KeyHash;
        public readonly TableSchema Schema = row.Schema;
        public readonly byte[] Json = json;
        private readonly int _rowLength = rowLength;

        public bool Holds(in RowRef row) => row.SameVersion(_buffer, _body, _lsn) && ReferenceEquals(Schema, row.Schema);

        /// <summary>The row counts too: an entry keeps a version alive after the store has dropped it.</summary>
        public long Cost => CostOf(Json.Length, _rowLength);

        public static long CostOf(int jsonLength, int rowLength) => (long)jsonLength + rowLength + EntryOverheadBytes;
    }
}
