using Google.Protobuf;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.DiffusionService;

/// <summary>
/// The stream worker: each synthvlm:curated entry (a CuratedCaption) becomes `variants` images
/// with seeds derived from (run seed, caption id, variant), written to the blob store under
/// runs/{run}/images/{caption}/{variant}.png (temporary name, then rename) and announced as
/// GeneratedImage entries on synthvlm:generated. A variant whose image already exists (a
/// redelivered entry) is announced again but not regenerated; when only some exist, all are
/// generated again (same batch, same bits) and only the missing ones written. A variant whose latents turn
/// NaN is recorded in synthvlm:dead with the reason and the others go on. PNG encoding and
/// Redis writes run outside the accelerator lock, so with MaxConcurrency above 1 the next
/// entry generates while this one is being written.
/// </summary>
public sealed partial class CuratedCaptionHandler(ImageGenerator generator, FileBlobStore blobs, RedisClientHost redis, RunAccess runs, ILogger<CuratedCaptionHandler> logger) : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "CuratedCaption";

    /// <summary>The entry kind it emits.</summary>
    public const string OutputKind = "GeneratedImage";

    /// <summary>Most variants one caption may ask for.</summary>
    public const int MaxVariants = 64;

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Kind != InputKind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {InputKind}.");
        }
        CuratedCaption curated;
        try
        {
            curated = CuratedCaption.Parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a CuratedCaption message: {e.Message}");
        }
        if (string.IsNullOrWhiteSpace(curated.Caption))
        {
            throw new PermanentStreamFailureException($"caption '{curated.CaptionId}' is empty.");
        }
        if (curated.Variants is < 1 or > MaxVariants)
        {
            throw new PermanentStreamFailureException($"caption '{curated.CaptionId}': variants must be between 1 and {MaxVariants}; got {curated.Variants}.");
        }
        Diffusion.GenerationSettings settings;
        try
        {
            settings = generator.Resolve(curated.Spec);
        }
        catch (ArgumentException e)
        {
            throw new PermanentStreamFailureException($"caption '{curated.CaptionId}': {e.Message}");
        }

        var run = curated.Run.Length > 0 ? curated.Run : entry.Run;
        var (work, tracked) = await runs.CheckAsync(run, cancellationToken).ConfigureAwait(false);
        if (!work)
        {
            // The run was cancelled or has finished: acknowledge without work.
            return;
        }
        var keys = Enumerable.Range(0, curated.Variants).Select(v => BlobKey.GeneratedImage(run, curated.CaptionId, v)).ToArray();
        var seeds = Enumerable.Range(0, curated.Variants).Select(v => ImageGenerator.DeriveSeed(curated.RunSeed, curated.CaptionId, v)).ToArray();
        var missing = Enumerable.Range(0, curated.Variants).Where(v => !blobs.Exists(keys[v])).ToHashSet();
        var generated = new Dictionary<int, (Diffusion.GeneratedImageResult Result, Diffusion.GenerationTimings Timings)>();
        if (missing.Count > 0)
        {
            // All variants are generated again, not only the missing ones: a batch of different size
            // may round differently, and the images already written came from the full batch.
            using var runWatch = tracked ? runs.States.Watch(run, cancellationToken) : null;
            var token = runWatch?.Token ?? cancellationToken;
            IReadOnlyList<(Diffusion.GeneratedImageResult Result, Diffusion.GenerationTimings Timings)> results;
            try
            {
                results = await generator.GenerateAsync(Enumerable.Repeat(curated.Caption, curated.Variants).ToArray(), seeds, settings, null, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                LogRunStopped(logger, run, curated.CaptionId);
                return;
            }
            for (var v = 0; v < curated.Variants; v++)
            {
                if (missing.Contains(v))
                {
                    generated[v] = results[v];
                }
            }
        }

        var connection = await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        var producer = new StreamProducer(connection.GetDatabase());
        for (var v = 0; v < curated.Variants; v++)
        {
            var record = new GeneratedImage
            {
                Run = run,
                CaptionId = curated.CaptionId,
                Caption = curated.Caption,
                Variant = v,
                ImageKey = keys[v],
                Seed = (long)seeds[v],
                Model = generator.ModelId,
                CaptionIndex = curated.CaptionIndex,
                Variants = curated.Variants,
            };
            record.Settings.Add(SettingsMap(settings));
            record.Settings["pipeline"] = generator.Pipeline;
            if (generator.Pipeline == ImageGenerator.PipelineSd3)
            {
                record.Settings["t5"] = generator.UsesT5 ? "true" : "skipped";
                record.Settings["max_sequence_length"] = settings.MaxSequenceLength.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            var item = tracked ? RunItems.Image(curated.CaptionIndex, v, curated.Variants) : -1;
            if (generated.TryGetValue(v, out var result))
            {
                if (result.Result.Image is not { } image)
                {
                    await RecordFailureAsync(connection, entry, curated, v, result.Result.Error ?? "generation failed").ConfigureAwait(false);
                    if (tracked)
                    {
                        await runs.MarkAsync(run, RunStages.Diffusion, ProgressMark.Dead, item, CancellationToken.None).ConfigureAwait(false);
                    }
                    continue;
                }
                using (image)
                {
                    var png = await Task.Run(() => ImageCodec.Encode(image, ImageFormat.Png), cancellationToken).ConfigureAwait(false);
                    await blobs.WriteAsync(keys[v], png, cancellationToken).ConfigureAwait(false);
                }
                record.GenerateMs = result.Timings.TotalMs / Math.Max(1, curated.Variants);
                if (result.Result.PromptTruncated)
                {
                    record.Settings["prompt_truncated"] = "true";
                }
            }
            await producer.ProduceAsync(KnownStreams.Generated, run, OutputKind, record.ToByteArray(), cancellationToken).ConfigureAwait(false);
            if (tracked)
            {
                // Downstream's "emitted" before our "processed": a stage is never seen done while
                // an item it produced is not yet counted by the next one.
                await runs.MarkAsync(run, RunStages.Scoring, ProgressMark.Emitted, item, CancellationToken.None).ConfigureAwait(false);
                await runs.MarkAsync(run, RunStages.Diffusion, ProgressMark.Processed, item, CancellationToken.None).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    public async Task OnDeadLetteredAsync(StreamEntry entry, string reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        CuratedCaption curated;
        try
        {
            curated = CuratedCaption.Parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException)
        {
            return;
        }
        var run = curated.Run.Length > 0 ? curated.Run : entry.Run;
        if (curated.Variants is < 1 or > MaxVariants || curated.CaptionIndex < 0 || !(await runs.CheckAsync(run, CancellationToken.None).ConfigureAwait(false)).Tracked)
        {
            return;
        }
        var items = Enumerable.Range(0, curated.Variants).Select(v => RunItems.Image(curated.CaptionIndex, v, curated.Variants));
        await runs.MarkAsync(run, RunStages.Diffusion, ProgressMark.Dead, items, CancellationToken.None).ConfigureAwait(false);
    }

    private async Task RecordFailureAsync(StackExchange.Redis.IConnectionMultiplexer connection, StreamEntry entry, CuratedCaption curated, int variant, string reason)
    {
        LogVariantFailed(logger, curated.CaptionId, variant, reason);
        await connection.GetDatabase().StreamAddAsync(KnownStreams.Dead,
        [
            new(KnownStreamFields.Run, entry.Run), new(KnownStreamFields.Kind, entry.Kind), new(KnownStreamFields.Data, entry.Data),
            new(StreamDeadLetterFields.Reason, $"caption '{curated.CaptionId}' variant {variant}: {reason}"),
            new(StreamDeadLetterFields.SourceStream, entry.Stream), new(StreamDeadLetterFields.OriginalId, entry.Id), new("variant", variant),
        ]).ConfigureAwait(false);
    }

    private static Dictionary<string, string> SettingsMap(Diffusion.GenerationSettings s) => new()
    {
        ["width"] = s.Width.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["height"] = s.Height.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["steps"] = s.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["guidance"] = s.Guidance.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        ["negative_prompt"] = s.NegativePrompt ?? "(none)",
        ["refiner"] = s.UseRefiner ? s.RefinerStart.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "off",
        ["refiner_mode"] = s.RefinerMode == Diffusion.RefinerMode.Img2Img ? $"img2img strength {s.RefinerStrength.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}{(s.RefinerStopsAtStart ? " stops at refiner start" : "")}" : Diffusion.RefinerModes.HandOver,
        ["scheduler"] = s.Scheduler ?? "(model)",
    };

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "Caption {CaptionId} variant {Variant} failed: {Reason}")]
    private static partial void LogVariantFailed(ILogger logger, string captionId, int variant, string reason);

    [LoggerMessage(EventId = 713, Level = LogLevel.Information, Message = "Run {Run} stopped while caption {CaptionId} was generating; the entry is acknowledged without images")]
    private static partial void LogRunStopped(ILogger logger, string run, string captionId);
}
