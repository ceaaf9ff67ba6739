using System.Buffers;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Onnx;
using SynthVlm.Tokenizers;

namespace SynthVlm.Clip;

/// <summary>
/// A CLIP model folder as Hugging Face optimum exports it (model.onnx with inputs input_ids,
/// attention_mask, pixel_values and outputs text_embeds, image_embeds; preprocessor_config.json;
/// vocab.json + merges.txt + tokenizer_config.json), loaded on ONNX Runtime. Everything the
/// code relies on is checked at load, so a wrong folder fails with the file and the mismatch
/// named instead of at the first request. Thread-safe: concurrent <see cref="Encode"/> calls
/// share the session.
/// </summary>
public sealed class ClipModel : IDisposable
{
    /// <summary>The ONNX graph's file name in the folder.</summary>
    public const string ModelFileName = "model.onnx";

    /// <summary>The image preprocessing settings' file name.</summary>
    public const string PreprocessorFileName = "preprocessor_config.json";

    private const string InputIds = "input_ids";
    private const string AttentionMask = "attention_mask";
    private const string PixelValues = "pixel_values";
    private const string TextEmbeds = "text_embeds";
    private const string ImageEmbeds = "image_embeds";

    private static readonly string[] OutputNames = [TextEmbeds, ImageEmbeds];

    private readonly InferenceSession _session;
    private readonly bool _hasAttentionMask;
    private readonly int _fixedSequenceLength;

    private ClipModel(string folder, InferenceSession session, ExecutionProvider provider, ClipTokenizer tokenizer, ClipImageProcessor processor, bool hasAttentionMask, int fixedSequenceLength, int embeddingSize)
    {
        Folder = folder;
        _session = session;
        Provider = provider;
        Tokenizer = tokenizer;
        ImageProcessor = processor;
        _hasAttentionMask = hasAttentionMask;
        _fixedSequenceLength = fixedSequenceLength;
        EmbeddingSize = embeddingSize;
        ContextLength = fixedSequenceLength > 0 ? Math.Min(fixedSequenceLength, tokenizer.ModelMaxLength) : tokenizer.ModelMaxLength;
    }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>The folder's tokenizer.</summary>
    public ClipTokenizer Tokenizer { get; }

    /// <summary>The folder's image preprocessing.</summary>
    public ClipImageProcessor ImageProcessor { get; }

    /// <summary>Length of the projected embeddings (512 for ViT-B/32).</summary>
    public int EmbeddingSize { get; }

    /// <summary>Tokens per text including the start and end tokens (77 for CLIP); longer texts are truncated.</summary>
    public int ContextLength { get; }

