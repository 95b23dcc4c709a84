namespace Pgrelay.Resp.Protocol;

public enum RespParseResult
{
    /// <summary>The request is not complete yet; call again with the same start and more bytes.</summary>
    Incomplete,
    /// <summary>A command is in the request; <c>consumed</c> bytes make it up.</summary>
    Command,
    /// <summary>A blank line or an array of zero (or fewer) elements: consumed, nothing to run.</summary>
    Empty,
    /// <summary>Not RESP: reply <c>-ERR Protocol error: </c> + <see cref="RespParser.Error"/> and close.</summary>
    Error,
}
