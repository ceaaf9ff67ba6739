using System.Globalization;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Blip;

/// <summary>How the scores of the images that share one caption are combined (Data-Juicer's reduce_mode).</summary>
public enum ItmReduceMode
{
    /// <summary>The mean ("avg", Data-Juicer's default).</summary>
    Average,

    /// <summary>The largest score ("max").</summary>
    Max,

    /// <summary>The smallest score ("min").</summary>
    Min,
}

/// <summary>Whether a sample with several caption chunks is kept when any or all chunk scores are in range (Data-Juicer's any_or_all).</summary>
public enum ItmKeepStrategy
{
    /// <summary>Keep when at least one chunk score is in range ("any", Data-Juicer's default).</summary>
    Any,

    /// <summary>Keep only when every chunk score is in range ("all").</summary>
    All,
}

/// <summary>Settings of <see cref="ImageTextMatchingFilter"/>, named after Data-Juicer's image_text_matching_filter arguments.</summary>
public sealed record ImageTextMatchingSettings
{
    /// <summary>
    /// Lowest kept score (inclusive). Default 0.8, the threshold of the SynthVLM paper's appendix;
    /// Data-Juicer's own default min_score is 0.003.
    /// </summary>
    public double MinScore { get; init; } = 0.8;

    /// <summary>Highest kept score (inclusive); default 1.0 as in Data-Juicer.</summary>
    public double MaxScore { get; init; } = 1.0;

    /// <summary>Mirror each image left to right before scoring (PIL ImageOps.mirror).</summary>
    public bool HorizontalFlip { get; init; }

    /// <summary>Flip each image top to bottom before scoring (PIL ImageOps.flip), after the mirror when both are set.</summary>
    public bool VerticalFlip { get; init; }

    /// <summary>How the scores of one caption's images are combined.</summary>
    public ItmReduceMode Reduce { get; init; } = ItmReduceMode.Average;

    /// <summary>Any or all chunks must be in range.</summary>
    public ItmKeepStrategy AnyOrAll { get; init; } = ItmKeepStrategy.Any;

    /// <summary>Throws <see cref="ArgumentException"/> naming the setting when a value is out of range.</summary>
    public void Validate()
    {
        if (double.IsNaN(MinScore) || double.IsNaN(MaxScore))
        {
            throw new ArgumentException($"MinScore and MaxScore must be numbers; found {MinScore} and {MaxScore}.");
        }
        if (MinScore > MaxScore)
        {
            throw new ArgumentException($"MinScore ({MinScore.ToString(CultureInfo.InvariantCulture)}) is above MaxScore ({MaxScore.ToString(CultureInfo.InvariantCulture)}); nothing could be kept.");
        }
        if (!Enum.IsDefined(Reduce))
        {
            throw new ArgumentException($"Reduce is {(int)Reduce}; expected Average, Max or Min.");
        }
        if (!Enum.IsDefined(AnyOrAll))
        {
            throw new ArgumentException($"AnyOrAll is {(int)AnyOrAll}; expected Any or All.");
        }
    }
}

/// <summary>One caption chunk and the images it goes with (Data-Juicer splits a sample's text at its end-of-chunk token).</summary>
/// <param name="Text">The chunk's text, special tokens removed.</param>
/// <param name="Images">The chunk's images, in order (not disposed by the filter).</param>
public sealed record ImageTextChunk(string Text, IReadOnlyList<RgbImage> Images);

/// <summary>The filter's verdict.</summary>
/// <param name="Keep">Whether the sample passes.</param>
/// <param name="Scores">One reduced score per scored chunk (Data-Juicer's image_text_matching_score statistic).</param>
/// <param name="ImageScores">Per chunk, the match probability of each of its images before reduction.</param>
/// <param name="Reason">Why it was rejected, naming the score and the threshold (e.g. "image_text_matching_score 0.4123 below min 0.8"); null when kept.</param>
public sealed record ImageTextMatchingResult(bool Keep, IReadOnlyList<double> Scores, IReadOnlyList<IReadOnlyList<double>> ImageScores, string? Reason);

