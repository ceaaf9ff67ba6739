using Google.Protobuf;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.SelectionService;

/// <summary>
/// The stream worker: each synthvlm:scored entry (a ScoredImage) is appended as the image's score
/// record to this replica's score log (group commit: the entry is acknowledged only after the
/// fsync that covers its record), then counted as processed. The record, not Redis, is what the
/// top K is computed from, so a replica killed at any point loses nothing acknowledged, and a
/// redelivered entry only adds a duplicate that readers drop.
/// </summary>
public sealed class ScoredImageHandler(ScoreLogWriter scores, RunAccess runs) : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "ScoredImage";

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var scored = Parse(entry);
        var image = scored.Image;
        var run = image.Run.Length > 0 ? image.Run : entry.Run;
        if (!RunConfigs.IsValidId(run))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}' variant {image.Variant}: run '{run}' is not a valid run id.");
        }
        if (image.Variants < 1 || image.Variant < 0 || image.Variant >= image.Variants || image.CaptionIndex < 0 || image.CaptionIndex >= RunItems.MaxPoolRecords(image.Variants))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}': variant {image.Variant} of {image.Variants} at pool position {image.CaptionIndex} is out of range.");
        }
        if (!double.IsFinite(scored.Score.Clip) || !double.IsFinite(scored.Score.Ssim))
        {
            throw new PermanentStreamFailureException($"caption '{image.CaptionId}' variant {image.Variant}: scores are not finite (clip {scored.Score.Clip}, ssim {scored.Score.Ssim}).");
        }
        var (work, tracked) = await runs.CheckAsync(run, cancellationToken).ConfigureAwait(false);
        if (!work)
        {
            return;
        }
        await scores.AppendAsync(run, image.CaptionIndex, image.Variant, scored.ToByteArray(), cancellationToken).ConfigureAwait(false);
        if (tracked)
        {
            await runs.MarkAsync(run, RunStages.Selection, ProgressMark.Processed, RunItems.Image(image.CaptionIndex, image.Variant, image.Variants), CancellationToken.None).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async Task OnDeadLetteredAsync(StreamEntry entry, string reason)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ScoredImage scored;
        try
        {
            scored = Parse(entry);
        }
        catch (PermanentStreamFailureException)
        {
            return;
        }
        var image = scored.Image;
        var run = image.Run.Length > 0 ? image.Run : entry.Run;
        if (image.Variants >= 1 && image.Variant >= 0 && image.Variant < image.Variants && image.CaptionIndex >= 0 && image.CaptionIndex < RunItems.MaxPoolRecords(image.Variants)
            && (await runs.CheckAsync(run, CancellationToken.None).ConfigureAwait(false)).Tracked)
        {
            await runs.MarkAsync(run, RunStages.Selection, ProgressMark.Dead, RunItems.Image(image.CaptionIndex, image.Variant, image.Variants), CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static ScoredImage Parse(StreamEntry entry)
    {
        if (entry.Kind != InputKind)
        {
            throw new PermanentStreamFailureException($"entry kind '{entry.Kind}' is not {InputKind}.");
        }
        try
        {
            var scored = ScoredImage.Parser.ParseFrom(entry.Data.Span);
            return scored.Image is null || scored.Score is null
                ? throw new PermanentStreamFailureException("the ScoredImage has no image or no score.")
                : scored;
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new PermanentStreamFailureException($"data is not a ScoredImage message: {e.Message}");
        }
    }
}
