using Grpc.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using SynthVlm.Protos.V1;
using SynthVlm.Recaptioning;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;
using SynthVlm.Streams;

namespace SynthVlm.RecaptionService;

/// <summary>
/// The stream worker: a synthvlm:images entry (RecaptionRequest) of a run that starts from images
/// queues a job that writes the run's pool as one file, {blobs}/runs/{run}/recaption/pool.jsonl
/// (shard size 0, so curation reads it as any pool), and waits for it to end while the entry stays
/// pending: a replica killed mid-job leaves the entry to be redelivered, and the job it then queues
/// resumes the pool without duplicates. One replica at a time works on a run (the run's "recaption"
/// lease); a second delivery while another replica holds it is left to that replica. On success the
/// pool becomes the run's captions and the run waits for ingestion as usual; a refused or failed job
/// fails the run with the reason; a run that is no longer live is skipped. While the job runs the
/// entry is kept fresh (XCLAIM … JUSTID every third of the consumers' ClaimIdleTimeout: idle time
/// reset, delivery count unchanged), so a long job is neither reclaimed nor dead-lettered.
/// </summary>
public sealed partial class RecaptionRequestHandler(
    RecaptionJobManager jobs,
    DataPaths paths,
    RecaptionSettings settings,
    RunAccess runs,
    RedisClientHost redis,
    ServiceIdentity identity,
    IConfiguration configuration,
    ILogger<RecaptionRequestHandler> logger) : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "RecaptionRequest";

    /// <summary>The lease a replica holds while it recaptions a run.</summary>
    public const string LeaseName = "recaption";

    private static readonly TimeSpan LeaseTimeout = TimeSpan.FromSeconds(15);

    /// <summary>The folder of a run's pool: {blobs}/runs/{run}/recaption.</summary>
    public static string PoolFolder(DataPaths paths, string run)
    {
        ArgumentNullException.ThrowIfNull(paths);
        return Path.Combine(paths.BlobRoot, "runs", run, "recaption");
    }

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var request = StreamPayloads.Parse(entry, InputKind, RecaptionRequest.Parser);
        var run = request.Run.Length > 0 ? request.Run : entry.Run;
        if (!RunConfigs.IsValidId(run) || request.Recaption is not { Images.Length: > 0 } recaption)
        {
            throw new PermanentStreamFailureException($"run '{run}': a RecaptionRequest needs a valid run id and recaption.images.");
        }
        var (work, _) = await runs.CheckAsync(run, cancellationToken).ConfigureAwait(false);
        if (!work)
        {
            LogNotLive(logger, run);
            return;
        }
        var connection = await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var lease = await RunLease.TryAcquireAsync(connection.GetDatabase(), RunKeys.Lease(run, LeaseName), identity.Instance, LeaseTimeout, cancellationToken).ConfigureAwait(false);
        if (lease is null)
        {
            LogLeased(logger, run);
            return;
        }
        var store = await runs.StoreAsync(cancellationToken).ConfigureAwait(false);
        var submit = new SubmitRecaptionRequest
        {
            Images = recaption.Images,
            SourceKind = recaption.SourceKind,
            OutputDir = PoolFolder(paths, run),
            Captioner = recaption.Captioner ?? new CaptionerSettings(),
            ShardSize = 0,
            Run = run,
        };
        RecaptionJobStatus status;
        try
        {
            status = RecaptionRpcService.SubmitJob(submit, jobs, paths, settings);
        }
        catch (RpcException e)
        {
            await store.FailAsync(run, $"recaption: {e.Status.Detail}", CancellationToken.None).ConfigureAwait(false);
            LogRefused(logger, run, e.Status.Detail);
            return;
        }
        LogQueued(logger, run, status.Id, status.OutputDirectory);
        using var work2 = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lease.Lost);
        using var keepFresh = new CancellationTokenSource();
        var refresher = KeepFreshAsync(connection.GetDatabase(), entry.Id, keepFresh.Token);
        RecaptionJobStatus final = status;
        try
        {
            await foreach (var update in jobs.WatchAsync(status.Id, work2.Token).ConfigureAwait(false))
            {
                final = update;
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping, or the lease was lost: the pool stays, a redelivery resumes it.
            jobs.Cancel(status.Id);
            throw;
        }
        finally
        {
            await keepFresh.CancelAsync().ConfigureAwait(false);
            await refresher.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        switch (final.State)
        {
            case RecaptionJobState.Succeeded when final.Summary is { Shards.Count: 1 } summary:
                if (summary.PoolRecords == 0)
                {
                    await store.FailAsync(run, $"recaption: no image could be captioned ({final.Message}; see {summary.RejectsFile}).", CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                await store.SetRecaptionedPoolAsync(run, summary.Shards[0], CancellationToken.None).ConfigureAwait(false);
                LogPooled(logger, run, summary.Shards[0], summary.PoolRecords);
                return;
            case RecaptionJobState.Cancelled:
                // Cancelled through the Recaption API: the run cannot go on without its pool.
                await store.FailAsync(run, $"recaption: job {final.Id} was cancelled.", CancellationToken.None).ConfigureAwait(false);
                return;
            default:
                await store.FailAsync(run, $"recaption: {final.Message}", CancellationToken.None).ConfigureAwait(false);
                LogFailed(logger, run, final.Message);
                return;
        }
    }

    /// <summary>Resets the entry's idle time every third of ClaimIdleTimeout until <paramref name="stop"/>; Redis errors are retried at the next tick.</summary>
    private async Task KeepFreshAsync(StackExchange.Redis.IDatabase db, string entryId, CancellationToken stop)
    {
        var idle = configuration.GetValue<TimeSpan?>($"{StreamWorkerExtensions.ConsumerSection}:ClaimIdleTimeout") ?? TimeSpan.FromSeconds(60);
        var every = TimeSpan.FromMilliseconds(Math.Max(100, idle.TotalMilliseconds / 3));
        while (!stop.IsCancellationRequested)
        {
            await Task.Delay(every, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            if (stop.IsCancellationRequested)
            {
                return;
            }
            try
            {
                await db.StreamClaimIdsOnlyAsync(KnownStreams.Images, KnownServices.Recaption.ConsumerGroup, identity.Instance, 0, [entryId]).ConfigureAwait(false);
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                LogKeepFreshFailed(logger, entryId, e.Message);
            }
        }
    }

    /// <inheritdoc />
    public async Task OnDeadLetteredAsync(StreamEntry entry, string reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (RunConfigs.IsValidId(entry.Run))
        {
            var store = await runs.StoreAsync(CancellationToken.None).ConfigureAwait(false);
            await store.FailAsync(entry.Run, $"recaption: {reason}", CancellationToken.None).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 681, Level = LogLevel.Information, Message = "run {Run}: no longer live; its images are not recaptioned")]
    private static partial void LogNotLive(ILogger logger, string run);

    [LoggerMessage(EventId = 682, Level = LogLevel.Information, Message = "run {Run}: another replica is recaptioning it")]
    private static partial void LogLeased(ILogger logger, string run);

    [LoggerMessage(EventId = 683, Level = LogLevel.Information, Message = "run {Run}: recaption job {Job} queued, pool in {Output}")]
    private static partial void LogQueued(ILogger logger, string run, string job, string output);

    [LoggerMessage(EventId = 684, Level = LogLevel.Information, Message = "run {Run}: pool {Pool} written ({Records} captions); waiting for ingestion")]
    private static partial void LogPooled(ILogger logger, string run, string pool, long records);

    [LoggerMessage(EventId = 685, Level = LogLevel.Warning, Message = "run {Run}: recaption refused: {Reason}")]
    private static partial void LogRefused(ILogger logger, string run, string reason);

    [LoggerMessage(EventId = 687, Level = LogLevel.Warning, Message = "synthvlm:images entry {Entry}: could not reset its idle time ({Reason}); retrying")]
    private static partial void LogKeepFreshFailed(ILogger logger, string entry, string reason);

    [LoggerMessage(EventId = 686, Level = LogLevel.Warning, Message = "run {Run}: recaption failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string run, string reason);
}
