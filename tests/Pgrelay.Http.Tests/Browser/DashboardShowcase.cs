using Pgrelay.Core.Changes;
using Pgrelay.Core.Model;
using Pgrelay.Core.Status;
using Pgrelay.Http.Status;
using Pgrelay.Store;
using static Pgrelay.Http.Tests.TestData;

namespace Pgrelay.Http.Tests.Browser;

/// <summary>
/// A realistic-looking running relay for the dashboard's picture in docs/dashboard.png: the demo's grades
/// table plus a small shop, ten minutes of lag history with a bulk load in it, sinks and clients.
/// </summary>
internal sealed class DashboardShowcase
{
    public static readonly TableSchema Grades = new(301, "public", "grades",
    [
        new ColumnSchema("last_name", PgTypes.Text, -1, false),
        new ColumnSchema("first_name", PgTypes.Text, -1, false),
        new ColumnSchema("ssn", PgTypes.Text, -1, true),
        new ColumnSchema("test1", PgTypes.Numeric, -1, false),
        new ColumnSchema("test2", PgTypes.Numeric, -1, false),
        new ColumnSchema("test3", PgTypes.Numeric, -1, false),
        new ColumnSchema("test4", PgTypes.Numeric, -1, false),
        new ColumnSchema("final", PgTypes.Numeric, -1, false),
        new ColumnSchema("grade", PgTypes.Text, -1, false),
    ], ReplicaIdentity.Default);

    public static readonly TableSchema Customers = new(302, "public", "customers",
    [
        new ColumnSchema("id", PgTypes.Int4, -1, true),
        new ColumnSchema("name", PgTypes.Text, -1, false),
        new ColumnSchema("email", PgTypes.Text, -1, false),
        new ColumnSchema("created", PgTypes.TimestampTz, -1, false),
    ], ReplicaIdentity.Default);

    public static readonly TableSchema Orders = new(303, "public", "orders",
    [
        new ColumnSchema("id", PgTypes.Int8, -1, true),
        new ColumnSchema("customer_id", PgTypes.Int4, -1, false),
        new ColumnSchema("total", PgTypes.Numeric, -1, false),
        new ColumnSchema("status", PgTypes.Text, -1, false),
        new ColumnSchema("items", PgTypes.Jsonb, -1, false),
    ], ReplicaIdentity.Default);

    private static readonly string[][] GradeRows =
    [
        ["Alfalfa", "Aloysius", "123-45-6789", "40.0", "90.0", "100.0", "83.0", "49.0", "D-"],
        ["Alfred", "University", "123-12-1234", "41.0", "97.0", "96.0", "97.0", "48.0", "D+"],
        ["Gerty", "Gramma", "567-89-0123", "41.0", "80.0", "60.0", "40.0", "44.0", "C"],
        ["Android", "Electric", "087-65-4321", "42.0", "23.0", "36.0", "45.0", "47.0", "B-"],
        ["Bumpkin", "Fred", "456-78-9012", "43.0", "78.0", "88.0", "77.0", "45.0", "A-"],
        ["Rubble", "Betty", "234-56-7890", "44.0", "90.0", "80.0", "90.0", "46.0", "C-"],
        ["Noshow", "Cecil", "345-67-8901", "45.0", "11.0", "-1.0", "4.0", "43.0", "F"],
        ["Buff", "Bif", "632-79-9939", "46.0", "20.0", "30.0", "40.0", "50.0", "B+"],
        ["Airpump", "Andrew", "223-45-6789", "49.0", "1.0", "90.0", "100.0", "83.0", "A"],
        ["Backus", "Jim", "143-12-1234", "48.0", "1.0", "97.0", "96.0", "97.0", "A+"],
        ["Carnivore", "Art", "565-89-0123", "44.0", "1.0", "80.0", "60.0", "40.0", "D+"],
        ["Dandy", "Jim", "087-75-4321", "47.0", "1.0", "23.0", "36.0", "45.0", "C+"],
        ["Elephant", "Ima", "456-71-9012", "45.0", "1.0", "78.0", "88.0", "77.0", "B-"],
        ["Franklin", "Benny", "234-56-2890", "50.0", "1.0", "90.0", "80.0", "90.0", "B-"],
        ["George", "Boy", "345-67-3901", "40.0", "1.0", "11.0", "-1.0", "4.0", "B"],
        ["Heffalump", "Harvey", "632-79-9439", "30.0", "1.0", "20.0", "30.0", "40.0", "C"],
    ];

    private const int CustomerCount = 1_250, OrderCount = 18_400;
    private static readonly Lsn ConsistentPoint = new(0x3_A2F1_C80);
    private ulong _nextLsn = ConsistentPoint.Value;

