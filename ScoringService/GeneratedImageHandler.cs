using Google.Protobuf;
using Microsoft.Extensions.Logging;
using SynthVlm.Blobs;
using SynthVlm.Clip;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.Scoring;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.ScoringService;

/// <summary>
/// The stream worker: each synthvlm:generated entry (a GeneratedImage) is scored and a
/// ScoredImage is emitted to synthvlm:scored. A malformed entry, a missing or undecodable image
/// or an empty caption is dead-lettered at once with the reason; the run goes on. Delivery is
/// at least once, so a redelivered entry may be scored and emitted twice: downstream keys
/// records by (run, caption_id, variant).
/// </summary>
public sealed partial class GeneratedImageHandler(PairScorer scorer, ClipModel model, FileBlobStore blobs, RedisClientHost redis, RunAccess runs, ILogger<GeneratedImageHandler> logger) : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "GeneratedImage";

    /// <summary>The entry kind it emits.</summary>
    public const string OutputKind = "ScoredImage";

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Kind != InputKind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {InputKind}.");
        }
        GeneratedImage generated;
        try
        {
            generated = GeneratedImage.Parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a GeneratedImage message: {e.Message}");
        }
        var run = generated.Run.Length > 0 ? generated.Run : entry.Run;
        var (work, tracked) = await runs.CheckAsync(run, cancellationToken).ConfigureAwait(false);
        if (!work)
        {
            return;
        }
        if (!BlobKey.IsValid(generated.ImageKey))
        {
            throw new PermanentStreamFailureException($"caption '{generated.CaptionId}' variant {generated.Variant}: image_key '{generated.ImageKey}' is not a valid blob key.");
        }
        byte[] image;
        try
        {
            image = await blobs.ReadAsync(generated.ImageKey, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new PermanentStreamFailureException($"caption '{generated.CaptionId}' variant {generated.Variant}: image '{generated.ImageKey}' is not in the blob store.");
        }
        PairScore score;
        try
        {
            score = await scorer.ScoreAsync(image, generated.Caption, generated.ImageKey, cancellationToken: cancellationToken).ConfigureAwait(false);
        }
        catch (ScoringInputException e)
        {
            throw new PermanentStreamFailureException($"caption '{generated.CaptionId}' variant {generated.Variant}: {e.Message}", e);
        }
        if (score.CaptionTruncated)
        {
            LogTruncated(logger, generated.CaptionId, generated.Variant, model.ContextLength);
        }
        var scored = new ScoredImage
        {
            Image = generated,
            Score = ScoringRpcService.ToResult($"{generated.CaptionId}/{generated.Variant}", score),
            ClipModel = model.Folder,
        };
        // The shared connection is replaced after a reconnect, so the producer is made per entry (it is cheap).
        var producer = new StreamProducer((await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false)).GetDatabase());
        await producer.ProduceAsync(KnownStreams.Scored, entry.Run, OutputKind, scored.ToByteArray(), cancellationToken).ConfigureAwait(false);
        if (tracked && ItemOf(generated) is { } item)
        {
            await runs.MarkAsync(run, RunStages.Selection, ProgressMark.Emitted, item, CancellationToken.None).ConfigureAwait(false);
            await runs.MarkAsync(run, RunStages.Scoring, ProgressMark.Processed, item, CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task OnDeadLetteredAsync(StreamEntry entry, string reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        GeneratedImage generated;
        try
        {
            generated = GeneratedImage.Parser.ParseFrom(entry.Data.Span);
        }
        catch (InvalidProtocolBufferException)
        {
            return;
        }
        var run = generated.Run.Length > 0 ? generated.Run : entry.Run;
        if (ItemOf(generated) is { } item && (await runs.CheckAsync(run, CancellationToken.None).ConfigureAwait(false)).Tracked)
        {
            await runs.MarkAsync(run, RunStages.Scoring, ProgressMark.Dead, item, CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static long? ItemOf(GeneratedImage g) =>
        g.Variants > 0 && g.Variant >= 0 && g.Variant < g.Variants && g.CaptionIndex >= 0 && g.CaptionIndex < RunItems.MaxPoolRecords(g.Variants)
            ? RunItems.Image(g.CaptionIndex, g.Variant, g.Variants)
            : null;

    [LoggerMessage(EventId = 610, Level = LogLevel.Information, Message = "Caption {CaptionId} variant {Variant} was longer than {Context} tokens and was truncated for CLIP (recorded in the score)")]
    private static partial void LogTruncated(ILogger logger, string captionId, int variant, int context);
}
