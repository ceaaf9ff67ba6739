using Google.Protobuf.Reflection;
using SynthVlm.Protos.V1;

namespace SynthVlm.Rpc;

/// <summary>A client for synthvlm.v1.Worker, the status service every SynthVlm service exposes.</summary>
/// <param name="channel">The channel to call through.</param>
public sealed class WorkerClient(RpcChannel channel)
{
    private static readonly ServiceDescriptor Service = WorkerReflection.Descriptor.Services[0];
    private static readonly MethodDescriptor GetStatusMethod = Service.FindMethodByName("GetStatus");
    private static readonly MethodDescriptor WatchStatusMethod = Service.FindMethodByName("WatchStatus");

    /// <summary>The replica's current status.</summary>
    public Task<WorkerStatus> GetStatusAsync(GetWorkerStatusRequest request, CallOptions options = default) =>
        channel.UnaryAsync<GetWorkerStatusRequest, WorkerStatus>(GetStatusMethod, request, options);

    /// <summary>The status now and then every interval until the call ends.</summary>
    public ServerStreamingCall<WorkerStatus> WatchStatus(WatchWorkerStatusRequest request, CallOptions options = default) =>
        channel.ServerStreaming<WatchWorkerStatusRequest, WorkerStatus>(WatchStatusMethod, request, options);
}
