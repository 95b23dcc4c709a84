using Pgrelay.Core.Keys;
using Pgrelay.Core.Model;

namespace Pgrelay.Sinks.Events;

/// <summary>
/// A table a sink has written, as the target knows it: the sink-side (routed) schema and name, and the publications (key
/// names) its rows were written under (where the <c>redis-hash</c> sink keeps them). Enough to empty it at the target once
/// pgrelay no longer holds its source table: a load clears every table the sink wrote, not only the ones it loads now.
/// </summary>
/// <param name="RelationId">The source table's relation id: whether the store still holds it (else the table was
/// removed from the publications).</param>
public sealed record WrittenTable(uint RelationId, string Schema, string Name, IReadOnlyList<string> Publications)
{
    /// <summary>pgrelay's key name for the table (<see cref="CacheKey.TableKeyName"/>): the middle part of its hash keys.</summary>
    public string KeyName => CacheKey.TableKeyName(Schema, Name);

    public bool SameName(SinkTable table) => Schema == table.Schema && Name == table.Name;

    /// <summary>A layout with no columns that names this table: what a truncate event of it needs.</summary>
    public SinkTable ToSinkTable() =>
        new(new TableSchema(RelationId, Schema, Name, [], ReplicaIdentity.Default), Schema, Name, []);

    public override string ToString() => $"{Schema}.{Name}";
}