    /// <summary>The execution provider the session runs on.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>Loads and checks a model folder.</summary>
    /// <exception cref="ClipModelException">A file is missing or does not match the CLIP contract (the message says which and how).</exception>
    /// <exception cref="OnnxProviderUnavailableException">CUDA was asked for, cannot be used, and <see cref="ProviderFallback.Error"/> is set.</exception>
    public static ClipModel Load(string folder, OnnxSessionSettings? sessionSettings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder))
        {
            throw new ClipModelException(folder, "model folder not found (create the tiny set with `synthvlm models init-tiny` or point at an optimum CLIP export)");
        }
        var modelPath = Path.Combine(folder, ModelFileName);
        if (!File.Exists(modelPath))
        {
            throw new ClipModelException(modelPath, "file not found (a CLIP model folder holds model.onnx as optimum exports it)");
        }
        var processor = ClipImageProcessor.FromFile(Path.Combine(folder, PreprocessorFileName));
        ClipTokenizer tokenizer;
        try
        {
            tokenizer = ClipTokenizer.FromFolder(folder);
        }
        catch (Exception e) when (e is TokenizerFormatException or IOException or FormatException or InvalidDataException or ArgumentException)
        {
            throw new ClipModelException(folder, $"tokenizer files unusable: {e.Message}", e);
        }

        InferenceSession session;
        ExecutionProvider provider;
        try
        {
            session = OnnxSessions.Load(modelPath, sessionSettings, out provider);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ClipModelException(modelPath, $"ONNX Runtime cannot load it: {e.Message}", e);
        }
        try
        {
            var (hasMask, seq, dim) = CheckContract(modelPath, session, processor);
            return new ClipModel(folder, session, provider, tokenizer, processor, hasMask, seq, dim);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Encodes <paramref name="texts"/> and <paramref name="imageCount"/> preprocessed images
    /// (<paramref name="pixelValues"/>: [imageCount, 3, H, W] from <see cref="ImageProcessor"/>) in
    /// one model call; returns L2-normalised embeddings. At least one text and one image (the
    /// exported graph computes both towers on every call).
    /// </summary>
    public ClipEmbeddings Encode(IReadOnlyList<string> texts, ReadOnlyMemory<float> pixelValues, int imageCount, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentOutOfRangeException.ThrowIfLessThan(texts.Count, 1, nameof(texts));
        ArgumentOutOfRangeException.ThrowIfLessThan(imageCount, 1);
        var perImage = ImageProcessor.TensorLength;
        if (pixelValues.Length != (long)perImage * imageCount)
        {
            throw new ArgumentException($"pixelValues holds {pixelValues.Length} floats; {imageCount} images of 3x{ImageProcessor.CropHeight}x{ImageProcessor.CropWidth} need {(long)perImage * imageCount}.", nameof(pixelValues));
        }

        var n = texts.Count;
        var (ids, mask, seq) = Tokenize(texts, out var truncated);

        // The model reads the caller's pixels in place: copying 600 KB per image buys nothing.
        var pixelMemory = System.Runtime.InteropServices.MemoryMarshal.AsMemory(pixelValues);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [n, seq]);
        using var maskValue = _hasAttentionMask ? OrtValue.CreateTensorValueFromMemory(mask, [n, seq]) : null;
        using var pixels = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, pixelMemory, [imageCount, 3, ImageProcessor.CropHeight, ImageProcessor.CropWidth]);
        var inputs = new Dictionary<string, OrtValue>(3, StringComparer.Ordinal) { [InputIds] = idsValue, [PixelValues] = pixels };
        if (maskValue is not null)
        {
            inputs[AttentionMask] = maskValue;
        }
        using var outputs = _session.Run(inputs, OutputNames, cancellationToken);
        var text = Normalised(outputs[0], n);
        var image = Normalised(outputs[1], imageCount);
        var tokenCounts = new int[n];
        for (var i = 0; i < n; i++)
        {
            var firstPad = mask.AsSpan(i * seq, seq).IndexOf(0L);
            tokenCounts[i] = firstPad >= 0 ? firstPad : seq;
        }
        return new ClipEmbeddings(text, image, n, imageCount, EmbeddingSize, truncated, tokenCounts);
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();

    /// <summary>
    /// Tokenizes once into the full context, then, for a graph with a dynamic sequence axis, keeps
    /// only the columns up to the longest text (CLIP pools at the end token, so padding beyond it
    /// changes nothing but costs attention).
    /// </summary>
    private (long[] Ids, long[] Mask, int Sequence) Tokenize(IReadOnlyList<string> texts, out bool[] truncated)
    {
        var n = texts.Count;
        var full = _fixedSequenceLength > 0 ? _fixedSequenceLength : ContextLength;
        var ids = new long[n * full];
        var mask = new long[n * full];
        truncated = new bool[n];
        Tokenizer.EncodeBatch(texts, ids, mask, full, truncated);
        if (_fixedSequenceLength > 0)
        {
            return (ids, mask, full);
        }
        var longest = 2;
        for (var i = 0; i < n; i++)
        {
            var pad = mask.AsSpan(i * full, full).IndexOf(0L);
            longest = Math.Max(longest, pad >= 0 ? pad : full);
        }
        if (longest == full)
        {
            return (ids, mask, full);
        }
        var shortIds = new long[n * longest];
        var shortMask = new long[n * longest];
        for (var i = 0; i < n; i++)
        {
            ids.AsSpan(i * full, longest).CopyTo(shortIds.AsSpan(i * longest));
            mask.AsSpan(i * full, longest).CopyTo(shortMask.AsSpan(i * longest));
        }
        return (shortIds, shortMask, longest);
    }

    private float[] Normalised(OrtValue value, int rows)
    {
        var shape = value.GetTensorTypeAndShape().Shape;
        if (shape.Length != 2 || shape[0] != rows || shape[1] != EmbeddingSize)
        {
            throw new ClipModelException(Path.Combine(Folder, ModelFileName), $"output shape [{string.Join(", ", shape)}] is not [{rows}, {EmbeddingSize}]");
        }
        var data = value.GetTensorDataAsSpan<float>().ToArray();
        // optimum's CLIPModel export already normalises; doing it again is cheap and keeps fp16 exports and
        // with-projection exports (which do not normalise) correct.
        for (var r = 0; r < rows; r++)
        {
            var row = data.AsSpan(r * EmbeddingSize, EmbeddingSize);
            var norm = TensorPrimitives.Norm<float>(row);
            if (norm > 0)
            {
                TensorPrimitives.Divide(row, norm, row);
            }
        }
        return data;
    }

    private static (bool HasMask, int FixedSequence, int EmbeddingSize) CheckContract(string modelPath, InferenceSession session, ClipImageProcessor processor)
    {
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        string Have() => $"the model has inputs [{string.Join(", ", OnnxModelDescription.Inputs(session))}] and outputs [{string.Join(", ", OnnxModelDescription.Outputs(session))}]";

        if (!inputs.TryGetValue(InputIds, out var ids) || ids.ElementDataType != TensorElementType.Int64 || ids.Dimensions.Length != 2)
        {
            throw new ClipModelException(modelPath, $"expected input '{InputIds}' int64 [text_batch_size, sequence_length]; {Have()}");
        }
        if (!inputs.TryGetValue(PixelValues, out var pixels) || pixels.ElementDataType != TensorElementType.Float || pixels.Dimensions.Length != 4)
        {
            throw new ClipModelException(modelPath, $"expected input '{PixelValues}' float32 [image_batch_size, 3, height, width]; {Have()}");
        }
        var d = pixels.Dimensions;
        if ((d[1] != -1 && d[1] != 3) || (d[2] != -1 && d[2] != processor.CropHeight) || (d[3] != -1 && d[3] != processor.CropWidth))
        {
            throw new ClipModelException(modelPath, $"input '{PixelValues}' is [{string.Join(", ", d)}] but {PreprocessorFileName} crops to 3x{processor.CropHeight}x{processor.CropWidth}");
        }
        var hasMask = inputs.TryGetValue(AttentionMask, out var mask);
        if (hasMask && (mask!.ElementDataType != TensorElementType.Int64 || mask.Dimensions.Length != 2))
        {
            throw new ClipModelException(modelPath, $"expected input '{AttentionMask}' int64 [text_batch_size, sequence_length]; {Have()}");
        }
        var unknown = inputs.Keys.Where(k => k is not (InputIds or PixelValues or AttentionMask)).ToArray();
        if (unknown.Length > 0)
        {
            throw new ClipModelException(modelPath, $"unexpected input(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; a CLIP export takes only {InputIds}, {AttentionMask} and {PixelValues}");
        }
        var dim = -1L;
        foreach (var name in OutputNames)
        {
            if (!outputs.TryGetValue(name, out var o) || o.ElementDataType != TensorElementType.Float || o.Dimensions.Length != 2)
            {
                throw new ClipModelException(modelPath, $"expected output '{name}' float32 [batch, projection_dim]; {Have()}");
            }
            if (o.Dimensions[1] > 0)
            {
                if (dim > 0 && dim != o.Dimensions[1])
                {
                    throw new ClipModelException(modelPath, $"'{TextEmbeds}' and '{ImageEmbeds}' have different widths ({dim} and {o.Dimensions[1]})");
                }
                dim = o.Dimensions[1];
            }
        }
        if (dim <= 0)
        {
            throw new ClipModelException(modelPath, $"the width of '{TextEmbeds}' is not fixed in the graph; cannot size the embeddings");
        }
        return (hasMask, (int)Math.Max(ids.Dimensions[1], 0), (int)dim);
    }
}
