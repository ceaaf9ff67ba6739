using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.Selection;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>
/// The curation barrier of the method: captions that came with their original image and passed
/// the filters and the raw-pair minimum are held as survivor records; when every pool record is
/// curated, one replica (the run's barrier lease) keeps the top fraction of them by raw-pair
/// similarity — an exact selection over the run, ties by caption id, memory bounded by the number
/// kept — sends those to generation, records the rest as dropped, and releases the barrier.
/// Replaying after a crash is harmless: the outcome is a function of the survivor records.
/// </summary>
public sealed partial class CurationBarrier(
    RunAccess runs,
    FileBlobStore blobs,
    PoolCaptionHandler handler,
    CurationOptions options,
    ServiceIdentity identity,
    RedisClientHost redis,
    ILogger<CurationBarrier> logger) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var store = await runs.StoreAsync(stoppingToken).ConfigureAwait(false);
                foreach (var id in await store.GetActiveAsync(stoppingToken).ConfigureAwait(false))
                {
                    if (await store.IsCurationHeldAsync(id, stoppingToken).ConfigureAwait(false)
                        && await store.GetAsync(id, stoppingToken).ConfigureAwait(false) is { } run
                        && IsSettled(run))
                    {
                        await ReleaseAsync(store, run, stoppingToken).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                LogRedisAway(logger, e.Message);
            }
            try
            {
                await Task.Delay(options.PollInterval, stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    // Every pool record is read and every caption curated (kept, dropped, held or dead).
    private static bool IsSettled(Run run)
    {
        if (run.State is not (RunState.Pending or RunState.Running))
        {
            return false;
        }
        var ingest = run.Stages.Single(s => s.Stage == RunStages.Ingest);
        var curation = run.Stages.Single(s => s.Stage == RunStages.Curation);
        return ingest.Done && curation.Processed + curation.DeadLettered >= curation.Emitted;
    }

    private async Task ReleaseAsync(RunStore store, Run run, CancellationToken stoppingToken)
    {
        var connection = await redis.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
        await using var lease = await RunLease.TryAcquireAsync(connection.GetDatabase(), RunKeys.Lease(run.Id, "barrier"), identity.Instance, options.LeaseTimeout, stoppingToken).ConfigureAwait(false);
        if (lease is null || !await store.IsCurationHeldAsync(run.Id, stoppingToken).ConfigureAwait(false))
        {
            return;
        }
        using var work = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lease.Lost);
        var ct = work.Token;
        var config = run.Config;

        // Pass 1: the exact top fraction, holding only (score, id, position) of the kept ones.
        long survivors = 0;
        foreach (var _ in RunRecords.EnumerateSurvivors(blobs, run.Id))
        {
            survivors++;
        }
        var keep = RunConfigs.ImageTopCount(config, survivors);
        var selector = new TopKSelector<long>((int)Math.Min(keep, Array.MaxLength));
        foreach (var path in RunRecords.EnumerateSurvivors(blobs, run.Id))
        {
            ct.ThrowIfCancellationRequested();
            var s = CurationSurvivor.Parser.ParseFrom(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));
            selector.Add(new Candidate<long>(s.Caption.CaptionId, 0, s.ImageTextSimilarity, s.Caption.Index));
        }
        var kept = selector.ToRankedArray();
        var threshold = kept.Length > 0 ? kept[^1].Score : double.NaN;
        var keptIndexes = kept.Select(c => c.Item).ToHashSet();

        // Pass 2: send the kept ones on, record the others as dropped.
        foreach (var path in RunRecords.EnumerateSurvivors(blobs, run.Id))
        {
            ct.ThrowIfCancellationRequested();
            var s = CurationSurvivor.Parser.ParseFrom(await File.ReadAllBytesAsync(path, ct).ConfigureAwait(false));
            if (keptIndexes.Contains(s.Caption.Index))
            {
                await handler.EmitAsync(store, run.Id, config, s.Caption, ct).ConfigureAwait(false);
            }
            else
            {
                var reason = string.Create(System.Globalization.CultureInfo.InvariantCulture,
                    $"image_text_similarity {s.ImageTextSimilarity:0.####} is not in the top {config.Curation.ImageTopFraction:0.###} of {survivors} captions with images (kept {keep}, down to {threshold:0.####}).");
                var stats = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["image_text_similarity"] = s.ImageTextSimilarity };
                await handler.DropAsync(store, run.Id, s.Caption, new CurationFilters.Verdict(false, "image_top_fraction", reason, stats), ct).ConfigureAwait(false);
            }
        }
        await store.ReleaseCurationAsync(run.Id, CancellationToken.None).ConfigureAwait(false);
        LogReleased(logger, run.Id, keep, survivors);
    }

    [LoggerMessage(EventId = 910, Level = LogLevel.Information, Message = "Run {Run}: kept the top {Kept} of {Survivors} captions with images by raw-pair CLIP similarity; generation starts")]
    private static partial void LogReleased(ILogger logger, string run, long kept, long survivors);

    [LoggerMessage(EventId = 911, Level = LogLevel.Warning, Message = "Curation barrier: Redis unavailable ({Reason}); retrying")]
    private static partial void LogRedisAway(ILogger logger, string reason);
}
