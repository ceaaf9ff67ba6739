using System.Net.Security;

namespace SynthVlm.Rpc;

/// <summary>Options for an <see cref="RpcChannel"/>.</summary>
public sealed class RpcChannelOptions
{
    /// <summary>Largest response message accepted; larger ones fail the call with RESOURCE_EXHAUSTED. Default 4 MiB; null is unlimited.</summary>
    public int? MaxReceiveMessageSize { get; set; } = RpcServerOptions.DefaultMaxMessageSize;

    /// <summary>Largest request message sent; larger ones fail the call with RESOURCE_EXHAUSTED before sending. Default null (unlimited).</summary>
    public int? MaxSendMessageSize { get; set; }

    /// <summary>Validates the server's TLS certificate for https:// addresses; null uses the system's trust store.</summary>
    public RemoteCertificateValidationCallback? ServerCertificateValidation { get; set; }
}
