namespace SynthVlm.Hallucination.Chair;

/// <summary>CHAIR's reading of one caption.</summary>
/// <param name="ImageId">The COCO image id.</param>
/// <param name="Caption">The caption as given.</param>
/// <param name="MentionedObjects">The COCO objects it mentions, in order, repeats included (the official "mscoco_generated_words").</param>
/// <param name="HallucinatedObjects">Those of them not in the image, in order, repeats included.</param>
public sealed record ChairCaptionResult(long ImageId, string Caption, IReadOnlyList<string> MentionedObjects, IReadOnlyList<string> HallucinatedObjects);

/// <summary>The CHAIR metrics over the captions scored.</summary>
/// <param name="Captions">Captions scored.</param>
/// <param name="HallucinatedCaptions">Captions with at least one hallucinated object.</param>
/// <param name="Mentions">Object mentions, repeats included.</param>
/// <param name="HallucinatedMentions">Mentions of objects not in the image.</param>
public sealed record ChairSummary(long Captions, long HallucinatedCaptions, long Mentions, long HallucinatedMentions)
{
    /// <summary>CHAIR_s: the share of captions with a hallucinated object; null with no caption (the official code divides by zero).</summary>
    public double? ChairS => Captions == 0 ? null : HallucinatedCaptions / (double)Captions;

    /// <summary>CHAIR_i: the share of object mentions that are hallucinated; null with no mention (the official code divides by zero).</summary>
    public double? ChairI => Mentions == 0 ? null : HallucinatedMentions / (double)Mentions;
}

/// <summary>
/// CHAIR (Rohrbach et al., "Object Hallucination in Image Captioning", EMNLP 2018) as the official
/// code computes it (github.com/LisaAnne/Hallucination utils/chair.py, <c>compute_chair</c>): a
/// mention is hallucinated when its object is not among the image's ground-truth objects;
/// CHAIR_i = hallucinated mentions / mentions, CHAIR_s = captions with a hallucinated mention /
/// captions, every mention counted (a caption naming a missing dog twice counts two).
/// </summary>
public sealed class ChairEvaluator(ChairGroundTruth groundTruth, ChairVocabulary vocabulary)
{
    private long _captions;
    private long _hallucinatedCaptions;
    private long _mentions;
    private long _hallucinatedMentions;

    /// <summary>The metrics over the captions scored so far.</summary>
    public ChairSummary Summary => new(_captions, _hallucinatedCaptions, _mentions, _hallucinatedMentions);

    /// <summary>Scores one caption and adds it to <see cref="Summary"/>.</summary>
    public ChairCaptionResult Score(ChairCaption caption)
    {
        ArgumentNullException.ThrowIfNull(caption);
        var truth = groundTruth.ObjectsIn(caption.ImageId);
        var mentioned = new List<string>();
        var hallucinated = new List<string>();
        foreach (var mention in vocabulary.Read(caption.Caption).Mentions)
        {
            mentioned.Add(mention.Object);
            if (!truth.Contains(mention.Object))
            {
                hallucinated.Add(mention.Object);
            }
        }
        _captions++;
        _mentions += mentioned.Count;
        _hallucinatedMentions += hallucinated.Count;
        if (hallucinated.Count > 0)
        {
            _hallucinatedCaptions++;
        }
        return new ChairCaptionResult(caption.ImageId, caption.Caption, mentioned, hallucinated);
    }

    /// <summary>
    /// Scores a captions file (JSON array or JSONL, see <see cref="ChairCaptionReader"/>) against a
    /// COCO annotation folder: a first pass collects the image ids, the annotations are read for
    /// those images, a second pass scores each caption and hands it to <paramref name="onCaption"/>.
    /// Memory: the image ids and their object sets, never the captions.
    /// </summary>
    public static async Task<ChairSummary> ScoreFileAsync(
        string captionsPath, string annotationsFolder, Func<ChairCaptionResult, ValueTask> onCaption, Action<ChairInputIssue> onIssue,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onCaption);
        var imageIds = new HashSet<long>();
        await foreach (var caption in ChairCaptionReader.ReadAsync(captionsPath, _ => { }, cancellationToken).ConfigureAwait(false))
        {
            imageIds.Add(caption.ImageId);
        }
        var vocabulary = ChairVocabulary.Official;
        var truth = ChairGroundTruth.LoadCoco(annotationsFolder, imageIds, vocabulary, cancellationToken);
        var evaluator = new ChairEvaluator(truth, vocabulary);
        await foreach (var caption in ChairCaptionReader.ReadAsync(captionsPath, onIssue, cancellationToken).ConfigureAwait(false))
        {
            await onCaption(evaluator.Score(caption)).ConfigureAwait(false);
        }
        return evaluator.Summary;
    }
}
