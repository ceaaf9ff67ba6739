using Google.Protobuf;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Redis;
using SynthVlm.Redis.Streams;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.DiffusionService;

/// <summary>
/// The stream worker: each synthvlm:curated entry (a CuratedCaption) becomes `variants` images
/// with seeds derived from (run seed, caption id, variant), written to the blob store under
/// runs/{run}/images/{caption}/{variant}.png (temporary name, then rename) and announced as
/// GeneratedImage entries on synthvlm:generated. A variant whose image already exists (a
/// redelivered entry) is announced again but not regenerated. A variant whose latents turn
/// NaN is recorded in synthvlm:dead with the reason and the others go on. PNG encoding and
/// Redis writes run outside the accelerator lock, so with MaxConcurrency above 1 the next
/// entry generates while this one is being written.
/// </summary>
public sealed partial class CuratedCaptionHandler(ImageGenerator generator, FileBlobStore blobs, RedisClientHost redis, ILogger<CuratedCaptionHandler> logger) : IStreamHandler
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
        var keys = Enumerable.Range(0, curated.Variants).Select(v => BlobKey.GeneratedImage(run, curated.CaptionId, v)).ToArray();
        var seeds = Enumerable.Range(0, curated.Variants).Select(v => ImageGenerator.DeriveSeed(curated.RunSeed, curated.CaptionId, v)).ToArray();
        var todo = Enumerable.Range(0, curated.Variants).Where(v => !blobs.Exists(keys[v])).ToArray();
        var generated = new Dictionary<int, (Diffusion.GeneratedImageResult Result, Diffusion.GenerationTimings Timings)>();
        if (todo.Length > 0)
        {
            var results = await generator.GenerateAsync(todo.Select(_ => curated.Caption).ToArray(), todo.Select(v => seeds[v]).ToArray(), settings, null, cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < todo.Length; i++)
            {
                generated[todo[i]] = results[i];
            }
        }

        var connection = await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
        var producer = new StreamProducer(connection);
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
            };
            record.Settings.Add(SettingsMap(settings));
            if (generated.TryGetValue(v, out var item))
            {
                if (item.Result.Image is not { } image)
                {
                    await RecordFailureAsync(connection, entry, curated, v, item.Result.Error ?? "generation failed").ConfigureAwait(false);
                    continue;
                }
                using (image)
                {
                    var png = await Task.Run(() => ImageCodec.Encode(image, ImageFormat.Png), cancellationToken).ConfigureAwait(false);
                    await blobs.WriteAsync(keys[v], png, cancellationToken).ConfigureAwait(false);
                }
                record.GenerateMs = item.Timings.TotalMs / Math.Max(1, todo.Length);
                if (item.Result.PromptTruncated)
                {
                    record.Settings["prompt_truncated"] = "true";
                }
            }
            await producer.ProduceAsync(KnownStreams.Generated, run, OutputKind, record.ToByteArray(), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RecordFailureAsync(RedisConnection connection, StreamEntry entry, CuratedCaption curated, int variant, string reason)
    {
        LogVariantFailed(logger, curated.CaptionId, variant, reason);
        await connection.ExecuteAsync("XADD", CancellationToken.None, KnownStreams.Dead, "*",
            KnownStreamFields.Run, entry.Run, KnownStreamFields.Kind, entry.Kind, KnownStreamFields.Data, entry.Data,
            StreamDeadLetterFields.Reason, $"caption '{curated.CaptionId}' variant {variant}: {reason}",
            StreamDeadLetterFields.SourceStream, entry.Stream, StreamDeadLetterFields.OriginalId, entry.Id, "variant", variant).ConfigureAwait(false);
    }

    private static Dictionary<string, string> SettingsMap(Diffusion.GenerationSettings s) => new()
    {
        ["width"] = s.Width.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["height"] = s.Height.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["steps"] = s.Steps.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["guidance"] = s.Guidance.ToString("R", System.Globalization.CultureInfo.InvariantCulture),
        ["negative_prompt"] = s.NegativePrompt ?? "(none)",
        ["refiner"] = s.UseRefiner ? s.RefinerStart.ToString("R", System.Globalization.CultureInfo.InvariantCulture) : "off",
        ["scheduler"] = s.Scheduler ?? "(model)",
    };

    [LoggerMessage(EventId = 700, Level = LogLevel.Warning, Message = "Caption {CaptionId} variant {Variant} failed: {Reason}")]
    private static partial void LogVariantFailed(ILogger logger, string captionId, int variant, string reason);
}
