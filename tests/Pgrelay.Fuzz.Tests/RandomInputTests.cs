namespace Pgrelay.Fuzz.Tests;

/// <summary>
/// A bounded random campaign per target in every test run: corpus inputs mutated the way afl's havoc stage does
/// (bit flips, interesting bytes, cut, duplicated and spliced ranges, a new split), plus plain random bytes. No input
/// may crash or hang a target; each may allocate only in proportion to its size; and what the targets keep afterwards
/// stays bounded. The seed is fixed per target so that a test run is repeatable (a CI run must not fail on a draw of
/// luck): PGRELAY_FUZZ_SEED=&lt;n&gt; replays a failure, PGRELAY_FUZZ_SEED=random explores (the seed is printed on failure).
/// What a random draw finds goes into bench/fuzz/corpus as a regression input.
/// </summary>
public sealed class RandomInputTests
{
    private const int MaxInputs = 1500;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(15);
    /// <summary>Per input: a fresh server and connection, plus a generous multiple of what was sent.</summary>
    private const long FixedAllocationBound = 24L * 1024 * 1024;
    private const long AllocationPerInputByte = 512;
    private const long RetainedBound = 64L * 1024 * 1024;

    public static TheoryData<string> Targets => new(Pgrelay.Fuzz.FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Random_and_mutated_inputs_neither_crash_hang_nor_grow_memory(string target)
    {
        int seed = Environment.GetEnvironmentVariable("PGRELAY_FUZZ_SEED") switch
        {
            "random" => Random.Shared.Next(),
            var text when int.TryParse(text, out var given) => given,
            _ => StableSeed(target),
        };
        var random = new Random(seed);
        var corpus = FuzzInputs.Corpus(target).ToArray();
        FuzzInputs.Run(target, corpus[0]);   // first use builds shared state (the sample store, command tables)
        long retainedBefore = GC.GetTotalMemory(forceFullCollection: true);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < MaxInputs && clock.Elapsed < Budget; i++)
        {
            var input = i % 8 == 7 ? RandomBytes(random) : Mutate(random, corpus);
            long allocated;
            try
            {
                allocated = FuzzInputs.Run(target, input);
            }
            catch (Exception e)
            {
                throw new Xunit.Sdk.XunitException($"seed {seed}, input {i}: {e.Message}\n{e.InnerException}");
            }
            long bound = FixedAllocationBound + AllocationPerInputByte * input.Length;
            Assert.True(allocated <= bound, $"seed {seed}, input {i}: allocated {allocated} bytes (bound {bound}) for {FuzzInputs.Show(input)}");
        }
        long retained = GC.GetTotalMemory(forceFullCollection: true) - retainedBefore;
        Assert.True(retained < RetainedBound, $"seed {seed}: {retained} bytes still held after the campaign");
    }

    /// <summary>FNV-1a of the target's name: the same seed on every machine and run (string.GetHashCode is randomised).</summary>
    private static int StableSeed(string target)
    {
        uint hash = 2166136261;
        foreach (char c in target) hash = (hash ^ c) * 16777619;
        return (int)(hash & int.MaxValue);
    }

    private static byte[] RandomBytes(Random random)
    {
        var bytes = new byte[random.Next(1, 512)];
        random.NextBytes(bytes);
        return bytes;
    }

    private static readonly byte[] Interesting = "\r\n*$:+-0123456789 %/\"'\\"u8.ToArray().Concat(new byte[] { 0, 0x7f, 0x80, 0xff }).ToArray();

    /// <summary>A corpus input with a few havoc-style edits; the first byte (how the input is split) is redrawn sometimes.</summary>
    private static byte[] Mutate(Random random, byte[][] corpus)
    {
        var data = new List<byte>(corpus[random.Next(corpus.Length)]);
        int edits = 1 + random.Next(6);
        for (int e = 0; e < edits; e++)
        {
            if (data.Count == 0) data.Add(0);
            int at = random.Next(data.Count);
            switch (random.Next(7))
            {
                case 0: data[at] ^= (byte)(1 << random.Next(8)); break;
                case 1: data[at] = Interesting[random.Next(Interesting.Length)]; break;
                case 2: data.RemoveRange(at, Math.Min(data.Count - at, 1 + random.Next(16))); break;
                case 3: data.InsertRange(at, data.GetRange(at, Math.Min(data.Count - at, 1 + random.Next(32)))); break;
                case 4:
                {
                    var other = corpus[random.Next(corpus.Length)];
                    int from = random.Next(other.Length);
                    data.InsertRange(at, other.Skip(from).Take(1 + random.Next(64)));
                    break;
                }
                case 5: data.InsertRange(at, System.Text.Encoding.ASCII.GetBytes(random.Next(-2, 100_000).ToString())); break;
                default: data[0] = (byte)random.Next(0, 9); break;
            }
        }
        return data.ToArray();
    }
}
