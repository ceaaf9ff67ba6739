using Google.Protobuf.Reflection;
using SynthVlm.Protos.V1;

namespace SynthVlm.Rpc;

/// <summary>A client for synthvlm.v1.Runs (served by the CurationService).</summary>
/// <param name="channel">The channel to call through.</param>
public sealed class RunsClient(RpcChannel channel)
{
    private static readonly ServiceDescriptor Service = RunsReflection.Descriptor.Services[0];
    private static readonly MethodDescriptor SubmitMethod = Service.FindMethodByName("Submit");
    private static readonly MethodDescriptor GetMethod = Service.FindMethodByName("Get");
    private static readonly MethodDescriptor WatchMethod = Service.FindMethodByName("Watch");
    private static readonly MethodDescriptor CancelMethod = Service.FindMethodByName("Cancel");
    private static readonly MethodDescriptor ListMethod = Service.FindMethodByName("List");

    /// <summary>Submits a run (idempotent for the same id and config).</summary>
    public Task<Run> SubmitAsync(RunConfig config, CallOptions options = default) =>
        channel.UnaryAsync<SubmitRunRequest, Run>(SubmitMethod, new SubmitRunRequest { Config = config }, options);

    /// <summary>Gets a run with its progress.</summary>
    public Task<Run> GetAsync(string id, CallOptions options = default) =>
        channel.UnaryAsync<GetRunRequest, Run>(GetMethod, new GetRunRequest { Id = id }, options);

    /// <summary>Streams the run whenever it changes, until it finishes.</summary>
    public ServerStreamingCall<Run> Watch(string id, uint intervalMs = 0, CallOptions options = default) =>
        channel.ServerStreaming<WatchRunRequest, Run>(WatchMethod, new WatchRunRequest { Id = id, IntervalMs = intervalMs }, options);

    /// <summary>Cancels a run.</summary>
    public Task<Run> CancelAsync(string id, string reason = "", CallOptions options = default) =>
        channel.UnaryAsync<CancelRunRequest, Run>(CancelMethod, new CancelRunRequest { Id = id, Reason = reason }, options);

    /// <summary>Lists the newest runs.</summary>
    public Task<ListRunsResponse> ListAsync(int limit = 0, CallOptions options = default) =>
        channel.UnaryAsync<ListRunsRequest, ListRunsResponse>(ListMethod, new ListRunsRequest { Limit = limit }, options);
}
