using System.Buffers.Binary;
using Pgrelay.Store.Pages;

namespace Pgrelay.Store.Checkpoints;

/// <summary>
/// One page of a checkpoint being written: records in the store's page layout (<see cref="PageFormat"/>), one version
/// each with no previous address, and the hash tag of each, so the loader can serve the page as it reads it.
/// </summary>
internal sealed class PageImage
{
    private byte[] _page = new byte[CheckpointFormat.PageSize];
    private int _used = PageFormat.HeaderSize;
    private ulong _base;
    private readonly List<int> _tags = [];

    public int Count => _tags.Count;
    public List<int> Tags => _tags;
    public ReadOnlySpan<byte> Image => _page.AsSpan(0, _used);

    /// <summary>Adds a version; false when the page is full (write it, clear it, add again). A version bigger than a
    /// page gets a page of its own.</summary>
    public bool TryAdd(ReadOnlySpan<byte> body, ulong lsn, int tag)
    {
        if (_tags.Count == 0)
        {
            _base = lsn;
            _page.AsSpan(0, PageFormat.HeaderSize).Clear();
            PageFormat.WriteHeader(_page, 0);
            BinaryPrimitives.WriteUInt64LittleEndian(_page.AsSpan(PageFormat.BaseLsnOffset), lsn);
        }
        byte flags = lsn == _base ? (byte)0 : PageFormat.OwnLsn;
        int size = PageFormat.RecordSize(_used, flags, body.Length);
        if (_used + size > _page.Length)
        {
            if (_tags.Count > 0) return false;
            Array.Resize(ref _page, _used + size);
        }
        int at = _used;
        _page[at] = flags;
        if (flags != 0)
        {
            int words = PageFormat.WordsAt(at);
            _page.AsSpan(at + 1, words - at - 1).Clear();
            BinaryPrimitives.WriteUInt64LittleEndian(_page.AsSpan(words), lsn);
        }
        int bodyAt = PageFormat.BodyAt(_page, at);
        body.CopyTo(_page.AsSpan(bodyAt));
        _page[bodyAt + 1] = 0;   // shape: the loaded table has one schema
        _used = at + size;
        BinaryPrimitives.WriteInt32LittleEndian(_page.AsSpan(PageFormat.UsedOffset), _used);
        _tags.Add(tag);
        return true;
    }

    public void Clear()
    {
        _tags.Clear();
        _used = PageFormat.HeaderSize;
        if (_page.Length > CheckpointFormat.PageSize) _page = new byte[CheckpointFormat.PageSize];
    }
}
