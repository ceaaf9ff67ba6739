using System.Diagnostics.Metrics;
using Google.Protobuf;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Captions;
using PoolEntry = SynthVlm.Captions.PoolCaption;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>
/// Reads the caption pools of submitted runs into synthvlm:captions. One curation replica at a
/// time reads a given run (the run's ingest lease); it checkpoints every batch, so a replica
/// that dies mid-pool is taken over by another that resumes at the checkpoint (records after
/// it may be enqueued twice; progress bits and deterministic keys make that harmless).
/// Per record: malformed → dropped with its line and reason; an id with control characters, an
/// empty or over-long id, a duplicate id or (by default) a duplicate caption → dropped with the
/// reason; otherwise enqueued as a PoolCaption. Also reconciles after a Redis loss: a run whose
/// config is in the blob store but unknown to Redis (and whose dataset is not written) is
/// submitted again, and finishes from what the blob store already holds.
/// </summary>
public sealed partial class RunIngestor(
    RunAccess runs,
    FileBlobStore blobs,
    ServiceIdentity identity,
    RedisClientHost redis,
    CurationOptions options,
    ILogger<RunIngestor> logger) : BackgroundService
{
    /// <summary>Longest caption id accepted, in characters.</summary>
    public const int MaxIdLength = 256;

    private static readonly Meter Meter = new("SynthVlm.Curation");
    private static readonly Counter<long> Ingested = Meter.CreateCounter<long>("synthvlm.ingest.records", "{record}", "Pool records read, by outcome");

    private DateTimeOffset _nextReconcile = DateTimeOffset.MinValue;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var store = await runs.StoreAsync(stoppingToken).ConfigureAwait(false);
                if (DateTimeOffset.UtcNow >= _nextReconcile)
                {
                    await ReconcileAsync(store, stoppingToken).ConfigureAwait(false);
                    _nextReconcile = DateTimeOffset.UtcNow + options.ReconcileInterval;
                }
                foreach (var id in await store.GetIngestPendingAsync(stoppingToken).ConfigureAwait(false))
                {
                    await IngestAsync(store, id, stoppingToken).ConfigureAwait(false);
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

    private async Task ReconcileAsync(RunStore store, CancellationToken cancellationToken)
    {
        var root = blobs.PathOf("runs");
        if (!Directory.Exists(root))
        {
            return;
        }
        foreach (var folder in Directory.EnumerateDirectories(root))
        {
            var configPath = Path.Combine(folder, "run.pb");
            if (!File.Exists(configPath))
            {
                continue;
            }
            RunConfig config;
            try
            {
                config = RunConfig.Parser.ParseFrom(await File.ReadAllBytesAsync(configPath, cancellationToken).ConfigureAwait(false));
            }
            catch (InvalidProtocolBufferException)
            {
                continue;
            }
            if (!RunConfigs.IsValidId(config.Id) || await store.GetConfigAsync(config.Id, cancellationToken).ConfigureAwait(false) is not null)
            {
                continue;
            }
            if (File.Exists(Path.Combine(config.Output, Datasets.DatasetLayout.Marker)))
            {
                continue;
            }
            LogReconciled(logger, config.Id);
            var (_, created) = await store.SubmitAsync(config, cancellationToken).ConfigureAwait(false);
            if (created && RunStore.WaitsForRecaption(config))
            {
                // The synthvlm:images entry went with Redis: announce it again (the pool on disk resumes).
                var recaption = new RecaptionRequest { Run = config.Id, Recaption = config.Recaption };
                await runs.AnnounceAsync(config.Id, KnownStreams.Images, "RecaptionRequest", recaption.ToByteArray(), "announce recaption", cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private async Task IngestAsync(RunStore store, string id, CancellationToken stoppingToken)
    {
        var connection = await redis.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
        await using var lease = await RunLease.TryAcquireAsync(connection.GetDatabase(), RunKeys.Lease(id, "ingest"), identity.Instance, options.LeaseTimeout, stoppingToken).ConfigureAwait(false);
        if (lease is null)
        {
            return;
        }
        var config = await store.GetConfigAsync(id, stoppingToken).ConfigureAwait(false);
        if (config is null || !await runs.States.IsLiveAsync(id, stoppingToken).ConfigureAwait(false))
        {
            return;
        }
        // A run that starts from images ingests the pool RecaptionService wrote (none yet: not ready).
        if (await store.GetPoolAsync(id, config, stoppingToken).ConfigureAwait(false) is not { } pool)
        {
            return;
        }
        config.Captions = pool;
        await store.TransitionAsync(id, RunState.Running, null, [RunState.Pending], stoppingToken).ConfigureAwait(false);
        // Under the run's root, so the messages sent below carry the run's trace to every stage.
        using var ingesting = RunTelemetry.Start($"ingest {id}", id, await store.GetTraceParentAsync(id, stoppingToken).ConfigureAwait(false));
        using var work = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lease.Lost);
        var next = await store.GetIngestCheckpointAsync(id, work.Token).ConfigureAwait(false);
        LogIngesting(logger, id, config.Captions, next);
        var producer = new StreamProducer(connection.GetDatabase(), new StreamProducerOptions
        {
            MaxBacklog = options.MaxQueuedCaptions,
            BacklogGroups = [KnownServices.Curation.ConsumerGroup],
        });
        var maxRecords = RunItems.MaxPoolRecords(config.Variants);
        long records = 0;
        try
        {
            using var reader = CaptionPoolReader.Open(config.Captions, new CaptionPoolOptions { Format = ParseFormat(config.CaptionsFormat) });
            var batch = new List<Task>(options.IngestBatchSize);
            var skipped = 0L;
            // Near duplicates are decided in pool order by one index; a replica resuming at the
            // checkpoint rebuilds it by feeding the records before it, so the outcome is the same.
            var nearDuplicates = config.Curation.HasNearDuplicateThreshold
                ? new Curation.NearDuplicates.NearDuplicateIndex(new Curation.NearDuplicates.MinHashSettings { Threshold = config.Curation.NearDuplicateThreshold })
                : null;
            foreach (var record in reader.Read(work.Token))
            {
                var (ordinal, _) = Position(record);
                records = ordinal + 1;
                string? nearDuplicateOf = null;
                if (nearDuplicates is not null && record is PoolEntry pooled && !string.IsNullOrWhiteSpace(pooled.Caption))
                {
                    nearDuplicates.TryAdd(pooled.Id, pooled.Caption, out nearDuplicateOf);
                }
                if (ordinal < next)
                {
                    skipped++;
                    continue;
                }
                if (ordinal >= maxRecords)
                {
                    await store.FailAsync(id, $"captions: the pool has more than {maxRecords} records, the most a run with {config.Variants} variants can number.", CancellationToken.None).ConfigureAwait(false);
                    return;
                }
                batch.Add(IngestRecordAsync(store, producer, config, record, nearDuplicateOf, work.Token));
                if (batch.Count >= options.IngestBatchSize)
                {
                    await Task.WhenAll(batch).ConfigureAwait(false);
                    batch.Clear();
                    await store.SetIngestCheckpointAsync(id, records, work.Token).ConfigureAwait(false);
                    if (!await runs.States.IsLiveAsync(id, work.Token).ConfigureAwait(false))
                    {
                        LogStopped(logger, id, records);
                        return;
                    }
                }
            }
            await Task.WhenAll(batch).ConfigureAwait(false);
            await store.CompleteIngestAsync(id, records, work.Token).ConfigureAwait(false);
            LogIngested(logger, id, records, skipped);
        }
        catch (CaptionPoolFormatException e)
        {
            LogPoolFailed(logger, id, e.Message);
            await store.FailAsync(id, $"captions: {e.Message}", CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogPoolFailed(logger, id, e.Message);
            await store.FailAsync(id, $"captions: cannot read '{config.Captions}': {e.Message}", CancellationToken.None).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (work.IsCancellationRequested)
        {
            // Stopping or the lease was lost: the next holder resumes at the checkpoint.
        }
    }

    private static (long Ordinal, long Line) Position(PoolRecord record) => record switch
    {
        PoolEntry c => (c.Ordinal, c.Line),
        PoolReject r => (r.Ordinal, r.Line),
        _ => throw new InvalidOperationException($"unknown pool record {record.GetType().Name}"),
    };

    private async Task IngestRecordAsync(RunStore store, StreamProducer producer, RunConfig config, PoolRecord record, string? nearDuplicateOf, CancellationToken cancellationToken)
    {
        var id = config.Id;
        if (record is PoolReject reject)
        {
            await DropAsync(store, id, new RejectionRecord { Index = reject.Ordinal, Line = reject.Line, Stage = RunStages.Ingest, Code = "malformed", Reason = reject.Reason, Caption = reject.Excerpt }, cancellationToken).ConfigureAwait(false);
            Ingested.Add(1, new KeyValuePair<string, object?>("outcome", "malformed"));
            return;
        }
        var caption = (PoolEntry)record;
        var problem = CheckId(caption.Id);
        string? code = problem is null ? null : "bad_id";
        if (problem is null && nearDuplicateOf is not null)
        {
            (code, problem) = ("near_duplicate", $"the caption is a near duplicate (MinHash Jaccard ≥ {config.Curation.NearDuplicateThreshold}) of caption '{nearDuplicateOf}'.");
        }
        if (problem is null)
        {
            var textHash = config.Curation.KeepDuplicates ? null : CurationFilters.DuplicateKey(caption.Caption);
            var (idOwner, textOwner) = await store.ClaimUniqueAsync(id, caption.Id, textHash, caption.Ordinal, cancellationToken).ConfigureAwait(false);
            if (idOwner >= 0)
            {
                (code, problem) = ("duplicate_id", $"caption id '{caption.Id}' was already used by pool record {idOwner + 1}.");
            }
            else if (textOwner >= 0)
            {
                (code, problem) = ("duplicate_caption", $"the caption duplicates pool record {textOwner + 1} (after normalisation).");
            }
        }
        if (problem is not null)
        {
            await DropAsync(store, id, new RejectionRecord { Index = caption.Ordinal, Line = caption.Line, Id = Printable(caption.Id), Stage = RunStages.Ingest, Code = code!, Reason = problem, Caption = Cut(caption.Caption) }, cancellationToken).ConfigureAwait(false);
            Ingested.Add(1, new KeyValuePair<string, object?>("outcome", code));
            return;
        }
        if (caption.ImagePath is { Length: > 0 } && !config.Curation.SkipImageText)
        {
            // Before the caption is enqueued: curation is not done until the top fraction of the
            // captions with images is decided.
            await store.HoldCurationAsync(id, cancellationToken).ConfigureAwait(false);
        }
        var entry = new Protos.V1.PoolCaption
        {
            Run = id,
            Index = caption.Ordinal,
            CaptionId = caption.Id,
            Caption = caption.Caption,
            ImagePath = caption.ImagePath ?? "",
            Line = caption.Line,
        };
        await producer.ProduceAsync(KnownStreams.Captions, id, PoolCaptionHandler.InputKind, entry.ToByteArray(), cancellationToken).ConfigureAwait(false);
        await store.MarkAsync(id, RunStages.Curation, ProgressMark.Emitted, caption.Ordinal, CancellationToken.None).ConfigureAwait(false);
        await store.MarkAsync(id, RunStages.Ingest, ProgressMark.Processed, caption.Ordinal, CancellationToken.None).ConfigureAwait(false);
        Ingested.Add(1, new KeyValuePair<string, object?>("outcome", "accepted"));
    }

    private async Task DropAsync(RunStore store, string run, RejectionRecord rejection, CancellationToken cancellationToken)
    {
        await blobs.WriteAsync(RunRecords.Rejection(run, rejection.Index), rejection.ToUtf8(), cancellationToken).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Ingest, ProgressMark.Dropped, rejection.Index, CancellationToken.None).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Ingest, ProgressMark.Processed, rejection.Index, CancellationToken.None).ConfigureAwait(false);
    }

    /// <summary>Why a caption id cannot be used, or null when it can (ids are sanitised for file names later, never followed as paths).</summary>
    internal static string? CheckId(string id)
    {
        if (string.IsNullOrWhiteSpace(id))
        {
            return "the caption id is empty.";
        }
        if (id.Length > MaxIdLength)
        {
            return $"the caption id is {id.Length} characters long; at most {MaxIdLength}.";
        }
        if (id.Any(char.IsControl))
        {
            return $"the caption id '{Printable(id)}' contains control characters.";
        }
        if (id.Any(char.IsSurrogate) && !id.EnumerateRunes().Any())
        {
            return "the caption id is not valid Unicode.";
        }
        return null;
    }

    private static string Printable(string s) => new(s.Select(c => char.IsControl(c) ? '?' : c).Take(MaxIdLength).ToArray());

    private static string Cut(string s) => s.Length <= 500 ? s : s[..500];

    private static CaptionPoolFormat ParseFormat(string format) => format switch
    {
        "synthvlm-json" => CaptionPoolFormat.SynthVlmJson,
        "jsonl" => CaptionPoolFormat.JsonLines,
        "csv" => CaptionPoolFormat.Csv,
        "tsv" => CaptionPoolFormat.Tsv,
        "llava-json" => CaptionPoolFormat.LlavaJson,
        "imagefolder" => CaptionPoolFormat.ImageFolder,
        _ => CaptionPoolFormat.Auto,
    };

    [LoggerMessage(EventId = 900, Level = LogLevel.Information, Message = "Run {Run}: reading the caption pool {Path} from record {Next}")]
    private static partial void LogIngesting(ILogger logger, string run, string path, long next);

    [LoggerMessage(EventId = 901, Level = LogLevel.Information, Message = "Run {Run}: caption pool read ({Records} records; {Skipped} before the checkpoint skipped)")]
    private static partial void LogIngested(ILogger logger, string run, long records, long skipped);

    [LoggerMessage(EventId = 902, Level = LogLevel.Error, Message = "Run {Run}: the caption pool cannot be read: {Reason}")]
    private static partial void LogPoolFailed(ILogger logger, string run, string reason);

    [LoggerMessage(EventId = 903, Level = LogLevel.Information, Message = "Run {Run} stopped during ingestion after {Records} records")]
    private static partial void LogStopped(ILogger logger, string run, long records);

    [LoggerMessage(EventId = 904, Level = LogLevel.Warning, Message = "Run {Run} is in the blob store but not in Redis (Redis lost it); submitting it again to finish from the blob store")]
    private static partial void LogReconciled(ILogger logger, string run);

    [LoggerMessage(EventId = 905, Level = LogLevel.Warning, Message = "Run ingestor: Redis unavailable ({Reason}); retrying")]
    private static partial void LogRedisAway(ILogger logger, string reason);
}
