using System.Text.Json;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Vlm.Images;

/// <summary>
/// LLaVA-1.5's image preprocessing: <see cref="ImageAspectMode.Crop"/> is CLIP's recipe
/// (<see cref="ClipImageProcessor"/>: shortest-edge resize with Pillow's bicubic, centre crop,
/// rescale, normalise); <see cref="ImageAspectMode.Pad"/> first expands the image to a square
/// filled with the mean colour (LLaVA's <c>expand2square</c>, background
/// <c>tuple(int(x * 255) for x in image_mean)</c>), then applies the same recipe. Output layout is
/// [3, height, width], channels first. Thread-safe.
/// </summary>
public sealed class LlavaImageProcessor
{
    /// <summary>The Hugging Face image processor file name.</summary>
    public const string PreprocessorConfigFileName = "preprocessor_config.json";

    /// <summary>The model config file name (LLaVA's original layout keeps <c>image_aspect_ratio</c> there).</summary>
    public const string ModelConfigFileName = "config.json";

    private static readonly double[] OpenAiClipMean = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>Creates a processor from CLIP settings, the processor's mean (for the pad colour) and the default mode.</summary>
    /// <param name="clip">Resize, crop and normalisation settings.</param>
    /// <param name="imageMean">The processor's <c>image_mean</c> (3 values in [0, 1]); the pad colour is <c>int(x * 255)</c> of each.</param>
    /// <param name="defaultMode">The mode the overloads without one use.</param>
    /// <param name="decodeOptions">How image files are decoded; null for LLaVA's behaviour (<c>Image.open(f).convert('RGB')</c>: EXIF orientation not applied).</param>
    public LlavaImageProcessor(ClipImageProcessor clip, IReadOnlyList<double> imageMean, ImageAspectMode defaultMode, DecodeOptions? decodeOptions = null)
    {
        ArgumentNullException.ThrowIfNull(clip);
        ArgumentNullException.ThrowIfNull(imageMean);
        if (imageMean.Count != 3)
        {
            throw new ArgumentException($"image_mean needs 3 values (RGB); got {imageMean.Count}.", nameof(imageMean));
        }
        if (imageMean.Any(m => !(m >= 0 && m <= 1)))
        {
            throw new ArgumentException($"image_mean values must lie in [0, 1] to give a pad colour; got [{string.Join(", ", imageMean)}].", nameof(imageMean));
        }
        if (!Enum.IsDefined(defaultMode))
        {
            throw new ArgumentOutOfRangeException(nameof(defaultMode), defaultMode, "Unknown aspect mode.");
        }
        Clip = clip;
        DefaultMode = defaultMode;
        // Python's int() truncates toward zero, as the cast does for values in [0, 255].
        PadColor = ((byte)(int)(imageMean[0] * 255), (byte)(int)(imageMean[1] * 255), (byte)(int)(imageMean[2] * 255));
        DecodeOptions = decodeOptions ?? new DecodeOptions { ApplyExifOrientation = false };
    }

    /// <summary>The CLIP resize, crop and normalisation settings.</summary>
    public ClipImageProcessor Clip { get; }

    /// <summary>The mode used when none is given.</summary>
    public ImageAspectMode DefaultMode { get; }

    /// <summary>The background of <see cref="ImageAspectMode.Pad"/>: <c>int(x * 255)</c> of each <c>image_mean</c> value.</summary>
    public (byte R, byte G, byte B) PadColor { get; }

    /// <summary>How <see cref="Preprocess(string, ImageAspectMode)"/> decodes files.</summary>
    public DecodeOptions DecodeOptions { get; }

    /// <summary>Height of the output (the crop height).</summary>
    public int Height => Clip.CropHeight;

    /// <summary>Width of the output (the crop width).</summary>
    public int Width => Clip.CropWidth;

    /// <summary>Floats one preprocessed image occupies: 3 × <see cref="Height"/> × <see cref="Width"/>.</summary>
    public int TensorLength => Clip.TensorLength;

