using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.CurationService;

/// <summary>
/// The raw-pair similarity of a pool caption and its original image, as Data-Juicer's
/// image_text_similarity_filter computes it: the cosine of CLIP's normalised image and text
/// embeddings (no prompt prefix, no flips). The model is loaded on first use, so a pool without
/// images never pays for it.
/// </summary>
public sealed class RawPairScorer(Func<ClipModel> load) : IDisposable
{
    /// <summary>Largest original image accepted, in bytes.</summary>
    public const long MaxImageBytes = 64L << 20;

    private readonly Lazy<ClipModel> _model = new(load, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>The cosine of <paramref name="caption"/> and the image at <paramref name="imagePath"/>.</summary>
    /// <exception cref="InvalidDataException">The image is missing, too large or does not decode (the message says which).</exception>
    public double Cosine(string imagePath, string caption)
    {
        ArgumentNullException.ThrowIfNull(imagePath);
        ArgumentNullException.ThrowIfNull(caption);
        var file = new FileInfo(imagePath);
        if (!file.Exists)
        {
            throw new InvalidDataException($"image '{imagePath}' does not exist.");
        }
        if (file.Length > MaxImageBytes)
        {
            throw new InvalidDataException($"image '{imagePath}' is {file.Length} bytes; at most {MaxImageBytes}.");
        }
        var model = _model.Value;
        var pixels = new float[model.ImageProcessor.TensorLength];
        try
        {
            using var image = ImageCodec.Decode(File.ReadAllBytes(imagePath));
            model.ImageProcessor.Preprocess(image, pixels);
        }
        catch (ImagingException e)
        {
            throw new InvalidDataException($"image '{imagePath}' does not decode: {e.Message}", e);
        }
        return model.Encode([caption], pixels, 1).Cosine(0, 0);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_model.IsValueCreated)
        {
            _model.Value.Dispose();
        }
    }
}