/// <summary>
/// Data-Juicer's image_text_matching_filter (data_juicer/ops/filter/image_text_matching_filter.py)
/// over an <see cref="IImageTextMatcher"/>: each image of a chunk, optionally mirrored and/or flipped,
/// is scored against the chunk's text (BLIP ITM probability: softmax over the ITM logits, index 1);
/// the chunk's scores are reduced (avg/max/min) to one score; a chunk score is in range when
/// MinScore ≤ score ≤ MaxScore (both inclusive, Data-Juicer's closed interval); the sample is kept
/// when any (or all) chunk scores are in range. Data-Juicer's rules kept as they are: a sample with
/// no images is kept with no score; a chunk with no images is skipped. One difference, for the
/// caption-with-images case this project has: an empty or whitespace-only caption is rejected
/// without scoring ("empty caption"), where Data-Juicer would score the bare [CLS] [SEP] text.
/// </summary>
public sealed class ImageTextMatchingFilter
{
    /// <summary>Data-Juicer's operator name.</summary>
    public const string FilterName = "image_text_matching_filter";

    /// <summary>Data-Juicer's statistic name.</summary>
    public const string StatisticName = "image_text_matching_score";

    private readonly IImageTextMatcher _matcher;

    /// <summary>Creates the filter.</summary>
    /// <exception cref="ArgumentException">A setting is out of range.</exception>
    public ImageTextMatchingFilter(IImageTextMatcher matcher, ImageTextMatchingSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(matcher);
        Settings = settings ?? new ImageTextMatchingSettings();
        Settings.Validate();
        _matcher = matcher;
    }

    /// <summary>The settings in force.</summary>
    public ImageTextMatchingSettings Settings { get; }