    /// <summary>
    /// Reads a preprocessor_config.json. Without <paramref name="mode"/> the default mode follows the
    /// file: a LlavaImageProcessor with <c>"do_pad": true</c> (llava-hf) pads, anything else
    /// (CLIPImageProcessor) crops. An explicit <paramref name="mode"/> overrides.
    /// </summary>
    /// <exception cref="ImageProcessorConfigException">The file is missing, not JSON, or has values the processor cannot honour (the message names the file and the key).</exception>
    public static LlavaImageProcessor FromPreprocessorConfig(string preprocessorConfigPath, ImageAspectMode? mode = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(preprocessorConfigPath);
        ClipImageProcessor clip;
        try
        {
            clip = ClipImageProcessor.FromFile(preprocessorConfigPath);
        }
        catch (ClipModelException e)
        {
            throw new ImageProcessorConfigException(preprocessorConfigPath, e.Problem, e);
        }
        using var document = ParseJson(preprocessorConfigPath);
        var root = document.RootElement;
        var mean = OpenAiClipMean;
        if (root.TryGetProperty("image_mean", out var m))
        {
            mean = [.. m.EnumerateArray().Select(e => e.GetDouble())]; // shape checked by ClipImageProcessor
        }
        var type = root.TryGetProperty("image_processor_type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        var doPad = root.TryGetProperty("do_pad", out var p) && p.ValueKind == JsonValueKind.True;
        var fileMode = doPad && type is not null && type.StartsWith("LlavaImageProcessor", StringComparison.Ordinal)
            ? ImageAspectMode.Pad
            : ImageAspectMode.Crop;
        try
        {
            return new LlavaImageProcessor(clip, mean, mode ?? fileMode);
        }
        catch (ArgumentException e)
        {
            throw new ImageProcessorConfigException(preprocessorConfigPath, e.Message, e);
        }
    }

    /// <summary>
    /// The processor of a model folder in either layout. LLaVA's original layout: pass the vision
    /// tower folder (e.g. openai/clip-vit-large-patch14-336) as <paramref name="visionTowerDir"/>;
    /// its preprocessor_config.json is read, and the default mode is the model's config.json
    /// <c>image_aspect_ratio</c> when that key is present. The llava-hf layout: leave
    /// <paramref name="visionTowerDir"/> null; the model folder's preprocessor_config.json decides
    /// (see <see cref="FromPreprocessorConfig"/>). An explicit <paramref name="mode"/> overrides both.
    /// </summary>
    /// <exception cref="ImageProcessorConfigException">A file is missing or holds a value that cannot be honoured.</exception>
    public static LlavaImageProcessor FromModelFolder(string modelDir, string? visionTowerDir = null, ImageAspectMode? mode = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelDir);
        var preprocessor = Path.Combine(visionTowerDir ?? modelDir, PreprocessorConfigFileName);
        if (!File.Exists(preprocessor))
        {
            throw new ImageProcessorConfigException(preprocessor, visionTowerDir is null
                ? "file not found (a llava-hf model folder has preprocessor_config.json; for LLaVA's original layout pass the vision tower folder)"
                : "file not found (the vision tower folder needs the CLIP preprocessor_config.json)");
        }
        var config = Path.Combine(modelDir, ModelConfigFileName);
        mode ??= File.Exists(config) ? ReadImageAspectRatioOrNull(config) : null;
        return FromPreprocessorConfig(preprocessor, mode);
    }

    /// <summary>
    /// LLaVA's <c>image_aspect_ratio</c> from a model config.json: "pad" is <see cref="ImageAspectMode.Pad"/>;
    /// "square", empty, null or an absent key is <see cref="ImageAspectMode.Crop"/>.
    /// </summary>
    /// <exception cref="ImageProcessorConfigException">The file is missing or not JSON, or the value is another one (e.g. LLaVA-NeXT's "anyres", not supported).</exception>
    public static ImageAspectMode ReadImageAspectRatio(string configJsonPath) =>
        ReadImageAspectRatioOrNull(configJsonPath) ?? ImageAspectMode.Crop;

