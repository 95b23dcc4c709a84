namespace Pgrelay.Host.Tests;

/// <summary>Polls a condition until it holds or a generous bound passes: correctness, not speed, is asserted.</summary>
internal static class Eventually
{
    public static async Task<T> Get<T>(Func<Task<T>> read, Func<T, bool> done, string what, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        T value = await read();
        while (!done(value))
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"gave up waiting for {what}; last value: {value}");
            await Task.Delay(100);
            value = await read();
        }
        return value;
    }

    public static Task True(Func<bool> condition, string what, int seconds = 60) =>
        Get(() => Task.FromResult(condition()), ok => ok, what, seconds);

    public static Task True(Func<Task<bool>> condition, string what, int seconds = 60) => Get(condition, ok => ok, what, seconds);
}
