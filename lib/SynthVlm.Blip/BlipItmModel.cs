using System.Buffers;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Onnx;

namespace SynthVlm.Blip;

/// <summary>
/// BLIP's image–text matching head (Hugging Face <c>BlipForImageTextRetrieval</c> with
/// <c>use_itm_head=True</c>) on ONNX Runtime. A model folder holds:
/// <list type="bullet">
/// <item><c>itm.onnx</c>: inputs <c>pixel_values</c> float32 [batch, 3, S, S], <c>input_ids</c> int64
/// [batch, sequence], <c>attention_mask</c> int64 [batch, sequence] (1 for tokens, 0 for padding);
/// output <c>itm_logits</c> float32 [batch, 2]. Batch and sequence axes dynamic; S = image_size.</item>
/// <item><c>vocab.txt</c>: the BERT WordPiece vocabulary of the checkpoint's tokenizer.</item>
/// <item><c>blip_itm.json</c>: image size, mean/std, maximum text length, lower-casing (<see cref="BlipItmConfig"/>).</item>
/// </list>
/// eng/export_blip_itm.py writes this layout from a Hugging Face checkpoint (e.g.
/// Salesforce/blip-itm-base-coco). Each pair is one row of the batch: the caption is paired with its
/// own image (when Data-Juicer passes one caption with several images, older transformers broadcast
/// the caption over the images, which is this). Pairs are scored in chunks of
/// <see cref="BatchSize"/>, captions right-padded with [PAD] and masked to the longest in the chunk,
/// so memory is bounded by the batch size, not the number of pairs. Everything the code relies on
/// is checked at load. Thread-safe.
/// </summary>
public sealed class BlipItmModel : IImageTextMatcher, IDisposable
{
    /// <summary>The ONNX graph's file name in the folder.</summary>
    public const string ModelFileName = "itm.onnx";

    /// <summary>The BERT vocabulary's file name in the folder.</summary>
    public const string VocabFileName = "vocab.txt";

    /// <summary>The settings file's name in the folder.</summary>
    public const string ConfigFileName = "blip_itm.json";

    /// <summary>The batch size used when none is given.</summary>
    public const int DefaultBatchSize = 16;

    private const string PixelValues = "pixel_values";
    private const string InputIds = "input_ids";
    private const string AttentionMask = "attention_mask";
    private const string ItmLogits = "itm_logits";

    private static readonly string[] OutputNames = [ItmLogits];

    private readonly InferenceSession _session;
    private readonly string _modelPath;

    private BlipItmModel(string folder, string modelPath, InferenceSession session, ExecutionProvider provider, BlipItmConfig config, BlipTokenizer tokenizer, int batchSize, int maxTextLength)
    {
        Folder = folder;
        _modelPath = modelPath;
        _session = session;
        Provider = provider;
        Config = config;
        Tokenizer = tokenizer;
        ImageProcessor = BlipImageProcessor.FromConfig(config);
        BatchSize = batchSize;
        MaxTextLength = maxTextLength;
    }

    /// <summary>The model folder.</summary>
    public string Folder { get; }

    /// <summary>The folder's settings.</summary>
    public BlipItmConfig Config { get; }

    /// <summary>The folder's tokenizer.</summary>
    public BlipTokenizer Tokenizer { get; }

    /// <summary>The image preprocessing the settings describe.</summary>
    public BlipImageProcessor ImageProcessor { get; }

    /// <summary>Pairs per ONNX call.</summary>
    public int BatchSize { get; }

    /// <summary>Most tokens per caption, [CLS] and [SEP] included (Data-Juicer: the text model's max_position_embeddings).</summary>
    public int MaxTextLength { get; }

