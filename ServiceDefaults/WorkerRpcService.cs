using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using SynthVlm.Protos.V1;

namespace SynthVlm.ServiceDefaults;

/// <summary>The platform <c>synthvlm.v1.Worker</c> service every SynthVlm service exposes.</summary>
public sealed class WorkerRpcService(ServiceIdentity identity, StageQueues queues, RedisClientHost? redis = null) : Worker.WorkerBase
{
    /// <summary>The smallest accepted watch interval.</summary>
    public const uint MinIntervalMs = 100;

    /// <summary>The largest accepted watch interval.</summary>
    public const uint MaxIntervalMs = 3_600_000;

    /// <summary>The current status of this replica.</summary>
    public override async Task<WorkerStatus> GetStatus(GetWorkerStatusRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return await BuildAsync(context.CancellationToken).ConfigureAwait(false);
    }

    /// <summary>The status now and then every interval until the call ends.</summary>
    public override async Task WatchStatus(WatchWorkerStatusRequest request, IServerStreamWriter<WorkerStatus> responses, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        var intervalMs = request.IntervalMs == 0 ? 1000 : request.IntervalMs;
        if (intervalMs is < MinIntervalMs or > MaxIntervalMs)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument,
                $"interval_ms must be 0 (default 1000) or between {MinIntervalMs} and {MaxIntervalMs}; got {request.IntervalMs}."));
        }
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(intervalMs));
        do
        {
            await responses.WriteAsync(await BuildAsync(context.CancellationToken).ConfigureAwait(false)).ConfigureAwait(false);
        }
        while (await timer.WaitForNextTickAsync(context.CancellationToken).ConfigureAwait(false));
    }

    private async Task<WorkerStatus> BuildAsync(CancellationToken cancellationToken)
    {
        var status = new WorkerStatus
        {
            Service = identity.Service.Name,
            Instance = identity.Instance,
            Version = identity.Version,
            StartedAt = Timestamp.FromDateTimeOffset(identity.StartedAt),
            RedisConnected = redis?.IsConnected ?? false,
        };
        status.Queues.AddRange(await queues.GetStatusAsync(cancellationToken).ConfigureAwait(false));
        return status;
    }
}
