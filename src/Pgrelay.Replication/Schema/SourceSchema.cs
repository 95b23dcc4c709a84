using Pgrelay.Core.Model;

namespace Pgrelay.Replication.Schema;

/// <summary>Everything introspection found: publications with their tables, and each distinct table once.</summary>
public sealed record SourceSchema(IReadOnlyList<PublicationSchema> Publications, IReadOnlyList<PublishedTable> Tables)
{
    public long EstimatedRows => Tables.Sum(t => Math.Max(0, t.RelTuples));
}