    /// <summary>The execution provider the session runs on.</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>Loads and checks a model folder.</summary>
    /// <param name="folder">The folder (layout in the class remarks).</param>
    /// <param name="batchSize">Pairs per ONNX call (memory grows with it: 3·S²·4 bytes of pixels per pair plus activations).</param>
    /// <param name="sessionSettings">Threads, provider and fallback for ONNX Runtime.</param>
    /// <exception cref="BlipModelException">A file is missing or does not match the contract (the message names the file, what was expected and what was found).</exception>
    /// <exception cref="OnnxProviderUnavailableException">CUDA was asked for, cannot be used, and <see cref="ProviderFallback.Error"/> is set.</exception>
    public static BlipItmModel Load(string folder, int batchSize = DefaultBatchSize, OnnxSessionSettings? sessionSettings = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(folder);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        folder = Path.GetFullPath(folder);
        if (!Directory.Exists(folder))
        {
            throw new BlipModelException(folder, $"model folder not found (expected {ModelFileName}, {VocabFileName} and {ConfigFileName}; eng/export_blip_itm.py writes them)");
        }
        var modelPath = Path.Combine(folder, ModelFileName);
        if (!File.Exists(modelPath))
        {
            throw new BlipModelException(modelPath, "file not found (a BLIP ITM folder holds the ONNX graph returning itm_logits; eng/export_blip_itm.py writes it)");
        }
        var config = BlipItmConfig.FromFile(Path.Combine(folder, ConfigFileName));
        var tokenizer = BlipTokenizer.FromVocabFile(Path.Combine(folder, VocabFileName), config.DoLowerCase);

        InferenceSession session;
        ExecutionProvider provider;
        try
        {
            session = OnnxSessions.Load(modelPath, sessionSettings, out provider);
        }
        catch (OnnxRuntimeException e)
        {
            throw new BlipModelException(modelPath, $"ONNX Runtime cannot load it: {e.Message}", e);
        }
        try
        {
            CheckContract(modelPath, session, config);
            return new BlipItmModel(folder, modelPath, session, provider, config, tokenizer, batchSize, config.MaxTextLength);
        }
        catch
        {
            session.Dispose();
            throw;
        }
    }

    /// <summary>The match probability (softmax of the ITM logits, index 1) of each pair, in order.</summary>
    public double[] MatchProbabilities(IReadOnlyList<ImageCaptionPair> pairs, CancellationToken cancellationToken = default) =>
        [.. Match(pairs, cancellationToken).Select(m => m.Probability)];

    /// <inheritdoc />
    public IReadOnlyList<ImageTextMatch> Match(IReadOnlyList<ImageCaptionPair> pairs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        for (var i = 0; i < pairs.Count; i++)
        {
            if (pairs[i].Image is null)
            {
                throw new ArgumentException($"pair {i} has no image.", nameof(pairs));
            }
            if (pairs[i].Caption is null)
            {
                throw new ArgumentException($"pair {i} has a null caption (an empty string is allowed).", nameof(pairs));
            }
        }
        var results = new ImageTextMatch[pairs.Count];
        var pixels = ArrayPool<float>.Shared.Rent(Math.Min(BatchSize, Math.Max(pairs.Count, 1)) * ImageProcessor.TensorLength);
        try
        {
            for (var start = 0; start < pairs.Count; start += BatchSize)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var n = Math.Min(BatchSize, pairs.Count - start);
                RunChunk(pairs, start, n, pixels, results, cancellationToken);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(pixels);
        }
        return results;
    }

    /// <inheritdoc />
    public void Dispose() => _session.Dispose();

