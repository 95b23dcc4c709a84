using System.Buffers;
using Pgrelay.Store.Feed;

namespace Pgrelay.Http.Changes;

/// <summary>Renders one committed transaction as a "transaction" event in one of the stream's formats.</summary>
internal interface ITransactionEventWriter
{
    /// <summary>Writes the event if the filter lets at least one change through; returns how many changes it covered.</summary>
    int Write(CommittedTransaction transaction, ChangeFilter filter, IBufferWriter<byte> output);
}
