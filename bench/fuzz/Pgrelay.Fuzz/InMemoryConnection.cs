using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace Pgrelay.Fuzz;

/// <summary>
/// One client connection held in memory: what the fuzzer sends goes into the session's input pipe in the pieces it
/// chooses (so every split of a request across reads is reachable), and the session's replies are drained as they
/// come, so a reply flood costs no memory here. The server side is the real connection handler, session and parser.
/// </summary>
internal static class InMemoryConnection
{
    private sealed class Duplex(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input { get; } = input;
        public PipeWriter Output { get; } = output;
    }

    /// <summary>Runs <paramref name="serve"/> on a connection that receives <paramref name="pieces"/> and then closes; returns the bytes answered.</summary>
    public static async Task<long> RunAsync(Func<ConnectionContext, Task> serve, IReadOnlyList<ReadOnlyMemory<byte>> pieces)
    {
        var toServer = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        var toClient = new Pipe(new PipeOptions(pauseWriterThreshold: 0, useSynchronizationContext: false));
        var connection = new DefaultConnectionContext("fuzz", new Duplex(toServer.Reader, toClient.Writer), new Duplex(toClient.Reader, toServer.Writer));
        var drained = DrainAsync(toClient.Reader);
        var session = serve(connection);
        foreach (var piece in pieces)
        {
            var flush = await toServer.Writer.WriteAsync(piece);
            if (flush.IsCompleted) break;   // the session closed the connection (QUIT, a protocol error)
        }
        await toServer.Writer.CompleteAsync();
        await session;
        await toClient.Writer.CompleteAsync();
        return await drained;
    }

    private static async Task<long> DrainAsync(PipeReader replies)
    {
        long total = 0;
        while (true)
        {
            var read = await replies.ReadAsync();
            total += read.Buffer.Length;
            replies.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted) break;
        }
        await replies.CompleteAsync();
        return total;
    }
}
