using System.Net.Sockets;
using System.Security.Authentication;
using Npgsql;
using Pgrelay.Replication.Connection;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>Which failures to reach the source start-up waits out and which stop it (the real process and server are in
/// Pgrelay.Host.Tests' SourceDownAtStartTests; the server states that are hard to produce on cue are named here).</summary>
public class TransientFailureTests
{
    [Theory]
    [InlineData("57P03", true)]   // the database system is starting up / shutting down / in recovery
    [InlineData("57P01", true)]   // terminating connection due to administrator command
    [InlineData("57P02", true)]   // crash shutdown
    [InlineData("53300", true)]   // too many connections
    [InlineData("08006", true)]   // connection failure
    [InlineData("28P01", false)]  // password authentication failed
    [InlineData("28000", false)]  // role does not exist / no pg_hba.conf entry
    [InlineData("3D000", false)]  // database does not exist
    [InlineData("42704", false)]  // undefined object
    [InlineData("42501", false)]  // insufficient privilege
    public void The_servers_answer_decides(string sqlState, bool transient)
    {
        var answer = new PostgresException("message", "FATAL", "FATAL", sqlState);
        Assert.Equal(transient, TransientFailure.Is(new NpgsqlException("Exception while connecting", answer)));
        Assert.Equal(transient, new ReplicationSetupException("cannot connect", answer).IsTransient);
    }

    [Fact]
    public void A_refused_connection_or_a_timeout_is_waited_out_and_a_refused_certificate_is_not()
    {
        Assert.True(TransientFailure.Is(new NpgsqlException("Failed to connect", new SocketException((int)SocketError.ConnectionRefused))));
        Assert.True(TransientFailure.Is(new NpgsqlException("Exception while reading", new TimeoutException())));
        Assert.True(TransientFailure.Is(new NpgsqlException("Exception while reading", new EndOfStreamException())));
        Assert.False(TransientFailure.Is(new NpgsqlException("Exception while connecting", new AuthenticationException("remote certificate is invalid"))));
        Assert.False(new ReplicationSetupException("publication 'p' does not exist").IsTransient);
    }
}
