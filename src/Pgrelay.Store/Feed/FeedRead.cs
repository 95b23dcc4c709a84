namespace Pgrelay.Store.Feed;

public enum FeedRead
{
    /// <summary>The next transaction after the requested position was returned.</summary>
    Transaction,
    /// <summary>Nothing newer yet: wait and read again.</summary>
    Empty,
    /// <summary>The position is older than what is retained (or than the store's snapshot): the reader must start over.</summary>
    Lost,
}
