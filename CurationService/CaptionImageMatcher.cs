using SynthVlm.Blip;
using SynthVlm.Protos.V1;

namespace SynthVlm.CurationService;

/// <summary>
/// BLIP image–text matching of a pool caption and its original image (Data-Juicer's
/// image_text_matching_filter), with the service's model folder (SynthVlm:Curation:BlipModel). The model
/// is loaded on first use, so a service whose runs never ask for it never pays for it.
/// </summary>
public sealed class CaptionImageMatcher : IDisposable
{
    /// <summary>Largest original image accepted, in bytes (as for the raw-pair CLIP score).</summary>
    public const long MaxImageBytes = RawPairScorer.MaxImageBytes;

    private readonly Lazy<BlipItmModel>? _model;

    /// <summary>A matcher over the model in <paramref name="modelFolder"/>, or one that is not configured when it is null or empty.</summary>
    public CaptionImageMatcher(string? modelFolder)
    {
        if (modelFolder is { Length: > 0 })
        {
            ModelFolder = Path.GetFullPath(modelFolder);
            _model = new Lazy<BlipItmModel>(() => BlipItmModel.Load(ModelFolder), LazyThreadSafetyMode.ExecutionAndPublication);
        }
    }

    /// <summary>The model folder, or null when none is configured.</summary>
    public string? ModelFolder { get; }

    /// <summary>Whether a model folder is configured.</summary>
    public bool IsConfigured => _model is not null;

    /// <summary>Scores <paramref name="caption"/> against the image at <paramref name="imagePath"/> under the run's settings.</summary>
    /// <exception cref="InvalidOperationException">No model is configured.</exception>
    /// <exception cref="BlipModelException">The model folder is unusable (the message names the file).</exception>
    /// <exception cref="InvalidDataException">The image is missing, too large or does not decode (the message says which).</exception>
    public ImageTextMatchingResult Evaluate(string imagePath, string caption, BlipMatchingSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(imagePath);
        ArgumentNullException.ThrowIfNull(caption);
        ArgumentNullException.ThrowIfNull(settings);
        if (_model is null)
        {
            throw new InvalidOperationException("this curation service has no BLIP image–text matching model (set SynthVlm:Curation:BlipModel).");
        }
        var file = new FileInfo(imagePath);
        if (!file.Exists)
        {
            throw new InvalidDataException($"image '{imagePath}' does not exist.");
        }
        if (file.Length > MaxImageBytes)
        {
            throw new InvalidDataException($"image '{imagePath}' is {file.Length} bytes; at most {MaxImageBytes}.");
        }
        var filter = new ImageTextMatchingFilter(_model.Value, new ImageTextMatchingSettings
        {
            MinScore = settings.MinScore,
            MaxScore = settings.MaxScore,
            HorizontalFlip = settings.HorizontalFlip,
            VerticalFlip = settings.VerticalFlip,
        });
        try
        {
            return filter.EvaluateFiles(caption, [imagePath], cancellationToken);
        }
        catch (BlipImageException e)
        {
            throw new InvalidDataException(e.Message, e);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_model is { IsValueCreated: true })
        {
            _model.Value.Dispose();
        }
    }
}
