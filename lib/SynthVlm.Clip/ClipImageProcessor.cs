using System.Runtime.CompilerServices;
using System.Text.Json;
using SynthVlm.Imaging;

namespace SynthVlm.Clip;

/// <summary>
/// CLIP's image preprocessing as a model folder's preprocessor_config.json describes it
/// (Hugging Face CLIPImageProcessor, PIL semantics): resize the shortest edge to
/// <see cref="ResizeShortestEdge"/> (long edge truncated, Pillow's bicubic with antialiasing),
/// centre crop to <see cref="CropHeight"/> × <see cref="CropWidth"/>, rescale, normalise by
/// mean/std, channels first. Thread-safe; allocation-free apart from the resized intermediate,
/// which is pooled.
/// </summary>
public sealed class ClipImageProcessor
{
    private readonly PixelNormalization _normalization;

    /// <summary>Creates a processor with explicit settings.</summary>
    public ClipImageProcessor(
        int resizeShortestEdge,
        int cropHeight,
        int cropWidth,
        ResampleFilter filter,
        double rescaleFactor,
        IReadOnlyList<double> mean,
        IReadOnlyList<double> std,
        bool doResize = true,
        bool doCenterCrop = true,
        bool doRescale = true,
        bool doNormalize = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(resizeShortestEdge, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cropHeight, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(cropWidth, 1);
        ResizeShortestEdge = resizeShortestEdge;
        CropHeight = cropHeight;
        CropWidth = cropWidth;
        Filter = filter;
        DoResize = doResize;
        DoCenterCrop = doCenterCrop;
        // One table lookup per channel, with transformers' arithmetic (float64 rescale, then float32).
        _normalization = new PixelNormalization(rescaleFactor, mean, std, doRescale, doNormalize);
    }

    /// <summary>Target length of the shortest edge after resizing.</summary>
    public int ResizeShortestEdge { get; }

    /// <summary>Height of the centre crop (the model input height).</summary>
    public int CropHeight { get; }

    /// <summary>Width of the centre crop (the model input width).</summary>
    public int CropWidth { get; }

    /// <summary>The resampling filter (PIL resample number from the config).</summary>
    public ResampleFilter Filter { get; }

    /// <summary>Whether the shortest-edge resize is applied.</summary>
    public bool DoResize { get; }

    /// <summary>Whether the centre crop is applied (when not, the resized image must already be the crop size).</summary>
    public bool DoCenterCrop { get; }

    /// <summary>Floats one preprocessed image occupies: 3 × <see cref="CropHeight"/> × <see cref="CropWidth"/>.</summary>
    public int TensorLength => 3 * CropHeight * CropWidth;

    /// <summary>The settings of openai/clip-vit-base-patch32 (224) or any CLIP with that recipe at another size.</summary>
    public static ClipImageProcessor OpenAiClip(int size = 224) =>
        new(size, size, size, ResampleFilter.Bicubic, 1 / 255.0,
            [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]);

    /// <summary>Reads preprocessor_config.json (CLIPImageProcessor / CLIPFeatureExtractor keys).</summary>
    /// <exception cref="ClipModelException">The file is missing, not JSON, or has values this processor cannot honour.</exception>
    public static ClipImageProcessor FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new ClipModelException(path, "file not found (a CLIP model folder needs preprocessor_config.json)");
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            return FromJson(document.RootElement, path);
        }
        catch (JsonException e)
        {
            throw new ClipModelException(path, $"not valid JSON: {e.Message}", e);
        }
    }

    internal static ClipImageProcessor FromJson(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new ClipModelException(path, "expected a JSON object");
        }
        var doResize = Bool(root, "do_resize", true);
        var doCrop = Bool(root, "do_center_crop", true);
        var shortest = root.TryGetProperty("size", out var size) ? size.ValueKind switch
        {
            JsonValueKind.Number => size.GetInt32(),
            JsonValueKind.Object when size.TryGetProperty("shortest_edge", out var s) => s.GetInt32(),
            JsonValueKind.Object => throw new ClipModelException(path, "\"size\" must give \"shortest_edge\" (CLIP resizes the shortest edge; fixed height/width resizing is not CLIP's recipe)"),
            _ => throw new ClipModelException(path, "\"size\" must be a number or {\"shortest_edge\": n}"),
        } : 224;
        int cropH = shortest, cropW = shortest;
        if (root.TryGetProperty("crop_size", out var crop))
        {
            (cropH, cropW) = crop.ValueKind switch
            {
                JsonValueKind.Number => (crop.GetInt32(), crop.GetInt32()),
                JsonValueKind.Object when crop.TryGetProperty("height", out var h) && crop.TryGetProperty("width", out var w) => (h.GetInt32(), w.GetInt32()),
                _ => throw new ClipModelException(path, "\"crop_size\" must be a number or {\"height\": h, \"width\": w}"),
            };
        }
        var resample = root.TryGetProperty("resample", out var r) ? r.GetInt32() : 3;
        var filter = resample switch
        {
            0 => ResampleFilter.Nearest,
            1 => ResampleFilter.Lanczos3,
            2 => ResampleFilter.Bilinear,
            3 => ResampleFilter.Bicubic,
            4 => ResampleFilter.Box,
            _ => throw new ClipModelException(path, $"\"resample\": {resample} is not supported (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box)"),
        };
        var mean = Doubles(root, "image_mean", path) ?? [0.48145466, 0.4578275, 0.40821073];
        var std = Doubles(root, "image_std", path) ?? [0.26862954, 0.26130258, 0.27577711];
        var rescale = root.TryGetProperty("rescale_factor", out var rf) ? rf.GetDouble() : 1 / 255.0;
        if (shortest < 1 || cropH < 1 || cropW < 1)
        {
            throw new ClipModelException(path, $"sizes must be positive (size {shortest}, crop {cropH}x{cropW})");
        }
        try
        {
            return new ClipImageProcessor(shortest, cropH, cropW, filter, rescale, mean, std,
                doResize, doCrop, Bool(root, "do_rescale", true), Bool(root, "do_normalize", true));
        }
        catch (ArgumentException e)
        {
            throw new ClipModelException(path, e.Message, e);
        }
    }

    /// <summary>
    /// The size the shortest-edge resize produces for a <paramref name="width"/> × <paramref name="height"/>
    /// image: the short side becomes <see cref="ResizeShortestEdge"/>, the long side is scaled and truncated.
    /// </summary>
    public (int Width, int Height) ResizedSize(int width, int height)
    {
        if (!DoResize)
        {
            return (width, height);
        }
        var s = ResizeShortestEdge;
        return width <= height
            ? (s, (int)((long)s * height / width))
            : ((int)((long)s * width / height), s);
    }

    /// <summary>
    /// Preprocesses <paramref name="image"/> into <paramref name="destination"/> (length
    /// <see cref="TensorLength"/>, layout [3, CropHeight, CropWidth]).
    /// </summary>
    public void Preprocess(RgbImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (destination.Length < TensorLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; one image needs {TensorLength}.", nameof(destination));
        }
        var (w, h) = ResizedSize(image.Width, image.Height);
        if (w == image.Width && h == image.Height)
        {
            Crop(image, destination);
            return;
        }
        using var resized = Resampler.Resize(image, w, h, Filter);
        Crop(resized, destination);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void Crop(RgbImage image, Span<float> destination)
    {
        int ch = CropHeight, cw = CropWidth;
        if (!DoCenterCrop && (image.Width != cw || image.Height != ch))
        {
            throw new ImageSizeException(null, $"without a centre crop the resized image must be {cw}x{ch}; it is {image.Width}x{image.Height}");
        }
        // transformers pads the uint8 image with zeros (before rescaling) when it is smaller than the crop.
        // Its offsets are Python's floor division, (h - crop) // 2, which the arithmetic shift gives
        // for negative differences too (C#'s / would round -3 / 2 to -1 where Python gives -2).
        var top = (image.Height - ch) >> 1;
        var left = (image.Width - cw) >> 1;
        var plane = ch * cw;
        var lr = _normalization.Channel(0);
        var lg = _normalization.Channel(1);
        var lb = _normalization.Channel(2);
        var red = destination[..plane];
        var green = destination.Slice(plane, plane);
        var blue = destination.Slice(2 * plane, plane);
        for (var y = 0; y < ch; y++)
        {
            var sy = top + y;
            var o = y * cw;
            if (sy < 0 || sy >= image.Height)
            {
                red.Slice(o, cw).Fill(lr[0]);
                green.Slice(o, cw).Fill(lg[0]);
                blue.Slice(o, cw).Fill(lb[0]);
                continue;
            }
            ReadOnlySpan<byte> row = image.Row(sy);
            for (var x = 0; x < cw; x++)
            {
                var sx = left + x;
                if (sx < 0 || sx >= image.Width)
                {
                    (red[o + x], green[o + x], blue[o + x]) = (lr[0], lg[0], lb[0]);
                    continue;
                }
                var p = sx * 3;
                red[o + x] = lr[row[p]];
                green[o + x] = lg[row[p + 1]];
                blue[o + x] = lb[row[p + 2]];
            }
        }
    }

    private static bool Bool(JsonElement root, string name, bool fallback) =>
        root.TryGetProperty(name, out var v) && v.ValueKind is JsonValueKind.True or JsonValueKind.False ? v.GetBoolean() : fallback;

    private static double[]? Doubles(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v))
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3)
        {
            throw new ClipModelException(path, $"\"{name}\" must be an array of 3 numbers");
        }
        return [.. v.EnumerateArray().Select(e => e.GetDouble())];
    }
}
