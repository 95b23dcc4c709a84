namespace Pgrelay.Fuzz.Tests;

/// <summary>Every input in bench/fuzz/corpus (seeds, and each crash or hang afl found once it is fixed) runs clean.</summary>
public sealed class CorpusReplayTests
{
    public static TheoryData<string> Targets => new(Pgrelay.Fuzz.FuzzTargets.All.Keys);

    [Theory]
    [MemberData(nameof(Targets))]
    public void Corpus_replays_without_crash_or_hang(string target)
    {
        int count = 0;
        foreach (var input in FuzzInputs.Corpus(target))
        {
            FuzzInputs.Run(target, input);
            count++;
        }
        Assert.True(count > 0, $"no corpus for {target} in {FuzzInputs.CorpusDirectory(target)}");
    }
}
