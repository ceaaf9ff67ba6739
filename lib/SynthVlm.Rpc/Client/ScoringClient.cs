using Google.Protobuf.Reflection;
using SynthVlm.Protos.V1;

namespace SynthVlm.Rpc;

/// <summary>A client for synthvlm.v1.Scoring (the ScoringService).</summary>
/// <param name="channel">The channel to call through.</param>
public sealed class ScoringClient(RpcChannel channel)
{
    private static readonly ServiceDescriptor Service = ScoringReflection.Descriptor.Services[0];
    private static readonly MethodDescriptor ScoreMethod = Service.FindMethodByName("Score");
    private static readonly MethodDescriptor ScoreBatchMethod = Service.FindMethodByName("ScoreBatch");

    /// <summary>Scores one image-caption pair.</summary>
    public Task<ScoreResult> ScoreAsync(ScoreRequest request, CallOptions options = default) =>
        channel.UnaryAsync<ScoreRequest, ScoreResult>(ScoreMethod, request, options);

    /// <summary>Scores many pairs; one result per item, in request order.</summary>
    public ServerStreamingCall<ScoreResult> ScoreBatch(ScoreBatchRequest request, CallOptions options = default) =>
        channel.ServerStreaming<ScoreBatchRequest, ScoreResult>(ScoreBatchMethod, request, options);
}
