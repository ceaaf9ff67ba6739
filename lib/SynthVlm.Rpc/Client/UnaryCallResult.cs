namespace SynthVlm.Rpc;

/// <summary>The response of a successful unary call with the metadata that came with it.</summary>
/// <typeparam name="TResponse">The response message type.</typeparam>
/// <param name="Response">The response message.</param>
/// <param name="ResponseHeaders">The response headers (application metadata only).</param>
/// <param name="Trailers">The trailers (application metadata only; the status is not included).</param>
public sealed record UnaryCallResult<TResponse>(TResponse Response, Metadata ResponseHeaders, Metadata Trailers);
