using Google.Protobuf.Reflection;
using SynthVlm.Protos.V1;

namespace SynthVlm.Rpc;

/// <summary>A client for synthvlm.v1.Diffusion (the DiffusionService).</summary>
/// <param name="channel">The channel to call through.</param>
public sealed class DiffusionClient(RpcChannel channel)
{
    private static readonly ServiceDescriptor Service = DiffusionReflection.Descriptor.Services[0];
    private static readonly MethodDescriptor GenerateMethod = Service.FindMethodByName("Generate");
    private static readonly MethodDescriptor GenerateStreamMethod = Service.FindMethodByName("GenerateStream");

    /// <summary>Generates one image.</summary>
    public Task<GenerateResult> GenerateAsync(GenerateRequest request, CallOptions options = default) =>
        channel.UnaryAsync<GenerateRequest, GenerateResult>(GenerateMethod, request, options);

    /// <summary>Generates one image, streaming a progress event per step and then the result.</summary>
    public ServerStreamingCall<GenerateEvent> GenerateStream(GenerateRequest request, CallOptions options = default) =>
        channel.ServerStreaming<GenerateRequest, GenerateEvent>(GenerateStreamMethod, request, options);
}
