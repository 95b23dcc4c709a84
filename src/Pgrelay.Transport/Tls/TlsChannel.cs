using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Pgrelay.Transport.Buffers;

namespace Pgrelay.Transport.Tls;

/// <summary>
/// TLS for one connection on an event loop: an <see cref="SslStream"/> over a <see cref="CipherStream"/> the loop
/// feeds. The handshake and the record work run inline on the loop's thread whenever ciphertext arrives: the
/// SslStream's asynchronous operations complete synchronously when the bytes they need are there, and otherwise wait
/// in the cipher stream (no thread, no timer) until the loop's next receive resumes them. Only the loop's thread may
/// use it.
/// </summary>
internal sealed class TlsChannel : IDisposable
{
    private readonly CipherStream _wire = new();
    private readonly SslStream _ssl;
    private readonly Memory<byte> _plain;
    private Task? _handshake;
    private ValueTask<int> _read;
    private bool _reading;

    /// <param name="plain">Where reads decrypt to: the loop's shared read buffer. A read that waits writes it only
    /// inside a later <see cref="Received"/>, so the loop's other connections may use it meanwhile.</param>
    public TlsChannel(Memory<byte> plain)
    {
        _plain = plain;
        _ssl = new SslStream(_wire, leaveInnerStreamOpen: false);
    }

    /// <summary>Ciphertext waiting for the socket: handshake flights, alerts, sealed replies.</summary>
    public OutputBuffer Sent => _wire.Sent;

    /// <summary>Ciphertext received and not yet taken by the SslStream (bounded by what one read holds).</summary>
    public int Buffered => _wire.Buffered;

    public Memory<byte> ReceiveSpace => _wire.ReceiveSpace;

    /// <summary>Ciphertext arrived: whatever the SslStream waits in (handshake, a read) goes on now, inline.</summary>
    public void Received(int count) => _wire.Received(count);

    /// <summary>Starts the server side of the handshake; it goes on as ciphertext is <see cref="Received"/>.</summary>
    public void BeginHandshake(TlsEndpointOptions options) =>
        _handshake = _ssl.AuthenticateAsServerAsync(options.SelectOptions, null, CancellationToken.None);

    /// <summary>False while the handshake waits for the client; then true, with <paramref name="failure"/> set if it failed.</summary>
    public bool HandshakeEnded(out Exception? failure)
    {
        failure = null;
        var handshake = _handshake!;
        if (!handshake.IsCompleted) return false;
        if (!handshake.IsCompletedSuccessfully) failure = handshake.Exception?.InnerException ?? new OperationCanceledException();
        return true;
    }

    public X509Certificate2? RemoteCertificate => _ssl.RemoteCertificate as X509Certificate2;

    /// <summary>True while a read started by <see cref="TryRead"/> waits for more ciphertext.</summary>
    public bool IsReading => _reading;

    /// <summary>
    /// Decrypts into the plaintext buffer given at construction: true with the byte count at its start (0: the client
    /// closed its side with close_notify), or false while the read waits for more ciphertext (the next call after a
    /// <see cref="Received"/> takes its result). A record that does not decrypt throws <see cref="IOException"/>.
    /// </summary>
    public bool TryRead(out int count)
    {
        if (!_reading)
        {
            _read = _ssl.ReadAsync(_plain);
            _reading = true;
        }
        if (!_read.IsCompleted)
        {
            count = 0;
            return false;
        }
        _reading = false;
        count = _read.Result;
        return true;
    }

    /// <summary>Encrypts everything <paramref name="plain"/> holds into <see cref="Sent"/>, and marks it sent.</summary>
    public void Seal(OutputBuffer plain)
    {
        int length = plain.Length;
        if (length == 0) return;
        var write = _ssl.WriteAsync(plain.UnsentMemory);
        // The cipher stream never waits, so neither does the SslStream's write (only a Windows renegotiation could).
        if (!write.IsCompleted) throw new InvalidOperationException("an SslStream write waited on an event loop");
        write.GetAwaiter().GetResult();
        plain.MarkSent(length);
    }

    /// <summary>Ends whatever the SslStream still waits for (on the loop's thread) and lets go of everything.</summary>
    public void Dispose()
    {
        _wire.End();
        if (_handshake is { IsFaulted: true }) _ = _handshake.Exception;   // observed: a failed handshake is expected here
        if (_reading && _read.IsCompleted)
        {
            _reading = false;
            try
            {
                _ = _read.Result;
            }
            catch (Exception)
            {
            }
        }
        _ssl.Dispose();
    }
}
