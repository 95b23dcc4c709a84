namespace Pgrelay.Resp.Protocol;

/// <summary>Input that is not RESP: the connection gets <c>-ERR Protocol error: ...</c> and is closed.</summary>
public sealed class RespProtocolException(string message) : Exception(message);
