using Google.Protobuf.Reflection;
using Grpc.Health.V1;

namespace SynthVlm.Rpc;

/// <summary>A client for the standard grpc.health.v1.Health service.</summary>
/// <param name="channel">The channel to call through.</param>
public sealed class HealthClient(RpcChannel channel)
{
    private static readonly ServiceDescriptor Service = HealthReflection.Descriptor.Services[0];
    private static readonly MethodDescriptor CheckMethod = Service.FindMethodByName("Check");
    private static readonly MethodDescriptor WatchMethod = Service.FindMethodByName("Watch");
    private static readonly MethodDescriptor ListMethod = Service.FindMethodByName("List");

    /// <summary>The status of <paramref name="request"/>'s service; NOT_FOUND when it is not registered.</summary>
    public Task<HealthCheckResponse> CheckAsync(HealthCheckRequest request, CallOptions options = default) =>
        channel.UnaryAsync<HealthCheckRequest, HealthCheckResponse>(CheckMethod, request, options);

    /// <summary>Every registered service's status.</summary>
    public Task<HealthListResponse> ListAsync(HealthListRequest request, CallOptions options = default) =>
        channel.UnaryAsync<HealthListRequest, HealthListResponse>(ListMethod, request, options);

    /// <summary>The current status of the service and then every change.</summary>
    public ServerStreamingCall<HealthCheckResponse> Watch(HealthCheckRequest request, CallOptions options = default) =>
        channel.ServerStreaming<HealthCheckRequest, HealthCheckResponse>(WatchMethod, request, options);
}
