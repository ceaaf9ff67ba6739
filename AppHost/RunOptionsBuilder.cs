using System.Globalization;
using SynthVlm.Protos.V1;

namespace SynthVlm.AppHost;

/// <summary>
/// The run verb's options, turned into a <see cref="RunConfig"/>. Ranges are checked here, with
/// the option's name, so a typo costs one line and no cluster start; the curation service checks
/// them again (and whatever it alone can know) when the run is submitted.
/// </summary>
internal sealed class RunOptionsBuilder
{
    private const int MaxVariants = 64;
    private const int MaxSteps = 1000;
    private const int MaxSide = 4096;
    private const double MaxGuidance = 100;
    private const double MaxLambda = 10;
    private const int MaxTrainingBatch = 65536;
    private const int DefaultMicroBatch = 8;
    private static readonly string[] ImageFormats = ["png", "jpeg", "webp"];

    private readonly RunConfig _config = new()
    {
        Curation = new CurationSettings(),
        Generation = new GenerationSpec(),
        Dataset = new DatasetSettings(),
    };

    private string? _sizeOption;

    /// <summary>The options this class parses, to tell a user who forgot the verb what they meant.</summary>
    public static IReadOnlySet<string> Options { get; } = new HashSet<string>(StringComparer.Ordinal)
    {
        "--captions", "--out", "--run-id", "--variants", "--top-k", "--top-fraction", "--lambda", "--clip-only",
        "--seed", "--steps", "--guidance", "--size", "--image-format", "--keep-duplicates", "--skip-filters", "--itm-min",
        "--train", "--train-model", "--train-batch", "--train-steps", "--eval", "--eval-only",
        "--images", "--recaption-prompt", "--recaption-endpoint", "--recaption-model",
    };

