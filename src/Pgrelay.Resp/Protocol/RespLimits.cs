namespace Pgrelay.Resp.Protocol;

/// <summary>Bounds on what one request may claim, so a client cannot make the server allocate without limit.</summary>
public readonly record struct RespLimits(int MaxBulkLength, int MaxArguments, int MaxInlineLength)
{
    public static readonly RespLimits Default = new(1024 * 1024, 65536, 64 * 1024);
}