    public ReplicatedStore Store { get; } = new();
    public ReplicationStatus Status { get; } = new() { Phase = ReplicationPhase.Streaming, SlotName = "pgrelay_shop" };
    public LagHistory History { get; } = new();

    public SinkCheckpoint[] Sinks => [
        new("orders-webhook", "webhook", new Lsn(Store.VisibleLsn.Value - 0x1200), "retrying", 3,
            "POST https://hooks.example.com/orders: 503 Service Unavailable (attempt 3, next in 4 s)"),
        new("warehouse", "postgres", Store.VisibleLsn, "streaming"),
    ];

    public DashboardShowcase()
    {
        Store.BeginSnapshot([new PublicationSchema("pub", [Grades]), new PublicationSchema("shop", [Customers, Orders])]);
        Store.LoadSnapshotRows(Grades, GradeRows.Select(r => Row(r)).ToList());
        Store.LoadSnapshotRows(Customers, Enumerable.Range(1, CustomerCount).Select(Customer).ToList());
        Store.LoadSnapshotRows(Orders, Enumerable.Range(1, OrderCount).Select(Order).ToList());
        Store.CompleteSnapshot(ConsistentPoint);

        Status.ConsistentPoint = ConsistentPoint;
        Status.SnapshotTablesTotal = 3;
        for (int i = 0; i < 3; i++) Status.CountSnapshotTableDone();
        Status.CountSnapshotRows(16 + CustomerCount + OrderCount);
        Status.SnapshotRowsEstimated = 19_800;
        FillHistory(DateTimeOffset.UtcNow);
    }

    /// <summary>Applies a few ordinary transactions (so the feed list and counters have something) and marks them caught up.</summary>
    public void ApplySomeTraffic()
    {
        for (int i = 0; i < 6; i++)
        {
            var changes = new List<RowChange>
            {
                new(ChangeKind.Insert, Orders, Order(OrderCount + 1 + i)),
                new(ChangeKind.Update, Orders, Order(OrderCount - 40 + i, "shipped")),
            };
            if (i == 3) changes.Add(new RowChange(ChangeKind.Update, Grades, Row(["Rubble", "Betty", "234-56-7890", "44.0", "90.0", "80.0", "90.0", "91.0", "A-"])));
            if (i == 5) changes.Add(new RowChange(ChangeKind.Delete, Customers, OldRow: Row(i.ToString(), null, null, null)));
            Commit(changes);
        }
    }

    private void Commit(List<RowChange> changes)
    {
        _nextLsn += 0x3A8;
        var transaction = new Transaction((uint)(_nextLsn % 90_000 + 1000), new Lsn(_nextLsn), new Lsn(_nextLsn + 0x30),
            DateTimeOffset.UtcNow, changes.Count, changes);
        Store.Apply(transaction);
        Status.CountTransaction(changes.Count);
        Status.ReceivedLsn = Status.AppliedLsn = Status.ServerWalEnd = Status.ConfirmedLsn = transaction.EndLsn;
        Status.LastCommitTime = transaction.CommitTime;
    }

    /// <summary>Ten minutes at one sample a second: steady small lag, a bulk load six minutes ago, a smaller burst later.</summary>
    private void FillHistory(DateTimeOffset now)
    {
        var random = new Random(42);
        for (int ago = 600; ago >= 1; ago--)
        {
            double seconds = 0.015 + random.NextDouble() * 0.04;
            double bytes = 900 + random.NextDouble() * 2_500;
            seconds += Burst(ago, 372, 40, 3.4) + Burst(ago, 128, 14, 0.9);
            bytes += Burst(ago, 375, 38, 41e6) + Burst(ago, 130, 12, 9.5e6);
            History.Record(new LagSample(now.AddSeconds(-ago), seconds, (ulong)bytes));
        }
    }

    /// <summary>A load that ramps up over a few seconds, then drains over <paramref name="drain"/> seconds.</summary>
    private static double Burst(int ago, int at, int drain, double peak)
    {
        double since = at - ago;   // seconds since the burst started
        if (since < 0 || since > drain + 6) return 0;
        return since < 6 ? peak * since / 6 : peak * (1 - (since - 6) / drain);
    }

    private static byte[] Customer(int id) =>
        Row(id.ToString(), $"Customer {id}", $"customer{id}@example.com", $"2024-0{1 + id % 9}-1{id % 10} 09:{id % 60:00}:00+00");

    private static byte[] Order(int id) => Order(id, id % 7 == 0 ? "shipped" : "paid");

    private static byte[] Order(int id, string status) =>
        Row(id.ToString(), (1 + id % CustomerCount).ToString(), $"{10 + id % 490}.{id % 100:00}", status,
            $$"""[{"sku": "SKU-{{id % 977}}", "qty": {{1 + id % 4}}}]""");
}
