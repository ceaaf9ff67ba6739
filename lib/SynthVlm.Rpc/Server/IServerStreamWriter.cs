namespace SynthVlm.Rpc;

/// <summary>Writes the messages of a server-streaming response, one at a time (writes must not overlap).</summary>
/// <typeparam name="T">The response message type.</typeparam>
public interface IServerStreamWriter<in T>
{
    /// <summary>Sends one message and flushes it to the client.</summary>
    /// <exception cref="OperationCanceledException">The call was cancelled or its deadline passed.</exception>
    /// <exception cref="RpcException">The message is larger than the server's MaxSendMessageSize (RESOURCE_EXHAUSTED).</exception>
    Task WriteAsync(T message, CancellationToken cancellationToken = default);
}
