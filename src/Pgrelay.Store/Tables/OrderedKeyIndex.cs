using Pgrelay.Store.Snapshots;

namespace Pgrelay.Store.Tables;

/// <summary>
/// Key order for paging (<c>?after=&amp;limit=</c>): the byte order of the escaped row keys every protocol shows, so
/// a page's "next" is a key like any other. Built on demand from the hash table and reused until
/// the key set changes; a page binary-searches the sorted keys and reads each row at the pinned snapshot.
/// Keys added since the build are picked up at the next rebuild, which happens at most once a second
/// under constant inserts, so the write path pays nothing for ordering.
/// </summary>
internal sealed class OrderedKeyIndex(StoredTable table)
{
    private static readonly TimeSpan RebuildInterval = TimeSpan.FromSeconds(1);
    private readonly object _gate = new();
    private byte[][] _keys = [];
    private long _builtVersion = -1;
    private DateTime _builtAt;

    public List<RowRef> Page(ReadOnlySpan<byte> afterKey, bool hasAfter, int limit, StorePin pin)
    {
        var keys = Current(pin);
        int start = 0;
        if (hasAfter)
        {
            int lo = 0, hi = keys.Length;
            while (lo < hi)
            {
                int mid = (lo + hi) >>> 1;
                if (keys[mid].AsSpan().SequenceCompareTo(afterKey) <= 0) lo = mid + 1; else hi = mid;
            }
            start = lo;
        }
        var page = new List<RowRef>(Math.Min(limit, 1024));
        for (int i = start; i < keys.Length && page.Count < limit; i++)
            if (table.TryGet(keys[i], pin, out var row)) page.Add(row);
        return page;
    }

    private byte[][] Current(StorePin pin)
    {
        lock (_gate)
        {
            long version = table.KeySetVersion;
            if (version != _builtVersion && (_builtVersion < 0 || DateTime.UtcNow - _builtAt >= RebuildInterval))
            {
                var keys = new List<byte[]>((int)Math.Max(table.RowCount, 16));
                foreach (var row in table.Rows(pin))   // one key per copy of identical rows
                {
                    var key = new byte[row.RowKeyLength];
                    row.WriteRowKey(key);
                    keys.Add(key);
                }
                keys.Sort(static (a, b) => a.AsSpan().SequenceCompareTo(b));
                _keys = keys.ToArray();
                _builtVersion = version;
                _builtAt = DateTime.UtcNow;
            }
            return _keys;
        }
    }
}
