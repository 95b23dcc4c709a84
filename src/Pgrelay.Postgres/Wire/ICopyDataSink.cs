namespace Pgrelay.Postgres.Wire;

/// <summary>
/// Receives the data of a <c>COPY … TO STDOUT</c> in order, as the server framed it: each call is part or all of one
/// CopyData message. The concatenation of the calls is the COPY data stream; a sink must not assume one row per call.
/// The span is only valid during the call.
/// </summary>
public interface ICopyDataSink
{
    void Write(ReadOnlySpan<byte> data);
}
