using System.Globalization;
using SynthVlm.Blip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Onnx;

namespace SynthVlm.Cli;

/// <summary>The `synthvlm curate --itm-*` options as given (validated by <see cref="CurateImageMatching.Open"/>).</summary>
/// <param name="ModelFolder">--itm-model: a BLIP ITM folder (itm.onnx, vocab.txt, blip_itm.json); null turns the filter off.</param>
/// <param name="MinScore">--itm-min (null: the paper's 0.8).</param>
/// <param name="MaxScore">--itm-max (null: 1.0).</param>
/// <param name="Flip">--itm-flip: h, v or hv (null: none).</param>
/// <param name="BatchSize">--itm-batch (null: <see cref="BlipItmModel.DefaultBatchSize"/>).</param>
internal sealed record CurateItmOptions(string? ModelFolder, double? MinScore, double? MaxScore, string? Flip, int? BatchSize);

/// <summary>What the image–text matching stage decided for one caption.</summary>
/// <param name="Score">The match probability; null when the image could not be read.</param>
/// <param name="Keep">Whether the caption passes the filter.</param>
/// <param name="Filter">The filter name for a rejected caption: <see cref="ImageTextMatchingFilter.FilterName"/> or <see cref="CurateImageMatching.UnreadableFilter"/>.</param>
/// <param name="Reason">Why it was rejected (the filter's reason, or the image file and its problem); null when kept.</param>
internal sealed record ItmOutcome(double? Score, bool Keep, string? Filter, string? Reason);

/// <summary>
/// Data-Juicer's image_text_matching_filter in the offline `synthvlm curate`: each caption that passed the
/// rule filters and has an image is scored against it with BLIP's ITM head. Images are decoded (in
/// parallel, up to -j threads) and scored <see cref="BatchSize"/> pairs per ONNX call, then released, so
/// memory is one ITM batch of decoded images and tensors whatever the pool's size; results come back by
/// the caller's index, so the output order does not depend on the batching or the threads. The verdict
/// is the library filter's own (<see cref="ImageTextMatchingFilter"/>, closed interval, its reason text),
/// applied to the batched score. A relative image path is resolved against the pool file's folder, as
/// Data-Juicer's formatters resolve a dataset's relative paths against the dataset's folder.
/// </summary>
internal sealed class CurateImageMatching : IDisposable
{
    /// <summary>Filter name of a caption whose image is missing or does not decode (as the curation service names it).</summary>
    public const string UnreadableFilter = "image_unreadable";

    private readonly BlipItmModel _model;
    private readonly string _imageBase;
    private readonly int _parallelism;

    private CurateImageMatching(BlipItmModel model, ImageTextMatchingSettings settings, string imageBase, int parallelism)
    {
        _model = model;
        Settings = settings;
        _imageBase = imageBase;
        _parallelism = parallelism;
    }

    /// <summary>The filter's settings (range and flips).</summary>
    public ImageTextMatchingSettings Settings { get; }

    /// <summary>Pairs per ONNX call, and decoded images held at once.</summary>
    public int BatchSize => _model.BatchSize;

    /// <summary>The model folder (full path).</summary>
    public string ModelFolder => _model.Folder;

    /// <summary>The --itm-flip spelling of the settings' flips ("h", "v", "hv" or "none").</summary>
    public string FlipName => (Settings.HorizontalFlip, Settings.VerticalFlip) switch
    {
        (true, true) => "hv",
        (true, false) => "h",
        (false, true) => "v",
        _ => "none",
    };

    /// <summary>
    /// Checks the options and loads the model; null when --itm-model is not given and no other --itm
    /// option is. Throws <see cref="ArgumentException"/> with a message naming the option at fault.
    /// </summary>
    public static CurateImageMatching? Open(CurateItmOptions options, string poolPath, int parallelism)
    {
        if (options.ModelFolder is null)
        {
            var stray = new (string Name, bool Given)[]
            {
                ("--itm-min", options.MinScore is not null), ("--itm-max", options.MaxScore is not null),
                ("--itm-flip", options.Flip is not null), ("--itm-batch", options.BatchSize is not null),
            }.Where(o => o.Given).Select(o => o.Name).ToArray();
            return stray.Length == 0
                ? null
                : throw new ArgumentException($"{string.Join(", ", stray)} given without --itm-model; image–text matching runs only with a BLIP ITM model folder.");
        }
        var min = CheckProbability("--itm-min", options.MinScore ?? 0.8);
        var max = CheckProbability("--itm-max", options.MaxScore ?? 1.0);
        if (min > max)
        {
            throw new ArgumentException($"--itm-min {F(min)} is above --itm-max {F(max)}; no caption could be kept.");
        }
        var (h, v) = options.Flip switch
        {
            null => (false, false),
            "h" => (true, false),
            "v" => (false, true),
            "hv" or "vh" => (true, true),
            _ => throw new ArgumentException($"--itm-flip must be h, v or hv; got '{options.Flip}'."),
        };
        var batch = options.BatchSize ?? BlipItmModel.DefaultBatchSize;
        if (batch < 1)
        {
            throw new ArgumentException($"--itm-batch must be at least 1; got {batch}.");
        }
        BlipItmModel model;
        try
        {
            model = BlipItmModel.Load(options.ModelFolder, batch, new OnnxSessionSettings { IntraOpThreads = parallelism });
        }
        catch (BlipModelException e)
        {
            throw new ArgumentException($"--itm-model '{options.ModelFolder}': {e.Message}", e);
        }
        var settings = new ImageTextMatchingSettings { MinScore = min, MaxScore = max, HorizontalFlip = h, VerticalFlip = v };
        var imageBase = Path.GetDirectoryName(Path.GetFullPath(poolPath)) ?? Directory.GetCurrentDirectory();
        return new CurateImageMatching(model, settings, imageBase, parallelism);

        static double CheckProbability(string option, double value) =>
            double.IsNaN(value) || value < 0 || value > 1
                ? throw new ArgumentException($"{option} must be a probability in [0, 1]; got {F(value)}.")
                : value;
    }

