using System.Globalization;
using System.Security.Cryptography;
using SynthVlm.Protos.V1;

namespace SynthVlm.Runs;

/// <summary>Validation and defaults of <see cref="RunConfig"/>: what Submit stores is the normalised config.</summary>
public static class RunConfigs
{
    /// <summary>Default images per caption.</summary>
    public const int DefaultVariants = 2;

    /// <summary>Most images per caption.</summary>
    public const int MaxVariants = 64;

    /// <summary>Default minimum raw-pair CLIP cosine (Data-Juicer's image_text_similarity, the paper's 0.28).</summary>
    public const double DefaultImageTextMin = 0.28;

    /// <summary>BLIP image–text matching's default minimum match probability: 0.8, the SynthVLM appendix's threshold.</summary>
    public const double DefaultImageTextMatchingMin = 0.8;

    /// <summary>Default share of captions with images kept by raw-pair score (the paper's top 40 %).</summary>
    public const double DefaultImageTopFraction = 0.4;

    /// <summary>Default weight of SSIMScore (the paper's λ).</summary>
    public const double DefaultLambda = 0.5;

    private static readonly string[] CaptionFormats = ["auto", "synthvlm-json", "jsonl", "csv", "tsv", "llava-json", "imagefolder"];
    private static readonly string[] ImageFormats = ["png", "jpeg", "webp"];

    /// <summary>Whether <paramref name="id"/> is a valid run id (letters, digits, '.', '_', '-', 1 to 64, not starting with '.').</summary>
    public static bool IsValidId(string? id) =>
        id is { Length: > 0 and <= 64 } && id[0] != '.' && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');

    /// <summary>A fresh run id: run-{utc time}-{random}.</summary>
    public static string NewId(DateTimeOffset now) =>
        string.Create(CultureInfo.InvariantCulture, $"run-{now.UtcDateTime:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}");

