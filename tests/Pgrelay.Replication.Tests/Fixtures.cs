using Pgrelay.Testing;
using Xunit;

namespace Pgrelay.Replication.Tests;

/// <summary>
/// One logical-replication cluster per test class (logical_decoding_work_mem=64kB), on PostgreSQL 15 unless a derived
/// fixture asks for another version. A suite runs on every version through one nested class per version, each taking
/// that version's fixture (<c>BigTransactionTests+PG17</c>).
/// </summary>
public class PostgresFixture : PostgresHarness, IAsyncLifetime
{
    public PostgresFixture() { }
    protected PostgresFixture(int version) : base(version) { }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();
    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();
}

public sealed class Postgres14Fixture() : PostgresFixture(14);
public sealed class Postgres16Fixture() : PostgresFixture(16);
public sealed class Postgres17Fixture() : PostgresFixture(17);
public sealed class Postgres18Fixture() : PostgresFixture(18);
