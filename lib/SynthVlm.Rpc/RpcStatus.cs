namespace SynthVlm.Rpc;

/// <summary>The outcome of a call: a status code and a human-readable detail.</summary>
/// <param name="Code">The status code.</param>
/// <param name="Detail">The detail sent as <c>grpc-message</c>; empty when none.</param>
public readonly record struct RpcStatus(RpcStatusCode Code, string Detail)
{
    /// <summary>The OK status with no detail.</summary>
    public static RpcStatus Ok { get; } = new(RpcStatusCode.OK, string.Empty);

    /// <inheritdoc />
    public override string ToString() =>
        Detail.Length == 0 ? $"Status(StatusCode=\"{Code}\")" : $"Status(StatusCode=\"{Code}\", Detail=\"{Detail}\")";
}