    private static ImageAspectMode? ReadImageAspectRatioOrNull(string configJsonPath)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(configJsonPath);
        using var document = ParseJson(configJsonPath);
        if (!document.RootElement.TryGetProperty("image_aspect_ratio", out var value))
        {
            return null;
        }
        return value.ValueKind switch
        {
            JsonValueKind.Null => ImageAspectMode.Crop,
            JsonValueKind.String => value.GetString() switch
            {
                "pad" => ImageAspectMode.Pad,
                "square" or "" => ImageAspectMode.Crop,
                var other => throw new ImageProcessorConfigException(configJsonPath,
                    $"\"image_aspect_ratio\": expected \"pad\" or \"square\", found \"{other}\" (only LLaVA-1.5's modes are supported)"),
            },
            _ => throw new ImageProcessorConfigException(configJsonPath,
                $"\"image_aspect_ratio\": expected a string (\"pad\" or \"square\"), found {value.ValueKind}"),
        };
    }

    /// <summary>Preprocesses <paramref name="image"/> with <see cref="DefaultMode"/>; layout [3, Height, Width].</summary>
    public float[] Preprocess(RgbImage image) => Preprocess(image, DefaultMode);

    /// <summary>Preprocesses <paramref name="image"/>; layout [3, Height, Width].</summary>
    public float[] Preprocess(RgbImage image, ImageAspectMode mode)
    {
        var result = new float[TensorLength];
        Preprocess(image, mode, result);
        return result;
    }

    /// <summary>Preprocesses <paramref name="image"/> into <paramref name="destination"/> (at least <see cref="TensorLength"/> floats).</summary>
    public void Preprocess(RgbImage image, ImageAspectMode mode, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        switch (mode)
        {
            case ImageAspectMode.Crop:
                Clip.Preprocess(image, destination);
                break;
            case ImageAspectMode.Pad when image.Width == image.Height:
                Clip.Preprocess(image, destination);
                break;
            case ImageAspectMode.Pad:
                using (var square = ExpandToSquare(image, PadColor))
                {
                    Clip.Preprocess(square, destination);
                }
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown aspect mode.");
        }
    }

    /// <summary>Decodes the file (PNG, JPEG or WebP) and preprocesses it with <see cref="DefaultMode"/>.</summary>
    /// <inheritdoc cref="Preprocess(string, ImageAspectMode)" path="/exception"/>
    public float[] Preprocess(string imagePath) => Preprocess(imagePath, DefaultMode);

    /// <summary>Decodes the file (PNG, JPEG or WebP) and preprocesses it; layout [3, Height, Width].</summary>
    /// <exception cref="ImagingException">The file is not a supported image, is corrupt or truncated, or too large; the message is "path: the decoder's reason".</exception>
    /// <exception cref="FileNotFoundException">The file does not exist (the message names it).</exception>
    /// <exception cref="DirectoryNotFoundException">Its folder does not exist (the message names it).</exception>
    public float[] Preprocess(string imagePath, ImageAspectMode mode)
    {
        ArgumentException.ThrowIfNullOrEmpty(imagePath);
        using var image = ImageCodec.DecodeFile(imagePath, DecodeOptions);
        return Preprocess(image, mode);
    }

    /// <summary>
    /// LLaVA's <c>expand2square</c>: a new square image of side max(width, height) filled with
    /// <paramref name="background"/>, the image pasted at (0, (w − h) / 2) when wider and at
    /// ((h − w) / 2, 0) when taller (integer division); a square image is copied. The caller disposes the result.
    /// </summary>
    public static RgbImage ExpandToSquare(RgbImage image, (byte R, byte G, byte B) background)
    {
        ArgumentNullException.ThrowIfNull(image);
        int w = image.Width, h = image.Height, side = Math.Max(w, h);
        var square = RgbImage.Allocate(side, side);
        try
        {
            if (w != h)
            {
                var first = square.Row(0);
                for (var x = 0; x < first.Length; x += RgbImage.Channels)
                {
                    (first[x], first[x + 1], first[x + 2]) = background;
                }
                for (var y = 1; y < side; y++)
                {
                    first.CopyTo(square.Row(y));
                }
            }
            int left = w > h ? 0 : (h - w) / 2, top = w > h ? (w - h) / 2 : 0;
            for (var y = 0; y < h; y++)
            {
                image.Row(y).CopyTo(square.Row(top + y)[(left * RgbImage.Channels)..]);
            }
            return square;
        }
        catch
        {
            square.Dispose();
            throw;
        }
    }

    private static JsonDocument ParseJson(string path)
    {
        if (!File.Exists(path))
        {
            throw new ImageProcessorConfigException(path, "file not found");
        }
        try
        {
            var document = JsonDocument.Parse(File.ReadAllBytes(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw new ImageProcessorConfigException(path, $"expected a JSON object, found {document.RootElement.ValueKind}");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw new ImageProcessorConfigException(path, $"not valid JSON: {e.Message}", e);
        }
    }
}
