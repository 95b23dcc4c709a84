using System.Buffers;

namespace Pgrelay.Fuzz;

/// <summary>Bytes as a <see cref="ReadOnlySequence{T}"/> of pieces, the way a pipe hands over data that arrived in several reads.</summary>
internal sealed class Segments : ReadOnlySequenceSegment<byte>
{
    private Segments(ReadOnlyMemory<byte> memory, long runningIndex)
    {
        Memory = memory;
        RunningIndex = runningIndex;
    }

    public static ReadOnlySequence<byte> Of(IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        if (pieces.Count == 0) return ReadOnlySequence<byte>.Empty;
        var first = new Segments(pieces[0], 0);
        var last = first;
        for (int i = 1; i < pieces.Count; i++)
        {
            var next = new Segments(pieces[i], last.RunningIndex + last.Memory.Length);
            last.Next = next;
            last = next;
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }
}
