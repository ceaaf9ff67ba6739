using Google.Protobuf;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>
/// The stream worker: each synthvlm:captions entry (a PoolCaption) goes through the run's rule
/// filters. A kept caption becomes a CuratedCaption on synthvlm:curated with the run's generation
/// settings, variants and seed; a dropped one gets a rejection record (every statistic and the
/// failing filter) in the blob store.
/// </summary>
public sealed class PoolCaptionHandler(CurationFilters filters, RawPairScorer rawPairs, CaptionImageMatcher matcher, CaptionJudges judges, FileBlobStore blobs, RunAccess runs, RedisClientHost redis, CurationOptions options) : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "PoolCaption";

    /// <summary>The entry kind it emits.</summary>
    public const string OutputKind = "CuratedCaption";

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var caption = Parse(entry);
        var run = caption.Run.Length > 0 ? caption.Run : entry.Run;
        var (work, tracked) = await runs.CheckAsync(run, cancellationToken).ConfigureAwait(false);
        if (!work)
        {
            return;
        }
        if (!tracked)
        {
            throw new PermanentStreamFailureException($"caption '{caption.CaptionId}': run '{run}' is not known (pool captions come from Runs.Submit).");
        }
        var store = await runs.StoreAsync(cancellationToken).ConfigureAwait(false);
        RunConfig? config;
        try
        {
            config = await filters.GetConfigAsync(store, run, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FormatException or IOException or InvalidDataException or ArgumentException)
        {
            // A flagged-words list or perplexity model that does not load fails every caption the
            // same way: the run fails once, with the reason, instead of dead-lettering its pool.
            await store.FailAsync(run, $"curation: the run's filter files cannot be loaded: {e.Message}", CancellationToken.None).ConfigureAwait(false);
            return;
        }
        if (config is null)
        {
            throw new PermanentStreamFailureException($"caption '{caption.CaptionId}': run '{run}' has no config.");
        }
        var verdict = filters.Evaluate(config, caption.Caption);
        if (verdict.Kept && verdict.CleanedCaption is { } cleaned)
        {
            // The run's cleaning mappers changed the caption: the cleaned text is what was scored and goes on.
            caption = new Protos.V1.PoolCaption(caption) { Caption = cleaned };
        }
        if (verdict.Kept && config.Curation.Judge is { } judge)
        {
            verdict = await JudgeAsync(run, judge, caption, verdict, cancellationToken).ConfigureAwait(false);
        }
        if (verdict.Kept && caption.ImagePath.Length > 0 && config.Curation.ImageTextMatching is { } matching)
        {
            var matched = await MatchAsync(store, run, matching, caption, verdict, cancellationToken).ConfigureAwait(false);
            if (matched is null)
            {
                // The run failed: the service cannot score what it asked for.
                return;
            }
            verdict = matched;
        }
        if (verdict.Kept && caption.ImagePath.Length > 0 && !config.Curation.SkipImageText)
        {
            verdict = await RawPairAsync(store, run, config, caption, verdict, cancellationToken).ConfigureAwait(false);
            if (verdict is null)
            {
                // Held for the run's top-fraction decision (CurationBarrier).
                return;
            }
        }
        if (!verdict.Kept)
        {
            await DropAsync(store, run, caption, verdict, cancellationToken).ConfigureAwait(false);
            return;
        }
        await EmitAsync(store, run, config, caption, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Drops a caption: its rejection record, then the progress bits.</summary>
    internal async Task DropAsync(RunStore store, string run, Protos.V1.PoolCaption caption, CurationFilters.Verdict verdict, CancellationToken cancellationToken)
    {
        var rejection = new RejectionRecord
        {
            Index = caption.Index,
            Line = caption.Line,
            Id = caption.CaptionId,
            Stage = RunStages.Curation,
            Code = verdict.Code,
            Reason = verdict.Reason,
            Caption = caption.Caption.Length <= 500 ? caption.Caption : caption.Caption[..500],
            Stats = verdict.Statistics,
        };
        await blobs.WriteAsync(RunRecords.Rejection(run, caption.Index), rejection.ToUtf8(), cancellationToken).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Curation, ProgressMark.Dropped, caption.Index, CancellationToken.None).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Curation, ProgressMark.Processed, caption.Index, CancellationToken.None).ConfigureAwait(false);
    }

    // The LLM judge's verdict is recorded whatever it is; "no" drops the caption, a failure (the
    // endpoint down, a garbage answer) keeps it with the failure on record, so the run never stalls.
    private async Task<CurationFilters.Verdict> JudgeAsync(string run, JudgeSettings settings, Protos.V1.PoolCaption caption, CurationFilters.Verdict verdict, CancellationToken cancellationToken)
    {
        var judged = await judges.For(settings).JudgeAsync(caption.CaptionId, caption.Caption, cancellationToken).ConfigureAwait(false);
        var record = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object?>
        {
            ["index"] = caption.Index,
            ["id"] = caption.CaptionId,
            ["outcome"] = judged.Outcome.ToString().ToLowerInvariant(),
            ["answer"] = judged.Answer,
            ["reason"] = judged.Reason,
            ["attempts"] = judged.Attempts,
            ["from_cache"] = judged.FromCache,
            ["model"] = settings.Model,
        });
        await blobs.WriteAsync(RunRecords.JudgeVerdict(run, caption.Index), record, cancellationToken).ConfigureAwait(false);
        return judged.Outcome == Judge.JudgeOutcome.No
            ? new CurationFilters.Verdict(false, "llm_judge", $"the LLM judge ({settings.Model}) answered no: {judged.Answer}", verdict.Statistics)
            : verdict;
    }

    // Data-Juicer's image_text_matching_filter on the original pair (BLIP ITM). An image that cannot be read
    // drops the caption with the reason; a service without a usable model fails the run once (null).
    private async Task<CurationFilters.Verdict?> MatchAsync(RunStore store, string run, BlipMatchingSettings settings, Protos.V1.PoolCaption caption, CurationFilters.Verdict verdict, CancellationToken cancellationToken)
    {
        Blip.ImageTextMatchingResult result;
        try
        {
            result = await Task.Run(() => matcher.Evaluate(caption.ImagePath, caption.Caption, settings, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            return new CurationFilters.Verdict(false, "image_unreadable", e.Message, verdict.Statistics);
        }
        catch (Exception e) when (e is InvalidOperationException or Blip.BlipModelException)
        {
            await store.FailAsync(run, $"curation: image_text_matching cannot run: {e.Message}", CancellationToken.None).ConfigureAwait(false);
            return null;
        }
        var stats = new SortedDictionary<string, double>(StringComparer.Ordinal);
        foreach (var (k, v) in verdict.Statistics ?? new Dictionary<string, double>())
        {
            stats[k] = v;
        }
        if (result.Scores.Count > 0)
        {
            stats[Blip.ImageTextMatchingFilter.StatisticName] = result.Scores[0];
        }
        return result.Keep
            ? verdict with { Statistics = stats }
            : new CurationFilters.Verdict(false, Blip.ImageTextMatchingFilter.StatisticName, result.Reason ?? "image_text_matching rejected the pair", stats);
    }

    // Data-Juicer's image_text_similarity on the original pair; a caption that passes is written
    // as a survivor and held (null) until the run's top fraction is decided.
    private async Task<CurationFilters.Verdict?> RawPairAsync(RunStore store, string run, RunConfig config, Protos.V1.PoolCaption caption, CurationFilters.Verdict verdict, CancellationToken cancellationToken)
    {
        double cosine;
        try
        {
            cosine = await Task.Run(() => rawPairs.Cosine(caption.ImagePath, caption.Caption), cancellationToken).ConfigureAwait(false);
        }
        catch (InvalidDataException e)
        {
            return new CurationFilters.Verdict(false, "image_unreadable", e.Message, verdict.Statistics);
        }
        var stats = new SortedDictionary<string, double>(StringComparer.Ordinal) { ["image_text_similarity"] = cosine };
        foreach (var (k, v) in verdict.Statistics ?? new Dictionary<string, double>())
        {
            stats[k] = v;
        }
        if (cosine < config.Curation.ImageTextMin)
        {
            return new CurationFilters.Verdict(false, "image_text_similarity", string.Create(System.Globalization.CultureInfo.InvariantCulture, $"image_text_similarity {cosine:0.####} below min {config.Curation.ImageTextMin}"), stats);
        }
        var survivor = new CurationSurvivor { Caption = caption, ImageTextSimilarity = cosine };
        await blobs.WriteAsync(RunRecords.Survivor(run, caption.Index), survivor.ToByteArray(), cancellationToken).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Curation, ProgressMark.Processed, caption.Index, CancellationToken.None).ConfigureAwait(false);
        return null;
    }

    /// <summary>Sends a kept caption to generation: the CuratedCaption entry, then the progress bits.</summary>
    internal async Task EmitAsync(RunStore store, string run, RunConfig config, Protos.V1.PoolCaption caption, CancellationToken cancellationToken)
    {
        var curated = new CuratedCaption
        {
            Run = run,
            CaptionId = caption.CaptionId,
            Caption = caption.Caption,
            Variants = config.Variants,
            RunSeed = config.Seed,
            Spec = config.Generation,
            CaptionIndex = caption.Index,
        };
        var producer = new StreamProducer((await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false)).GetDatabase(), new StreamProducerOptions
        {
            // Generation is the slow stage: wait here rather than queue a whole pool in Redis.
            MaxBacklog = options.MaxQueuedCurated,
            BacklogGroups = [KnownServices.Diffusion.ConsumerGroup],
        });
        await producer.ProduceAsync(KnownStreams.Curated, run, OutputKind, curated.ToByteArray(), cancellationToken).ConfigureAwait(false);
        var images = Enumerable.Range(0, config.Variants).Select(v => RunItems.Image(caption.Index, v, config.Variants));
        await store.MarkAsync(run, RunStages.Diffusion, ProgressMark.Emitted, images, CancellationToken.None).ConfigureAwait(false);
        await store.MarkAsync(run, RunStages.Curation, ProgressMark.Processed, caption.Index, CancellationToken.None).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task OnDeadLetteredAsync(StreamEntry entry, string reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        Protos.V1.PoolCaption caption;
        try
        {
            caption = Parse(entry);
        }
        catch (PermanentStreamFailureException)
        {
            return;
        }
        var run = caption.Run.Length > 0 ? caption.Run : entry.Run;
        if (caption.Index >= 0 && caption.Index <= RunItems.MaxItem && (await runs.CheckAsync(run, CancellationToken.None).ConfigureAwait(false)).Tracked)
        {
            await runs.MarkAsync(run, RunStages.Curation, ProgressMark.Dead, caption.Index, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static Protos.V1.PoolCaption Parse(StreamEntry entry)
    {
        if (entry.Kind != InputKind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {InputKind}.");
        }
        try
        {
            return Protos.V1.PoolCaption.Parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a PoolCaption message: {e.Message}");
        }
    }
}
