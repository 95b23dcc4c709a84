namespace Pgrelay.Resp.Server;

/// <summary>Counters INFO stats reports. Interlocked increments only; reads may mix moments.</summary>
public sealed class ServerStats
{
    private long _connections, _rejected, _commands, _hits, _misses, _protocolErrors, _outputLimitDisconnects, _parsedBytesOfClosed;

    public long ConnectionsReceived => Interlocked.Read(ref _connections);
    public long RejectedConnections => Interlocked.Read(ref _rejected);
    public long CommandsProcessed => Interlocked.Read(ref _commands);
    public long KeyspaceHits => Interlocked.Read(ref _hits);
    public long KeyspaceMisses => Interlocked.Read(ref _misses);
    public long ProtocolErrors => Interlocked.Read(ref _protocolErrors);
    public long OutputLimitDisconnects => Interlocked.Read(ref _outputLimitDisconnects);

    /// <summary>Bytes examined by the parsers of connections that have closed (see <see cref="RespServer.ParsedBytes"/>).</summary>
    internal long ParsedBytesOfClosed => Interlocked.Read(ref _parsedBytesOfClosed);

    internal void Connection() => Interlocked.Increment(ref _connections);
    internal void Rejected() => Interlocked.Increment(ref _rejected);
    internal void AddCommands(int count) => Interlocked.Add(ref _commands, count);
    internal void Hit() => Interlocked.Increment(ref _hits);
    internal void Miss() => Interlocked.Increment(ref _misses);
    internal void ProtocolError() => Interlocked.Increment(ref _protocolErrors);
    internal void OutputLimitDisconnect() => Interlocked.Increment(ref _outputLimitDisconnects);
    internal void AddParsedBytes(long bytes) => Interlocked.Add(ref _parsedBytesOfClosed, bytes);

    internal void Reset()
    {
        Interlocked.Exchange(ref _commands, 0);
        Interlocked.Exchange(ref _hits, 0);
        Interlocked.Exchange(ref _misses, 0);
        Interlocked.Exchange(ref _rejected, 0);
        Interlocked.Exchange(ref _protocolErrors, 0);
        Interlocked.Exchange(ref _outputLimitDisconnects, 0);
    }
}
