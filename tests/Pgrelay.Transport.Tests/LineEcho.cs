using System.Collections.Concurrent;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport.Tests;

/// <summary>
/// The smallest protocol: every line is answered with itself; "quit" closes after the reply; "push N" queues N
/// out-of-band lines; "blob N" is answered with N bytes and a newline; "slow" is answered only once
/// <see cref="Release"/> is set. It records how its connection ended and which thread ran its requests.
/// </summary>
public sealed class LineEcho : ISessionFactory
{
    public ConcurrentBag<Session> Sessions { get; } = [];
    public int RejectedCount;
    public ManualResetEventSlim Release { get; } = new(true);
    public volatile bool InSlowRequest;

    public IProtocolSession Create(Connection connection)
    {
        var session = new Session(connection, this);
        Sessions.Add(session);
        return session;
    }

    public ReadOnlySpan<byte> RejectionReply => "BUSY\n"u8;

    public void Rejected() => Interlocked.Increment(ref RejectedCount);

    public sealed class Session(Connection connection, LineEcho owner) : IProtocolSession
    {
        private readonly ConcurrentQueue<byte[]> _pushes = new();
        public Connection Connection { get; } = connection;
        public int ClosedCalls;
        public volatile string? ConsumeThread;

        public int MissingBytes => 0;
        public OutputLimitClass OutputClass => OutputLimitClass.PubSub;
        public bool ExemptFromIdleTimeout => false;

        public int Consume(ReadOnlySpan<byte> input, OutputBuffer output)
        {
            ConsumeThread = Thread.CurrentThread.Name ?? $"unnamed {Environment.CurrentManagedThreadId}";
            int done = 0;
            while (true)
            {
                int newline = input[done..].IndexOf((byte)'\n');
                if (newline < 0) return done;
                var line = input.Slice(done, newline + 1);
                done += newline + 1;
                if (line.StartsWith("slow"u8))
                {
                    owner.InSlowRequest = true;
                    owner.Release.Wait(TimeSpan.FromSeconds(30));
                }
                if (line.StartsWith("push "u8))
                {
                    int n = int.Parse(line[5..^1]);
                    for (int i = 0; i < n; i++) Push("pushed\n"u8.ToArray());
                    continue;
                }
                if (line.StartsWith("blob "u8))
                {
                    int size = int.Parse(line[5..^1]);
                    var blob = output.GetSpan(size + 1)[..(size + 1)];
                    blob.Fill((byte)'x');
                    blob[^1] = (byte)'\n';
                    output.Advance(size + 1);
                    continue;
                }
                line.CopyTo(output.GetSpan(line.Length));
                output.Advance(line.Length);
                if (line.SequenceEqual("quit\n"u8))
                {
                    Connection.CloseAfterReply();
                    return done;
                }
            }
        }

        public void Push(byte[] line)
        {
            _pushes.Enqueue(line);
            Connection.TryQueueOutput(line.Length);
        }

        public long WritePending(OutputBuffer output)
        {
            long written = 0;
            while (_pushes.TryDequeue(out var line))
            {
                line.CopyTo(output.GetSpan(line.Length));
                output.Advance(line.Length);
                written += line.Length;
            }
            return written;
        }

        public void Closed() => Interlocked.Increment(ref ClosedCalls);
    }
}
