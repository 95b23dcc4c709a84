namespace Pgrelay.Store.Writing;

/// <summary>
/// The store's <b>visible LSN</b>, written by the single writer and read by everyone without locks. Every row version is
/// stamped with the end LSN of the transaction that wrote it (snapshot rows with the snapshot's consistent point), and
/// a version is readable when its stamp is at or below the visible LSN. The writer installs a transaction's versions
/// first and then moves the visible LSN to the transaction's end with one volatile write: that write is what makes the
/// whole transaction appear at once.
/// <para>The same position says what the store contains: every commit below it, none at or above it (a snapshot at
/// consistent point P holds the commits below P; PostgreSQL streams the one at P). It is where the change feed
/// continues and the most the slot may be confirmed to for the store itself.</para>
/// Tables read it from here rather than reaching back into the store.
/// </summary>
internal sealed class CommitVisibility
{
    private ulong _visible;

    public ulong Visible => Volatile.Read(ref _visible);

    /// <summary>Writer only, after every version stamped at or below <paramref name="visible"/> is installed.</summary>
    public void Publish(ulong visible) => Volatile.Write(ref _visible, visible);
}