    /// <summary>Scores a caption against its images (one chunk).</summary>
    public ImageTextMatchingResult Evaluate(string caption, IReadOnlyList<RgbImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caption);
        ArgumentNullException.ThrowIfNull(images);
        return Evaluate([new ImageTextChunk(caption, images)], cancellationToken);
    }

    /// <summary>
    /// Decodes the image files and scores the caption against them. A file that is missing or does
    /// not decode throws <see cref="BlipImageException"/> naming it; the caller records it.
    /// </summary>
    public ImageTextMatchingResult EvaluateFiles(string caption, IReadOnlyList<string> imagePaths, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(caption);
        ArgumentNullException.ThrowIfNull(imagePaths);
        var images = new List<RgbImage>(imagePaths.Count);
        try
        {
            foreach (var path in imagePaths)
            {
                cancellationToken.ThrowIfCancellationRequested();
                images.Add(Decode(path));
            }
            return Evaluate(caption, images, cancellationToken);
        }
        finally
        {
            foreach (var image in images)
            {
                image.Dispose();
            }
        }
    }

    /// <summary>Scores several chunks (Data-Juicer's multi-chunk samples) and applies any/all.</summary>
    public ImageTextMatchingResult Evaluate(IReadOnlyList<ImageTextChunk> chunks, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        var scored = chunks.Where(c => c.Images.Count > 0).ToList();
        if (scored.Count == 0)
        {
            return new ImageTextMatchingResult(true, [], [], null);
        }
        var empty = scored.FindIndex(c => string.IsNullOrWhiteSpace(c.Text));
        if (empty >= 0)
        {
            var where = chunks.Count > 1 ? $" (chunk {chunks.ToList().IndexOf(scored[empty])})" : "";
            return new ImageTextMatchingResult(false, [], [], $"empty caption{where}: no text to match the image against");
        }

        var pairs = new List<ImageCaptionPair>();
        var flipped = new List<RgbImage>();
        try
        {
            foreach (var chunk in scored)
            {
                foreach (var image in chunk.Images)
                {
                    ArgumentNullException.ThrowIfNull(image);
                    var use = image;
                    if (Settings.HorizontalFlip || Settings.VerticalFlip)
                    {
                        use = BlipImageProcessor.Flip(image, Settings.HorizontalFlip, Settings.VerticalFlip);
                        flipped.Add(use);
                    }
                    pairs.Add(new ImageCaptionPair(use, chunk.Text));
                }
            }
            var matches = _matcher.Match(pairs, cancellationToken);
            if (matches.Count != pairs.Count)
            {
                throw new InvalidOperationException($"The matcher returned {matches.Count} results for {pairs.Count} pairs.");
            }
            var scores = new List<double>(scored.Count);
            var perImage = new List<IReadOnlyList<double>>(scored.Count);
            var offset = 0;
            foreach (var chunk in scored)
            {
                var p = matches.Skip(offset).Take(chunk.Images.Count).Select(m => m.Probability).ToArray();
                offset += chunk.Images.Count;
                perImage.Add(p);
                scores.Add(Reduce(p, Settings.Reduce));
            }
            return Judge(scores, perImage);
        }
        finally
        {
            foreach (var image in flipped)
            {
                image.Dispose();
            }
        }
    }

    /// <summary>Data-Juicer's closed-interval test: <paramref name="minScore"/> ≤ <paramref name="score"/> ≤ <paramref name="maxScore"/>.</summary>
    public static bool InRange(double score, double minScore, double maxScore) => score >= minScore && score <= maxScore;

    /// <summary>Combines one chunk's image scores.</summary>
    public static double Reduce(IReadOnlyList<double> scores, ItmReduceMode mode)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (scores.Count == 0)
        {
            throw new ArgumentException("No scores to reduce.", nameof(scores));
        }
        return mode switch
        {
            ItmReduceMode.Average => scores.Average(),
            ItmReduceMode.Max => scores.Max(),
            ItmReduceMode.Min => scores.Min(),
            _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, "expected Average, Max or Min"),
        };
    }

    private ImageTextMatchingResult Judge(List<double> scores, List<IReadOnlyList<double>> perImage)
    {
        var ok = scores.Select(s => InRange(s, Settings.MinScore, Settings.MaxScore)).ToArray();
        var keep = Settings.AnyOrAll == ItmKeepStrategy.Any ? ok.Any(b => b) : ok.All(b => b);
        if (keep)
        {
            return new ImageTextMatchingResult(true, scores, perImage, null);
        }
        // Name the first failing chunk score (for "any" every chunk failed).
        var i = Array.IndexOf(ok, false);
        var s = scores[i];
        var side = s < Settings.MinScore
            ? $"below min {Format(Settings.MinScore)}"
            : $"above max {Format(Settings.MaxScore)}";
        var images = perImage[i].Count > 1 ? $" ({ReduceName(Settings.Reduce)} of {perImage[i].Count} images)" : "";
        var chunk = scores.Count > 1 ? $" in chunk {i + 1} of {scores.Count} ({(Settings.AnyOrAll == ItmKeepStrategy.Any ? "any" : "all")})" : "";
        return new ImageTextMatchingResult(false, scores, perImage, $"{StatisticName} {Format(s)}{images} {side}{chunk}");
    }

    private static string ReduceName(ItmReduceMode mode) => mode switch
    {
        ItmReduceMode.Average => "avg",
        ItmReduceMode.Max => "max",
        _ => "min",
    };

    private static string Format(double value) => value.ToString("0.####", CultureInfo.InvariantCulture);

    private static RgbImage Decode(string path)
    {
        if (string.IsNullOrWhiteSpace(path))
        {
            throw new BlipImageException(path ?? "", "the image path is empty");
        }
        try
        {
            return ImageCodec.DecodeFile(path);
        }
        catch (ImagingException e)
        {
            throw new BlipImageException(path, $"cannot decode the image: {e.Reason}", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BlipImageException(path, $"cannot read the image: {e.Message}", e);
        }
    }
}
