using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>One logical-replication cluster per test class (logical_decoding_work_mem=64kB).</summary>
public sealed class PostgresFixture : PostgresHarness, IAsyncLifetime
{
    Task IAsyncLifetime.InitializeAsync() => StartAsync();
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}
