namespace SynthVlm.Rpc;

/// <summary>Options for the gRPC server side (<see cref="RpcServiceCollectionExtensions.AddRpc"/>).</summary>
public sealed class RpcServerOptions
{
    /// <summary>The default message size limit both ways: 4 MiB, as in other gRPC implementations.</summary>
    public const int DefaultMaxMessageSize = 4 * 1024 * 1024;

    /// <summary>Largest request message accepted (after decompression); larger ones get RESOURCE_EXHAUSTED. Null means unlimited.</summary>
    public int? MaxReceiveMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Largest response message sent; larger ones end the call with RESOURCE_EXHAUSTED. Null means unlimited.</summary>
    public int? MaxSendMessageSize { get; set; } = DefaultMaxMessageSize;

    /// <summary>Whether an unhandled handler exception's message is sent to the client (off: only a generic message).</summary>
    public bool IncludeExceptionDetails { get; set; }
}