    /// <summary>
    /// Scores <paramref name="items"/> (caption index, image path as given, the text the rule filters
    /// scored) and stores each outcome at <c>outcomes[Index]</c>. An unreadable image rejects its caption
    /// only; the others are scored.
    /// </summary>
    public void Score(IReadOnlyList<(int Index, string ImagePath, string Text)> items, ItmOutcome?[] outcomes, CancellationToken cancellationToken)
    {
        var images = new RgbImage?[BatchSize];
        var errors = new string?[BatchSize];
        var options = new ParallelOptions { MaxDegreeOfParallelism = _parallelism, CancellationToken = cancellationToken };
        for (var start = 0; start < items.Count; start += BatchSize)
        {
            var n = Math.Min(BatchSize, items.Count - start);
            try
            {
                Parallel.For(0, n, options, i => (images[i], errors[i]) = Decode(items[start + i].ImagePath));
                var pairs = new List<ImageCaptionPair>(n);
                var pairOf = new int[n];
                for (var i = 0; i < n; i++)
                {
                    // An empty caption is the filter's to reject without a score (rule filters drop it first anyway).
                    pairOf[i] = images[i] is { } image && !string.IsNullOrWhiteSpace(items[start + i].Text) ? pairs.Count : -1;
                    if (pairOf[i] >= 0)
                    {
                        pairs.Add(new ImageCaptionPair(images[i]!, items[start + i].Text));
                    }
                }
                var matches = _model.Match(pairs, cancellationToken);
                for (var i = 0; i < n; i++)
                {
                    var (index, _, text) = items[start + i];
                    if (images[i] is not { } image)
                    {
                        outcomes[index] = new ItmOutcome(null, false, UnreadableFilter, errors[i]);
                        continue;
                    }
                    ImageTextMatch? match = pairOf[i] >= 0 ? matches[pairOf[i]] : null;
                    var verdict = Judge(text, image, match, cancellationToken);
                    outcomes[index] = new ItmOutcome(
                        verdict.Scores.Count > 0 ? verdict.Scores[0] : null, verdict.Keep, verdict.Keep ? null : ImageTextMatchingFilter.FilterName, verdict.Reason);
                }
            }
            finally
            {
                for (var i = 0; i < n; i++)
                {
                    images[i]?.Dispose();
                    images[i] = null;
                    errors[i] = null;
                }
            }
        }
    }

    /// <inheritdoc />
    public void Dispose() => _model.Dispose();

    // The library filter decides on the score the batch computed: one spelling of the range test and the reason.
    private ImageTextMatchingResult Judge(string text, RgbImage image, ImageTextMatch? match, CancellationToken cancellationToken)
    {
        var filter = new ImageTextMatchingFilter(new PrecomputedMatch(match), Settings with { HorizontalFlip = false, VerticalFlip = false });
        return filter.Evaluate(text, [image], cancellationToken);
    }

    // Flips are applied here, before the batch, so the image the model saw is the one the filter would flip.
    private (RgbImage? Image, string? Error) Decode(string given)
    {
        var path = Path.GetFullPath(given, _imageBase);
        RgbImage? decoded = null;
        try
        {
            decoded = ImageCodec.DecodeFile(path);
            if (!Settings.HorizontalFlip && !Settings.VerticalFlip)
            {
                var keep = decoded;
                decoded = null;
                return (keep, null);
            }
            return (BlipImageProcessor.Flip(decoded, Settings.HorizontalFlip, Settings.VerticalFlip), null);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return (null, $"image '{given}' not found (looked for {path})");
        }
        catch (ImagingException e)
        {
            return (null, $"image '{given}' does not decode: {e.Reason}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return (null, $"image '{given}' cannot be read: {e.Message}");
        }
        finally
        {
            decoded?.Dispose();
        }
    }

    private static string F(double value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>Hands the filter the score already computed for its single pair.</summary>
    private sealed class PrecomputedMatch(ImageTextMatch? match) : IImageTextMatcher
    {
        public IReadOnlyList<ImageTextMatch> Match(IReadOnlyList<ImageCaptionPair> pairs, CancellationToken cancellationToken = default) =>
            pairs.Count == 1 && match is { } m
                ? [m]
                : throw new InvalidOperationException($"expected one precomputed pair; the filter asked for {pairs.Count}.");
    }
}