    /// <summary>Consumes the run option at <paramref name="i"/> (and its value); false when it is not one.</summary>
    /// <exception cref="FormatException">The value is missing or out of range; the message names the option.</exception>
    public bool TryParse(string[] args, ref int i)
    {
        var option = args[i];
        switch (option)
        {
            case "--captions":
                _config.Captions = ExistingFile(option, AppHostSettings.Value(args, ref i));
                break;
            case "--out":
                _config.Output = FullPath(option, AppHostSettings.Value(args, ref i));
                break;
            case "--images":
                Recaption().Images = ExistingFile(option, AppHostSettings.Value(args, ref i));
                break;
            case "--recaption-prompt":
                // A preset name (brief, detailed, knowledge-rich) or a text of one's own.
                var prompt = AppHostSettings.Value(args, ref i);
                if (prompt.Trim().ToLowerInvariant().Replace('_', '-') is "brief" or "detailed" or "knowledge-rich" or "knowledge")
                {
                    Captioner().Prompt = prompt;
                }
                else
                {
                    Captioner().PromptText = prompt;
                }
                break;
            case "--recaption-endpoint":
                var endpoint = AppHostSettings.Value(args, ref i);
                Captioner().Endpoint = Uri.TryCreate(endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
                    ? endpoint
                    : throw Bad(option, endpoint, "must be an http:// or https:// URL");
                break;
            case "--recaption-model":
                Captioner().EndpointModel = AppHostSettings.Value(args, ref i);
                break;
            case "--run-id":
                _config.Id = RunId(option, AppHostSettings.Value(args, ref i));
                break;
            case "--variants":
                _config.Variants = (int)Integer(option, AppHostSettings.Value(args, ref i), 1, MaxVariants);
                break;
            case "--top-k":
                Size(option);
                _config.TopK = Integer(option, AppHostSettings.Value(args, ref i), 1, long.MaxValue);
                break;
            case "--top-fraction":
                Size(option);
                var fraction = Real(option, AppHostSettings.Value(args, ref i));
                _config.TopFraction = fraction is > 0 and <= 1 ? fraction : throw Bad(option, fraction, "must be greater than 0 and at most 1");
                break;
            case "--lambda":
                var lambda = Real(option, AppHostSettings.Value(args, ref i));
                _config.Lambda = lambda is >= 0 and <= MaxLambda ? lambda : throw Bad(option, lambda, $"must be between 0 and {MaxLambda}");
                break;
            case "--clip-only":
                _config.ClipOnly = true;
                break;
            case "--seed":
                var seed = AppHostSettings.Value(args, ref i);
                _config.Seed = ulong.TryParse(seed, NumberStyles.None, CultureInfo.InvariantCulture, out var s)
                    ? s
                    : throw Bad(option, seed, $"must be a whole number from 0 to {ulong.MaxValue}");
                break;
            case "--steps":
                _config.Generation.Steps = (int)Integer(option, AppHostSettings.Value(args, ref i), 1, MaxSteps);
                break;
            case "--guidance":
                var guidance = Real(option, AppHostSettings.Value(args, ref i));
                _config.Generation.Guidance = guidance is >= 0 and <= MaxGuidance ? guidance : throw Bad(option, guidance, $"must be between 0 and {MaxGuidance}");
                break;
            case "--size":
                (_config.Generation.Width, _config.Generation.Height) = ImageSize(option, AppHostSettings.Value(args, ref i));
                break;
            case "--image-format":
                var format = AppHostSettings.Value(args, ref i).ToLowerInvariant() switch { "jpg" => "jpeg", var f => f };
                _config.Dataset.ImageFormat = ImageFormats.Contains(format)
                    ? format
                    : throw Bad(option, format, $"must be one of {string.Join(", ", ImageFormats)}");
                break;
            case "--keep-duplicates":
                _config.Curation.KeepDuplicates = true;
                break;
            case "--itm-min":
                var itm = Real(option, AppHostSettings.Value(args, ref i));
                _config.Curation.ImageTextMatching = itm is >= 0 and <= 1
                    ? new BlipMatchingSettings { MinScore = itm }
                    : throw Bad(option, itm, "must be a probability between 0 and 1");
                break;
            case "--skip-filters":
                _config.Curation.SkipRuleFilters = true;
                break;
            case "--train":
                Training();
                break;
            case "--train-model":
                Training().ModelDir = ExistingFile(option, AppHostSettings.Value(args, ref i));
                break;
            case "--train-batch":
                // The micro-batch must divide the global batch: the largest divisor up to the trainer's default.
                var batch = (int)Integer(option, AppHostSettings.Value(args, ref i), 1, MaxTrainingBatch);
                Training().Hyperparameters.GlobalBatchSize = batch;
                Training().Hyperparameters.MicroBatchSize = Enumerable.Range(1, Math.Min(batch, DefaultMicroBatch)).Last(m => batch % m == 0);
                break;
            case "--train-steps":
                Training().Hyperparameters.MaxSteps = (int)Integer(option, AppHostSettings.Value(args, ref i), 1, int.MaxValue);
                break;
            case "--eval":
                Evaluation().BenchDir = ExistingFile(option, AppHostSettings.Value(args, ref i));
                break;
            case "--eval-only":
                var names = AppHostSettings.Value(args, ref i).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                var unknown = names.Where(n => !global::SynthVlm.Evaluation.BenchmarkRegistry.All.Any(b => string.Equals(b.Name, n, StringComparison.OrdinalIgnoreCase))).ToList();
                Evaluation().Only.Add(unknown.Count == 0 && names.Length > 0
                    ? names
                    : throw Bad(option, string.Join(",", unknown), $"names no benchmark; known: {string.Join(", ", global::SynthVlm.Evaluation.BenchmarkRegistry.All.Select(b => b.Name))}"));
                break;
            default:
                return false;
        }
        return true;
    }

    /// <summary>The config to submit.</summary>
    /// <exception cref="FormatException">--captions is missing.</exception>
    public RunConfig Build() =>
        (_config.Captions.Length > 0) == (_config.Recaption is { Images.Length: > 0 })
            ? throw new FormatException("run: give --captions FILE or --images DIR (recaptioned first), not both and not neither.")
            : _config.Recaption is { Captioner: { Endpoint.Length: > 0, EndpointModel.Length: 0 } }
                ? throw new FormatException("run: --recaption-model NAME is required with --recaption-endpoint.")
                : _config.Clone();

    /// <summary>The run's recaptioning (it starts from images).</summary>
    private RunRecaption Recaption() => _config.Recaption ??= new RunRecaption();

    /// <summary>The run's captioner overrides.</summary>
    private CaptionerSettings Captioner() => Recaption().Captioner ??= new CaptionerSettings();

    /// <summary>The run's evaluation settings, opted in (it evaluates the trained model, so training is opted in too).</summary>
    private RunEvaluation Evaluation()
    {
        Training();
        _config.Eval ??= new RunEvaluation();
        _config.Eval.Enabled = true;
        return _config.Eval;
    }

    /// <summary>The run's training settings, opted in (every --train-* option implies --train).</summary>
    private RunTraining Training()
    {
        _config.Train ??= new RunTraining { Hyperparameters = new TrainingHyperparameters() };
        _config.Train.Enabled = true;
        return _config.Train;
    }

    private void Size(string option)
    {
        if (_sizeOption is not null && _sizeOption != option)
        {
            throw new FormatException($"{option}: {_sizeOption} was given too; choose one way to size the dataset.");
        }
        _sizeOption = option;
    }

    private static string ExistingFile(string option, string value)
    {
        var path = FullPath(option, value);
        return File.Exists(path) || Directory.Exists(path)
            ? path
            : throw new FormatException($"{option}: '{path}' does not exist.");
    }

    private static string FullPath(string option, string value)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Any(char.IsControl))
        {
            throw new FormatException($"{option}: '{Printable(value)}' is not a usable path (empty or with control characters).");
        }
        try
        {
            return Path.GetFullPath(value);
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new FormatException($"{option}: '{Printable(value)}' is not a usable path: {e.Message}");
        }
    }

    private static string RunId(string option, string value) =>
        value is { Length: > 0 and <= 64 } && value[0] != '.' && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')
            ? value
            : throw Bad(option, Printable(value), "must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '.'");

    private static long Integer(string option, string value, long min, long max) =>
        long.TryParse(value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw Bad(option, value, max == long.MaxValue ? $"must be a whole number of at least {min}" : $"must be a whole number from {min} to {max}");

    private static double Real(string option, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var x) && double.IsFinite(x)
            ? x
            : throw Bad(option, value, "must be a number such as 0.5");

    private static (int Width, int Height) ImageSize(string option, string value)
    {
        var x = value.IndexOfAny(['x', 'X']);
        if (x > 0
            && int.TryParse(value.AsSpan(0, x), NumberStyles.None, CultureInfo.InvariantCulture, out var w)
            && int.TryParse(value.AsSpan(x + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var h)
            && IsSide(w) && IsSide(h))
        {
            return (w, h);
        }
        throw Bad(option, value, $"must be WIDTHxHEIGHT, each a multiple of 8 from 8 to {MaxSide} (e.g. 1024x1024)");

        static bool IsSide(int side) => side is >= 8 and <= MaxSide && side % 8 == 0;
    }

    private static FormatException Bad(string option, object value, string rule) =>
        new(string.Create(CultureInfo.InvariantCulture, $"{option}: '{value}' {rule}."));

    private static string Printable(string s) => new([.. s.Select(c => char.IsControl(c) ? '?' : c).Take(80)]);
}
