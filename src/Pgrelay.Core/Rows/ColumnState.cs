namespace Pgrelay.Core.Rows;

/// <summary>What a row holds for one column.</summary>
public enum ColumnState : byte
{
    Value = 0,
    Null = 1,
    /// <summary>An UPDATE that left a TOASTed value unchanged: pgoutput sends 'u', the old value still holds.</summary>
    Unchanged = 2,
}
