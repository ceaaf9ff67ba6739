using System.Globalization;
using System.Text.Json;
using SynthVlm.Imaging;

namespace SynthVlm.Blip;

/// <summary>
/// The settings a BLIP image–text matching folder carries in <see cref="BlipItmModel.ConfigFileName"/>
/// (blip_itm.json), gathered from Hugging Face's preprocessor_config.json, tokenizer_config.json and
/// config.json by eng/export_blip_itm.py:
/// <code>
/// {
///   "image_size": 384,                               // BlipImageProcessor size (square), = vision_config.image_size
///   "image_mean": [0.48145466, 0.4578275, 0.40821073],
///   "image_std":  [0.26862954, 0.26130258, 0.27577711],
///   "rescale_factor": 0.00392156862745098,           // optional, default 1/255
///   "resample": 3,                                   // optional PIL filter number, default 3 (bicubic)
///   "max_text_length": 512,                          // text_config.max_position_embeddings: Data-Juicer truncates to it
///   "do_lower_case": true                            // optional, default true (BERT uncased)
/// }
/// </code>
/// Other keys (model_type, source, ...) are ignored.
/// </summary>
/// <param name="ImageSize">Height and width the image is resized to (BLIP resizes to a square, no crop).</param>
/// <param name="ImageMean">Per-channel mean (RGB) subtracted after rescaling.</param>
/// <param name="ImageStd">Per-channel standard deviation (RGB) divided by.</param>
/// <param name="RescaleFactor">Factor applied to the 0–255 byte values.</param>
/// <param name="Resample">The resize filter.</param>
/// <param name="MaxTextLength">Most tokens per caption including [CLS] and [SEP]; longer captions are truncated.</param>
/// <param name="DoLowerCase">Whether the tokenizer lower-cases and strips accents (BERT uncased).</param>
public sealed record BlipItmConfig(
    int ImageSize,
    IReadOnlyList<double> ImageMean,
    IReadOnlyList<double> ImageStd,
    double RescaleFactor,
    ResampleFilter Resample,
    int MaxTextLength,
    bool DoLowerCase)
{
    /// <summary>OpenAI CLIP's normalisation mean, which BLIP's processors use.</summary>
    public static IReadOnlyList<double> OpenAiClipMean { get; } = [0.48145466, 0.4578275, 0.40821073];

    /// <summary>OpenAI CLIP's normalisation standard deviation, which BLIP's processors use.</summary>
    public static IReadOnlyList<double> OpenAiClipStd { get; } = [0.26862954, 0.26130258, 0.27577711];

    /// <summary>Reads and checks a blip_itm.json file.</summary>
    /// <exception cref="BlipModelException">The file is missing, not JSON, or a value is missing or out of range (the message names the key).</exception>
    public static BlipItmConfig FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new BlipModelException(path, "file not found (a BLIP ITM folder holds blip_itm.json; eng/export_blip_itm.py writes it)");
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            return FromJson(document.RootElement, path);
        }
        catch (JsonException e)
        {
            throw new BlipModelException(path, $"not valid JSON: {e.Message}", e);
        }
    }

    internal static BlipItmConfig FromJson(JsonElement root, string path)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new BlipModelException(path, $"expected a JSON object; found {root.ValueKind}");
        }
        var size = RequiredInt(root, "image_size", path);
        var maxLength = RequiredInt(root, "max_text_length", path);
        if (size < 1)
        {
            throw new BlipModelException(path, $"\"image_size\" must be at least 1; found {size}");
        }
        if (maxLength < 2)
        {
            throw new BlipModelException(path, $"\"max_text_length\" must be at least 2 ([CLS] and [SEP]); found {maxLength}");
        }
        var mean = Triple(root, "image_mean", path) ?? OpenAiClipMean;
        var std = Triple(root, "image_std", path) ?? OpenAiClipStd;
        if (std.Any(s => !(s > 0)))
        {
            throw new BlipModelException(path, $"\"image_std\" values must be positive; found [{string.Join(", ", std.Select(s => s.ToString(CultureInfo.InvariantCulture)))}]");
        }
        var rescale = 1 / 255.0;
        if (root.TryGetProperty("rescale_factor", out var rf))
        {
            if (rf.ValueKind != JsonValueKind.Number || !(rf.GetDouble() > 0))
            {
                throw new BlipModelException(path, $"\"rescale_factor\" must be a positive number; found {rf.GetRawText()}");
            }
            rescale = rf.GetDouble();
        }
        var resample = 3;
        if (root.TryGetProperty("resample", out var r))
        {
            if (r.ValueKind != JsonValueKind.Number || !r.TryGetInt32(out resample))
            {
                throw new BlipModelException(path, $"\"resample\" must be a PIL filter number; found {r.GetRawText()}");
            }
        }
        var filter = resample switch
        {
            0 => ResampleFilter.Nearest,
            1 => ResampleFilter.Lanczos3,
            2 => ResampleFilter.Bilinear,
            3 => ResampleFilter.Bicubic,
            4 => ResampleFilter.Box,
            _ => throw new BlipModelException(path, $"\"resample\": {resample} is not supported (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box)"),
        };
        var lower = true;
        if (root.TryGetProperty("do_lower_case", out var dl))
        {
            if (dl.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
            {
                throw new BlipModelException(path, $"\"do_lower_case\" must be true or false; found {dl.GetRawText()}");
            }
            lower = dl.GetBoolean();
        }
        return new BlipItmConfig(size, mean, std, rescale, filter, maxLength, lower);
    }

    private static int RequiredInt(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v))
        {
            throw new BlipModelException(path, $"missing \"{name}\" (an integer)");
        }
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt32(out var value))
        {
            throw new BlipModelException(path, $"\"{name}\" must be an integer; found {v.GetRawText()}");
        }
        return value;
    }

    private static double[]? Triple(JsonElement root, string name, string path)
    {
        if (!root.TryGetProperty(name, out var v))
        {
            return null;
        }
        if (v.ValueKind != JsonValueKind.Array || v.GetArrayLength() != 3 || v.EnumerateArray().Any(e => e.ValueKind != JsonValueKind.Number))
        {
            throw new BlipModelException(path, $"\"{name}\" must be an array of 3 numbers (RGB); found {v.GetRawText()}");
        }
        return [.. v.EnumerateArray().Select(e => e.GetDouble())];
    }
}
