namespace Pgrelay.Core.Model;

/// <summary>A publication and the tables it replicates.</summary>
public sealed record PublicationSchema(string Name, IReadOnlyList<TableSchema> Tables);
