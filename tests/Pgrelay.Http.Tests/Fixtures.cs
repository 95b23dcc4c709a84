using Pgrelay.Testing;

namespace Pgrelay.Http.Tests;

/// <summary>One PostgreSQL cluster per test class, 15 unless a derived fixture asks for another version.</summary>
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
