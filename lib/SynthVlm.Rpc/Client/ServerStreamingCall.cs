using System.Runtime.CompilerServices;
using Google.Protobuf;

namespace SynthVlm.Rpc;

/// <summary>A running server-streaming call. Dispose it to end the call early (RST_STREAM CANCEL).</summary>
/// <typeparam name="TResponse">The response message type.</typeparam>
public sealed class ServerStreamingCall<TResponse> : IDisposable
    where TResponse : IMessage<TResponse>
{
    private readonly ClientCall<TResponse> _call;

    internal ServerStreamingCall(ClientCall<TResponse> call, Task<Metadata> started)
    {
        _call = call;
        ResponseHeadersAsync = started;
        // The failure also surfaces from ReadAllAsync; observing it here keeps a call that is
        // disposed without reading from raising UnobservedTaskException.
        started.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>The response headers; fails with <see cref="RpcException"/> if the call fails before they arrive.</summary>
    public Task<Metadata> ResponseHeadersAsync { get; }

    /// <summary>Reads the responses until the end of the stream; throws <see cref="RpcException"/> when the call ends non-OK.</summary>
    public async IAsyncEnumerable<TResponse> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await ResponseHeadersAsync.ConfigureAwait(false);
        while (await _call.ReadNextAsync(cancellationToken).ConfigureAwait(false) is { } message)
        {
            yield return message;
        }
    }

    /// <summary>The call's status once it has completed.</summary>
    /// <exception cref="InvalidOperationException">The call is still running.</exception>
    public RpcStatus GetStatus() => _call.Status ?? throw new InvalidOperationException("The call has not completed yet; read all responses first.");

    /// <summary>The trailers once the call has completed.</summary>
    /// <exception cref="InvalidOperationException">The call is still running.</exception>
    public Metadata GetTrailers() =>
        _call.Status is null ? throw new InvalidOperationException("The call has not completed yet; read all responses first.") : _call.Trailers ?? [];

    /// <inheritdoc />
    public void Dispose() => _call.Dispose();
}