    private void RunChunk(IReadOnlyList<ImageCaptionPair> pairs, int start, int n, float[] pixels, ImageTextMatch[] results, CancellationToken cancellationToken)
    {
        var perImage = ImageProcessor.TensorLength;
        Parallel.For(0, n, new ParallelOptions { CancellationToken = cancellationToken },
            i => ImageProcessor.Preprocess(pairs[start + i].Image, pixels.AsSpan(i * perImage, perImage)));

        var max = MaxTextLength;
        var scratch = new long[n * max];
        var lengths = new int[n];
        var truncated = new bool[n];
        var longest = 2;
        for (var i = 0; i < n; i++)
        {
            lengths[i] = Tokenizer.Encode(pairs[start + i].Caption, max, scratch.AsSpan(i * max, max), out truncated[i]);
            longest = Math.Max(longest, lengths[i]);
        }
        var ids = new long[n * longest];
        var mask = new long[n * longest];
        for (var i = 0; i < n; i++)
        {
            var row = ids.AsSpan(i * longest, longest);
            row.Fill(Tokenizer.PadId);
            scratch.AsSpan(i * max, lengths[i]).CopyTo(row);
            mask.AsSpan(i * longest, lengths[i]).Fill(1);
        }

        var size = ImageProcessor.Size;
        using var pixelValue = OrtValue.CreateTensorValueFromMemory(OrtMemoryInfo.DefaultInstance, pixels.AsMemory(0, n * perImage), [n, 3, size, size]);
        using var idsValue = OrtValue.CreateTensorValueFromMemory(ids, [n, longest]);
        using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [n, longest]);
        var inputs = new Dictionary<string, OrtValue>(3, StringComparer.Ordinal)
        {
            [PixelValues] = pixelValue,
            [InputIds] = idsValue,
            [AttentionMask] = maskValue,
        };
        using var outputs = _session.Run(inputs, OutputNames, cancellationToken);
        var shape = outputs[0].GetTensorTypeAndShape().Shape;
        if (shape.Length != 2 || shape[0] != n || shape[1] != 2)
        {
            throw new BlipModelException(_modelPath, $"output '{ItmLogits}' has shape [{string.Join(", ", shape)}]; expected [{n}, 2] for {n} pairs");
        }
        var logits = outputs[0].GetTensorDataAsSpan<float>();
        for (var i = 0; i < n; i++)
        {
            float l0 = logits[2 * i], l1 = logits[(2 * i) + 1];
            // softmax(l)[1] = 1 / (1 + e^(l0 - l1)), in double.
            var p = 1 / (1 + Math.Exp((double)l0 - l1));
            results[start + i] = new ImageTextMatch(l0, l1, p, lengths[i], truncated[i]);
        }
    }

    /// <summary>Checks inputs and output against the contract.</summary>
    private static void CheckContract(string modelPath, InferenceSession session, BlipItmConfig config)
    {
        var inputs = session.InputMetadata;
        var outputs = session.OutputMetadata;
        string Have() => $"the model has inputs [{string.Join(", ", OnnxModelDescription.Inputs(session))}] and outputs [{string.Join(", ", OnnxModelDescription.Outputs(session))}]";
        var s = config.ImageSize;

        if (!inputs.TryGetValue(PixelValues, out var pixels) || pixels.ElementDataType != TensorElementType.Float || pixels.Dimensions.Length != 4)
        {
            throw new BlipModelException(modelPath, $"expected input '{PixelValues}' float32 [batch, 3, {s}, {s}]; {Have()}");
        }
        var d = pixels.Dimensions;
        if ((d[1] != -1 && d[1] != 3) || (d[2] != -1 && d[2] != s) || (d[3] != -1 && d[3] != s))
        {
            throw new BlipModelException(modelPath, $"input '{PixelValues}' is [{string.Join(", ", d)}] but {ConfigFileName} gives image_size {s}: expected [batch, 3, {s}, {s}]");
        }
        foreach (var name in new[] { InputIds, AttentionMask })
        {
            if (!inputs.TryGetValue(name, out var meta) || meta.ElementDataType != TensorElementType.Int64 || meta.Dimensions.Length != 2)
            {
                throw new BlipModelException(modelPath, $"expected input '{name}' int64 [batch, sequence]; {Have()}");
            }
        }
        var unknown = inputs.Keys.Where(k => k is not (PixelValues or InputIds or AttentionMask)).ToArray();
        if (unknown.Length > 0)
        {
            throw new BlipModelException(modelPath, $"unexpected input(s) {string.Join(", ", unknown.Select(u => $"'{u}'"))}; expected only {PixelValues}, {InputIds} and {AttentionMask}");
        }
        var batchDims = new[] { d[0], inputs[InputIds].Dimensions[0], inputs[AttentionMask].Dimensions[0] };
        if (batchDims.Any(b => b > 0))
        {
            throw new BlipModelException(modelPath, $"the batch axis is fixed ({string.Join(", ", batchDims)}); expected a dynamic batch axis on every input (export with dynamic_axes, as eng/export_blip_itm.py does)");
        }
        if (!outputs.TryGetValue(ItmLogits, out var output) || output.ElementDataType != TensorElementType.Float || output.Dimensions.Length != 2 || (output.Dimensions[1] != -1 && output.Dimensions[1] != 2))
        {
            throw new BlipModelException(modelPath, $"expected output '{ItmLogits}' float32 [batch, 2]; {Have()}");
        }
        var seq = inputs[InputIds].Dimensions[1];
        var maskSeq = inputs[AttentionMask].Dimensions[1];
        if (seq > 0 || maskSeq > 0)
        {
            throw new BlipModelException(modelPath, $"the sequence axis is fixed (input_ids {seq}, attention_mask {maskSeq}); expected a dynamic sequence axis (captions are padded to the longest in each batch)");
        }
    }
}
