namespace Pgrelay.Core.Model;

/// <summary>pg_class.relreplident: what PostgreSQL sends as the old row on UPDATE/DELETE.</summary>
public enum ReplicaIdentity : byte
{
    Default = (byte)'d',  // primary key
    Nothing = (byte)'n',
    Full = (byte)'f',
    Index = (byte)'i',
}