    /// <summary>
    /// Returns a copy of <paramref name="config"/> with defaults filled in and paths made absolute,
    /// or throws <see cref="RunConfigException"/> naming the first bad field.
    /// </summary>
    /// <param name="config">The submitted config.</param>
    /// <param name="dataDirectory">The cluster's data folder (default output under datasets/).</param>
    /// <param name="now">For a generated id.</param>
    /// <param name="checkThreshold">Validates a curation threshold override (returns the problem, or null).</param>
    public static RunConfig Normalize(RunConfig config, string dataDirectory, DateTimeOffset now, Func<string, double, string?>? checkThreshold = null)
    {
        ArgumentNullException.ThrowIfNull(config);
        var c = config.Clone();
        if (c.Id.Length == 0)
        {
            c.Id = NewId(now);
        }
        else if (!IsValidId(c.Id))
        {
            throw new RunConfigException("id", $"'{Printable(c.Id)}' must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'.");
        }

        if (c.Recaption is { } recaption)
        {
            NormalizeRecaption(c, recaption);
        }
        if (c.Recaption is not null)
        {
            // The pool is RecaptionService's JSONL, written later.
            c.CaptionsFormat = c.CaptionsFormat.Length == 0 ? "jsonl" : c.CaptionsFormat;
        }
        else if (string.IsNullOrWhiteSpace(c.Captions))
        {
            throw new RunConfigException("captions", "is required (a caption pool file or image folder), or recaption.images to start from images.");
        }
        else
        {
            if (c.Captions.Any(char.IsControl))
            {
                throw new RunConfigException("captions", "contains control characters.");
            }
            c.Captions = Path.GetFullPath(c.Captions);
            if (!File.Exists(c.Captions) && !Directory.Exists(c.Captions))
            {
                throw new RunConfigException("captions", $"'{c.Captions}' does not exist (the path is read by the curation service).");
            }
        }
        c.CaptionsFormat = c.CaptionsFormat.Length == 0 ? "auto" : c.CaptionsFormat.ToLowerInvariant();
        if (!CaptionFormats.Contains(c.CaptionsFormat))
        {
            throw new RunConfigException("captions_format", $"'{c.CaptionsFormat}' is not one of {string.Join(", ", CaptionFormats)}.");
        }

        c.Curation ??= new CurationSettings();
        foreach (var (key, value) in c.Curation.Thresholds)
        {
            if (!double.IsFinite(value))
            {
                throw new RunConfigException($"curation.thresholds[{key}]", "must be a finite number.");
            }
            if (checkThreshold?.Invoke(key, value) is { } problem)
            {
                throw new RunConfigException($"curation.thresholds[{key}]", problem);
            }
        }
        if (c.Curation.FlaggedWords.Length > 0)
        {
            c.Curation.FlaggedWords = Path.GetFullPath(c.Curation.FlaggedWords);
            if (!File.Exists(c.Curation.FlaggedWords))
            {
                throw new RunConfigException("curation.flagged_words", $"'{c.Curation.FlaggedWords}' does not exist.");
            }
        }

        if ((c.Curation.PerplexityArpa.Length == 0) != (c.Curation.PerplexitySentencepiece.Length == 0))
        {
            throw new RunConfigException(c.Curation.PerplexityArpa.Length == 0 ? "curation.perplexity_arpa" : "curation.perplexity_sentencepiece", "the perplexity filter needs both the ARPA and the SentencePiece model.");
        }
        if (c.Curation.PerplexityArpa.Length > 0)
        {
            c.Curation.PerplexityArpa = Path.GetFullPath(c.Curation.PerplexityArpa);
            c.Curation.PerplexitySentencepiece = Path.GetFullPath(c.Curation.PerplexitySentencepiece);
            foreach (var (field, path) in new[] { ("curation.perplexity_arpa", c.Curation.PerplexityArpa), ("curation.perplexity_sentencepiece", c.Curation.PerplexitySentencepiece) })
            {
                if (!File.Exists(path))
                {
                    throw new RunConfigException(field, $"'{path}' does not exist.");
                }
            }
        }
        if (c.Curation.HasNearDuplicateThreshold && (!double.IsFinite(c.Curation.NearDuplicateThreshold) || c.Curation.NearDuplicateThreshold is <= 0 or > 1))
        {
            throw new RunConfigException("curation.near_duplicate_threshold", $"{c.Curation.NearDuplicateThreshold} must be in (0, 1].");
        }
        if (!c.Curation.HasImageTextMin)
        {
            c.Curation.ImageTextMin = DefaultImageTextMin;
        }
        if (!double.IsFinite(c.Curation.ImageTextMin) || c.Curation.ImageTextMin is < -1 or > 1)
        {
            throw new RunConfigException("curation.image_text_min", $"{c.Curation.ImageTextMin} must be a cosine between -1 and 1.");
        }
        if (c.Curation.ImageTextMatching is { } itm)
        {
            if (!itm.HasMinScore)
            {
                itm.MinScore = DefaultImageTextMatchingMin;
            }
            if (!itm.HasMaxScore)
            {
                itm.MaxScore = 1.0;
            }
            if (!double.IsFinite(itm.MinScore) || itm.MinScore is < 0 or > 1)
            {
                throw new RunConfigException("curation.image_text_matching.min_score", $"{itm.MinScore} must be a probability between 0 and 1.");
            }
            if (!double.IsFinite(itm.MaxScore) || itm.MaxScore is < 0 or > 1 || itm.MaxScore < itm.MinScore)
            {
                throw new RunConfigException("curation.image_text_matching.max_score", $"{itm.MaxScore} must be a probability between min_score ({itm.MinScore}) and 1.");
            }
        }
        if (!c.Curation.HasImageTopFraction)
        {
            c.Curation.ImageTopFraction = DefaultImageTopFraction;
        }
        if (!double.IsFinite(c.Curation.ImageTopFraction) || c.Curation.ImageTopFraction is <= 0 or > 1)
        {
            throw new RunConfigException("curation.image_top_fraction", $"{c.Curation.ImageTopFraction} must be in (0, 1].");
        }

        if (c.Curation.Judge is { } judge)
        {
            if (judge.Endpoint.Length == 0)
            {
                c.Curation.Judge = null;
            }
            else
            {
                if (!Uri.TryCreate(judge.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
                {
                    throw new RunConfigException("curation.judge.endpoint", $"'{judge.Endpoint}' is not an http:// or https:// URL.");
                }
                if (string.IsNullOrWhiteSpace(judge.Model))
                {
                    throw new RunConfigException("curation.judge.model", "is required with an endpoint.");
                }
                if (judge.MaxConcurrency == 0)
                {
                    judge.MaxConcurrency = 4;
                }
                if (judge.MaxConcurrency is < 1 or > 256)
                {
                    throw new RunConfigException("curation.judge.max_concurrency", $"{judge.MaxConcurrency} must be between 1 and 256.");
                }
            }
        }

        c.Generation ??= new GenerationSpec();
        var g = c.Generation;
        if (g.Width < 0 || g.Height < 0 || g.Width % 8 != 0 || g.Height % 8 != 0 || g.Width > 4096 || g.Height > 4096)
        {
            throw new RunConfigException("generation.width/height", $"{g.Width}x{g.Height}: each must be 0 (the model's default) or a multiple of 8 up to 4096.");
        }
        if (g.Steps is < 0 or > 1000)
        {
            throw new RunConfigException("generation.steps", $"{g.Steps} must be between 1 and 1000 (0 = default).");
        }
        if (g.HasGuidance && (!double.IsFinite(g.Guidance) || g.Guidance < 0 || g.Guidance > 100))
        {
            throw new RunConfigException("generation.guidance", $"{g.Guidance} must be between 0 and 100.");
        }
        if (g.HasRefinerStart && (!double.IsFinite(g.RefinerStart) || g.RefinerStart <= 0 || g.RefinerStart >= 1))
        {
            throw new RunConfigException("generation.refiner_start", $"{g.RefinerStart} must be between 0 and 1 (exclusive).");
        }
        if (g.RefinerMode is { Length: > 0 } mode && mode.Trim().ToLowerInvariant() is not ("handover" or "hand-over" or "img2img"))
        {
            throw new RunConfigException("generation.refiner_mode", $"'{mode}' must be handover or img2img.");
        }
        if (g.HasRefinerStrength && !(g.RefinerStrength is > 0 and <= 1))
        {
            throw new RunConfigException("generation.refiner_strength", $"{g.RefinerStrength} must be in (0, 1].");
        }

        if (c.Variants == 0)
        {
            c.Variants = DefaultVariants;
        }
        if (c.Variants is < 1 or > MaxVariants)
        {
            throw new RunConfigException("variants", $"{c.Variants} must be between 1 and {MaxVariants}.");
        }
        if (!c.HasLambda)
        {
            c.Lambda = DefaultLambda;
        }
        if (!double.IsFinite(c.Lambda) || c.Lambda is < 0 or > 10)
        {
            throw new RunConfigException("lambda", $"{c.Lambda} must be between 0 and 10.");
        }
        switch (c.SizeCase)
        {
            case RunConfig.SizeOneofCase.TopK when c.TopK < 0:
                throw new RunConfigException("top_k", $"{c.TopK} must be 0 or more.");
            case RunConfig.SizeOneofCase.TopFraction when !double.IsFinite(c.TopFraction) || c.TopFraction <= 0 || c.TopFraction > 1:
                throw new RunConfigException("top_fraction", $"{c.TopFraction} must be in (0, 1].");
        }

        if (c.Output.Length == 0)
        {
            c.Output = Path.Combine(dataDirectory, "datasets", c.Id);
        }
        if (c.Output.Any(char.IsControl))
        {
            throw new RunConfigException("output", "contains control characters.");
        }
        c.Output = Path.GetFullPath(c.Output);
        if (c.Output == Path.GetPathRoot(c.Output))
        {
            throw new RunConfigException("output", "must not be a filesystem root.");
        }

        c.Dataset ??= new DatasetSettings();
        var d = c.Dataset;
        d.ImageFormat = d.ImageFormat.Length == 0 ? "png" : d.ImageFormat.ToLowerInvariant() switch { "jpg" => "jpeg", var f => f };
        if (!ImageFormats.Contains(d.ImageFormat))
        {
            throw new RunConfigException("dataset.image_format", $"'{d.ImageFormat}' is not one of png, jpeg, webp.");
        }
        if (d.Quality == 0)
        {
            d.Quality = 95;
        }
        if (d.Quality is < 1 or > 100)
        {
            throw new RunConfigException("dataset.quality", $"{d.Quality} must be between 1 and 100.");
        }
        if (d.ImagesPerFolder == 0)
        {
            d.ImagesPerFolder = 1000;
        }
        if (d.SamplesPerShard == 0)
        {
            d.SamplesPerShard = 1000;
        }
        if (d.ImagesPerFolder is < 1 or > 1_000_000)
        {
            throw new RunConfigException("dataset.images_per_folder", $"{d.ImagesPerFolder} must be between 1 and 1000000.");
        }
        if (d.SamplesPerShard is < 1 or > 1_000_000)
        {
            throw new RunConfigException("dataset.samples_per_shard", $"{d.SamplesPerShard} must be between 1 and 1000000.");
        }
        return c;
    }

    /// <summary>How many of <paramref name="survivors"/> captions with images the raw-pair top fraction keeps: floor(fraction × survivors), at least 1 when any.</summary>
    public static long ImageTopCount(RunConfig config, long survivors)
    {
        ArgumentNullException.ThrowIfNull(config);
        return survivors == 0 ? 0 : Math.Max(1, (long)Math.Floor(config.Curation.ImageTopFraction * survivors));
    }

    /// <summary>K for a run whose selection saw <paramref name="captions"/> captions: top_k, floor(fraction × captions) (at least 1 when any), or all.</summary>
    public static long SelectionSize(RunConfig config, long captions)
    {
        ArgumentNullException.ThrowIfNull(config);
        return config.SizeCase switch
        {
            RunConfig.SizeOneofCase.TopK => Math.Min(config.TopK, captions),
            RunConfig.SizeOneofCase.TopFraction => captions == 0 ? 0 : Math.Max(1, (long)Math.Floor(config.TopFraction * captions)),
            _ => captions,
        };
    }

    /// <summary>How the size was chosen, for the report.</summary>
    public static string DescribeSelection(RunConfig config, long k, long captions)
    {
        ArgumentNullException.ThrowIfNull(config);
        var by = config.ClipOnly ? "CLIPScore" : string.Create(CultureInfo.InvariantCulture, $"CLIPScore + {config.Lambda:0.###}·SSIMScore");
        var rule = config.SizeCase switch
        {
            RunConfig.SizeOneofCase.TopK => string.Create(CultureInfo.InvariantCulture, $"top {k} of {captions} captions (top_k {config.TopK})"),
            RunConfig.SizeOneofCase.TopFraction => string.Create(CultureInfo.InvariantCulture, $"top {k} of {captions} captions (top_fraction {config.TopFraction:0.####})"),
            _ => string.Create(CultureInfo.InvariantCulture, $"all {captions} captions"),
        };
        return $"{rule}, best of {config.Variants} variant(s) per caption by {by}; ties broken by caption id";
    }

    private static readonly string[] SourceKinds = ["auto", "folder", "imagefolder", "webdataset", "pool"];

    /// <summary>A run that starts from images: captions must be empty; the images path is made absolute and must exist.</summary>
    private static void NormalizeRecaption(RunConfig c, RunRecaption recaption)
    {
        if (string.IsNullOrWhiteSpace(recaption.Images))
        {
            throw new RunConfigException("recaption.images", "is required to start from images (a folder, an imagefolder, WebDataset .tar shards or a pool with image paths).");
        }
        if (c.Captions.Length > 0)
        {
            throw new RunConfigException("captions", "give captions or recaption (start from images), not both.");
        }
        if (recaption.Images.Any(char.IsControl))
        {
            throw new RunConfigException("recaption.images", "contains control characters.");
        }
        recaption.Images = Path.GetFullPath(recaption.Images);
        var pattern = recaption.Images.AsSpan().IndexOfAny("*?{") >= 0;
        if (!pattern && !File.Exists(recaption.Images) && !Directory.Exists(recaption.Images))
        {
            throw new RunConfigException("recaption.images", $"'{recaption.Images}' does not exist (the path is read by the recaption service).");
        }
        recaption.SourceKind = recaption.SourceKind.Length == 0 ? "auto" : recaption.SourceKind.ToLowerInvariant();
        if (!SourceKinds.Contains(recaption.SourceKind))
        {
            throw new RunConfigException("recaption.source_kind", $"'{recaption.SourceKind}' is not one of {string.Join(", ", SourceKinds)}.");
        }
        if (recaption.Captioner is { } captioner)
        {
            if (captioner.ModelDir.Length > 0 && captioner.Endpoint.Length > 0)
            {
                throw new RunConfigException("recaption.captioner", "give model_dir or endpoint, not both.");
            }
            if (captioner.Endpoint.Length > 0 && (!Uri.TryCreate(captioner.Endpoint, UriKind.Absolute, out var endpoint) || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps)))
            {
                throw new RunConfigException("recaption.captioner.endpoint", $"'{captioner.Endpoint}' is not an http:// or https:// URL.");
            }
            if (captioner.Endpoint.Length > 0 && captioner.EndpointModel.Length == 0)
            {
                throw new RunConfigException("recaption.captioner.endpoint_model", "is required with an endpoint.");
            }
            if (captioner.ModelDir.Length > 0)
            {
                captioner.ModelDir = Path.GetFullPath(captioner.ModelDir);
            }
        }
    }

    private static string Printable(string s) => new(s.Select(ch => char.IsControl(ch) ? '?' : ch).Take(80).ToArray());
}
