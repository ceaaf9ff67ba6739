using System.Globalization;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Datasets;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.Selection;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.SelectionService;

/// <summary>
/// Finishes runs: when a run's selection stage is done (scoring done, every scored image recorded
/// or dead-lettered), one replica takes the run's finalize lease, computes the best variant per
/// caption and the exact global top K from the score records alone (memory bounded by K plus one
/// bucket of file names), writes the dataset atomically and marks the run COMPLETED. A replica
/// that dies while writing loses the lease; another one starts over (the writer is idempotent).
/// </summary>
public sealed partial class RunFinalizer(
    RunAccess runs,
    FileBlobStore blobs,
    SelectionOptions options,
    ServiceIdentity identity,
    RedisClientHost redis,
    ILogger<RunFinalizer> logger) : BackgroundService
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
                    var run = await store.GetAsync(id, stoppingToken).ConfigureAwait(false);
                    if (run is not null && IsReady(run))
                    {
                        await FinalizeAsync(store, run, stoppingToken).ConfigureAwait(false);
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

    private static bool IsReady(Run run) =>
        run.State is RunState.Pending or RunState.Running or RunState.Writing
        && run.Stages.FirstOrDefault(s => s.Stage == RunStages.Selection) is { Done: true };

    private async Task FinalizeAsync(RunStore store, Run run, CancellationToken stoppingToken)
    {
        var connection = await redis.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
        await using var lease = await RunLease.TryAcquireAsync(connection.GetDatabase(), RunKeys.Lease(run.Id, "finalize"), identity.Instance, options.LeaseTimeout, stoppingToken).ConfigureAwait(false);
        if (lease is null)
        {
            return;
        }
        // Re-read under the lease: another replica may have finished it a moment ago.
        if (await store.GetAsync(run.Id, stoppingToken).ConfigureAwait(false) is not { } current || !IsReady(current))
        {
            return;
        }
        await store.TransitionAsync(run.Id, RunState.Writing, null, [RunState.Pending, RunState.Running, RunState.Writing], stoppingToken).ConfigureAwait(false);
        using var work = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lease.Lost);
        using var writing = RunTelemetry.Start($"write dataset {run.Id}", run.Id, await store.GetTraceParentAsync(run.Id, stoppingToken).ConfigureAwait(false));
        LogFinalizing(logger, run.Id);
        try
        {
            var result = await WriteDatasetAsync(current, work.Token).ConfigureAwait(false);
            if (await store.CompleteAsync(run.Id, result.Folder, result.Count, result.Note, CancellationToken.None).ConfigureAwait(false))
            {
                var ready = new DatasetReady { Run = run.Id, Folder = result.Folder, Count = result.Count };
                await new StreamProducer(connection.GetDatabase()).ProduceAsync(KnownStreams.Datasets, run.Id, "DatasetReady", Google.Protobuf.MessageExtensions.ToByteArray(ready), CancellationToken.None).ConfigureAwait(false);
                LogCompleted(logger, run.Id, result.Count, result.Folder);
            }
        }
        catch (OperationCanceledException) when (work.IsCancellationRequested)
        {
            // Stopping, or the lease was lost: whoever holds it next starts over.
        }
        catch (Exception e) when (e is DatasetException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            LogFailed(logger, run.Id, e.Message);
            await store.FailAsync(run.Id, $"writing the dataset failed: {e.Message}", CancellationToken.None).ConfigureAwait(false);
        }
    }

    private sealed record Outcome(string Folder, long Count, string? Note);

    private async Task<Outcome> WriteDatasetAsync(Run run, CancellationToken cancellationToken)
    {
        var config = run.Config;
        // Pass 1 (names only): how many captions reached selection, for a fractional K.
        long captions = 0;
        var last = -1L;
        foreach (var (index, _, _) in RunRecords.EnumerateScores(blobs, run.Id))
        {
            if (index != last)
            {
                captions++;
                last = index;
            }
        }
        var k = RunConfigs.SelectionSize(config, captions);
        if (k > Array.MaxLength)
        {
            throw new DatasetException($"top K of {k} is more than one selection can hold ({Array.MaxLength}).");
        }

        // Pass 2: every score record, once: statistics of all generated images, best variant per
        // caption, exact top K.
        var all = new ScoreStatistics(config.Lambda);
        // Candidates carry the record's location, not the record: memory is K × (id + location), and
        // the K winners are read again when the dataset is written.
        var selector = new TopKSelector<ScoreRecordLocation>((int)k);
        foreach (var best in BestVariant.PerCaption(ReadCandidates(run.Id, config, all, cancellationToken)))
        {
            selector.Add(best);
        }
        var selected = selector.ToRankedArray();

        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var file in RunRecords.EnumerateRejections(blobs, run.Id))
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = RejectionRecord.Parse(await File.ReadAllBytesAsync(file, cancellationToken).ConfigureAwait(false));
            var key = $"{record.Stage}: {record.Code}";
            counts[key] = counts.GetValueOrDefault(key) + 1;
        }
        var stages = run.Stages.ToDictionary(s => s.Stage, StringComparer.Ordinal);
        var curationCounts = new List<KeyValuePair<string, long>>
        {
            new("pool records", stages[RunStages.Ingest].Processed),
        };
        curationCounts.AddRange(counts);
        curationCounts.Add(new("captions sent to generation", stages[RunStages.Curation].Processed - stages[RunStages.Curation].Dropped));
        curationCounts.Add(new("images scored", all.Count));

        var notes = new List<string>();
        if (stages[RunStages.Ingest].Processed == 0)
        {
            notes.Add("The caption pool had no records.");
        }
        else if (captions == 0)
        {
            notes.Add($"No caption reached selection: all {stages[RunStages.Ingest].Processed} pool records were dropped or failed before scoring (see the counts above).");
        }
        foreach (var stage in run.Stages.Where(s => s.DeadLettered > 0))
        {
            notes.Add(string.Create(CultureInfo.InvariantCulture, $"{stage.DeadLettered} item(s) failed in {stage.Stage} and were dead-lettered (reasons in {KnownStreams.Dead})."));
        }

        var info = new DatasetRunInfo
        {
            RunId = run.Id,
            Created = run.Created.ToDateTimeOffset(),
            Lambda = config.Lambda,
            SelectionRule = RunConfigs.DescribeSelection(config, selected.Length, captions),
            CurationCounts = curationCounts,
            Notes = notes,
        };
        var datasetOptions = new DatasetOptions
        {
            Format = config.Dataset.ImageFormat switch
            {
                "jpeg" => Imaging.Codecs.ImageFormat.Jpeg,
                "webp" => Imaging.Codecs.ImageFormat.WebP,
                _ => Imaging.Codecs.ImageFormat.Png,
            },
            Quality = config.Dataset.Quality,
            ImagesPerFolder = config.Dataset.ImagesPerFolder,
            ItemsPerTarShard = config.Dataset.SamplesPerShard,
        };
        var result = await DatasetWriter.WriteAsync(config.Output, info, ToItems(selected, config), all,
            async (key, ct) => await blobs.ReadAsync(key, ct).ConfigureAwait(false), datasetOptions, cancellationToken).ConfigureAwait(false);
        return new Outcome(result.Directory, result.Count, notes.Count > 0 ? string.Join(" ", notes) : null);
    }

    private IEnumerable<Candidate<ScoreRecordLocation>> ReadCandidates(string run, RunConfig config, ScoreStatistics all, CancellationToken cancellationToken)
    {
        foreach (var ((_, variant, location), record) in RunRecords.ReadScores(blobs, run))
        {
            cancellationToken.ThrowIfCancellationRequested();
            ScoredImage scored;
            try
            {
                scored = ScoredImage.Parser.ParseFrom(record.Span);
            }
            catch (Google.Protobuf.InvalidProtocolBufferException e)
            {
                throw new InvalidDataException($"score record '{location}' is corrupt: {e.Message}", e);
            }
            var clip = scored.Score.Clip;
            var ssim = scored.Score.Ssim;
            var weighted = clip + (config.Lambda * ssim);
            all.Add(clip, ssim, weighted);
            yield return new Candidate<ScoreRecordLocation>(scored.Image.CaptionId, variant, config.ClipOnly ? clip : weighted, location);
        }
    }

    private static async IAsyncEnumerable<DatasetItem> ToItems(Candidate<ScoreRecordLocation>[] selected, RunConfig config)
    {
        await Task.Yield();
        foreach (var c in selected)
        {
            var s = ScoredImage.Parser.ParseFrom(c.Item.Read());
            yield return new DatasetItem
            {
                Id = s.Image.CaptionId,
                Caption = s.Image.Caption,
                ImageKey = s.Image.ImageKey,
                Variant = s.Image.Variant,
                Seed = unchecked((ulong)s.Image.Seed),
                Clip = s.Score.Clip,
                Ssim = s.Score.Ssim,
                Weighted = s.Score.Clip + (config.Lambda * s.Score.Ssim),
                Lambda = config.Lambda,
                Cosine = s.Score.Cosine,
                CaptionTruncated = s.Score.CaptionTruncated,
                GenerationModel = s.Image.Model,
                ClipModel = s.ClipModel,
                GenerationSettings = new SortedDictionary<string, string>(s.Image.Settings, StringComparer.Ordinal),
                Timings = new Dictionary<string, double>(StringComparer.Ordinal)
                {
                    ["generate_ms"] = s.Image.GenerateMs,
                    ["decode_ms"] = s.Score.Timings?.DecodeMs ?? 0,
                    ["ssim_ms"] = s.Score.Timings?.SsimMs ?? 0,
                    ["preprocess_ms"] = s.Score.Timings?.PreprocessMs ?? 0,
                    ["clip_inference_ms"] = s.Score.Timings?.InferenceMs ?? 0,
                },
            };
        }
    }

    [LoggerMessage(EventId = 800, Level = LogLevel.Information, Message = "Run {Run}: selection done; writing the dataset")]
    private static partial void LogFinalizing(ILogger logger, string run);

    [LoggerMessage(EventId = 801, Level = LogLevel.Information, Message = "Run {Run} completed: {Count} pairs in {Folder}")]
    private static partial void LogCompleted(ILogger logger, string run, long count, string folder);

    [LoggerMessage(EventId = 802, Level = LogLevel.Error, Message = "Run {Run} failed while writing its dataset: {Reason}")]
    private static partial void LogFailed(ILogger logger, string run, string reason);

    [LoggerMessage(EventId = 803, Level = LogLevel.Warning, Message = "Run finalizer: Redis unavailable ({Reason}); retrying")]
    private static partial void LogRedisAway(ILogger logger, string reason);
}
