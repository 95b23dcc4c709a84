using System.Buffers.Binary;
using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Streaming;

/// <summary>
/// Changes of one big transaction moved out of memory. Records are
/// <c>kind:u8 schema:i32 newLen:i32 new oldLen:i32 old</c> (length -1 = no row); schemas stay in memory
/// as a small table. The file deletes itself when closed.
/// </summary>
internal sealed class SpillFile : IDisposable
{
    private readonly FileStream _file;
    private readonly List<TableSchema> _schemas = new();
    private readonly Dictionary<TableSchema, int> _schemaIndex = new(ReferenceEqualityComparer.Instance);
    private readonly byte[] _header = new byte[9];
    private bool _readSince;

    public SpillFile(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"pgrelay-spill-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        _file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16,
            FileOptions.DeleteOnClose | FileOptions.SequentialScan);
    }

    public long Length => _file.Length;
    public long Position => _file.Position;
    public int Count { get; private set; }

    public void Append(in RowChange change)
    {
        // A reader may have left the position anywhere (a reload's tail is read, and may be read again, while it grows).
        if (_readSince)
        {
            _file.Seek(0, SeekOrigin.End);
            _readSince = false;
        }
        if (!_schemaIndex.TryGetValue(change.Table, out int schema))
        {
            schema = _schemas.Count;
            _schemas.Add(change.Table);
            _schemaIndex.Add(change.Table, schema);
        }
        _header[0] = (byte)change.Kind;
        BinaryPrimitives.WriteInt32LittleEndian(_header.AsSpan(1), schema);
        BinaryPrimitives.WriteInt32LittleEndian(_header.AsSpan(5), change.NewRow?.Length ?? -1);
        _file.Write(_header, 0, 9);
        if (change.NewRow is not null) _file.Write(change.NewRow);
        BinaryPrimitives.WriteInt32LittleEndian(_header, change.OldRow?.Length ?? -1);
        _file.Write(_header, 0, 4);
        if (change.OldRow is not null) _file.Write(change.OldRow);
        Count++;
    }

    /// <summary>Forgets every record from byte <paramref name="position"/> on (a rolled-back subtransaction).</summary>
    public void Truncate(long position, int count)
    {
        _file.SetLength(position);
        _file.Position = position;
        Count = count;
    }

    /// <summary>Reads all records back in order.</summary>
    public IEnumerable<RowChange> ReadAll()
    {
        _readSince = true;
        _file.Flush();
        _file.Position = 0;
        var header = new byte[9];
        for (int i = 0, count = Count; i < count; i++)
        {
            _file.ReadExactly(header, 0, 9);
            var kind = (ChangeKind)header[0];
            var schema = _schemas[BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(1))];
            var newRow = ReadRow(BinaryPrimitives.ReadInt32LittleEndian(header.AsSpan(5)));
            _file.ReadExactly(header, 0, 4);
            var oldRow = ReadRow(BinaryPrimitives.ReadInt32LittleEndian(header));
            yield return new RowChange(kind, schema, newRow, oldRow);
        }
    }

    private byte[]? ReadRow(int length)
    {
        if (length < 0) return null;
        var row = new byte[length];
        _file.ReadExactly(row);
        return row;
    }

    public void Dispose() => _file.Dispose();
}
