using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Model;

/// <summary>One sequence for the model: token ids with at most one image marker, and optional labels.</summary>
/// <param name="InputIds">Token ids; the image is one id (<see cref="LlavaConfig.LlavaImageTokenIndex"/> or the layout's image token).</param>
/// <param name="Labels">Per-id labels (<see cref="LlavaConfig.IgnoreIndex"/> where not supervised; the image position's label is ignored), or null.</param>
public sealed record LlavaSequence(int[] InputIds, int[]? Labels = null)
{
    /// <summary>Whether the ids hold an image marker.</summary>
    public bool HasImage(LlavaConfig config) => InputIds.Any(id => config.IsImageToken(id));
}

/// <summary>Which side of a batch padding goes: right for training (LLaVA's default), left for generation.</summary>
public enum PaddingSide
{
    /// <summary>Real tokens first, padding after.</summary>
    Right,

    /// <summary>Padding first, so every sequence ends at the last column.</summary>
    Left,
}

/// <summary>A batch with the image embeddings spliced in: what the decoder consumes.</summary>
/// <param name="InputsEmbeds">[B, T, H] embeddings (zeros at padding).</param>
/// <param name="AttentionMask">[B, T] int64, 1 for real positions.</param>
/// <param name="PositionIds">[B, T] int64, 0.. along each sequence's real positions.</param>
/// <param name="Labels">[B, T] int64 labels (ignore at images, padding and unsupervised tokens), or null.</param>
/// <param name="Lengths">Real length of each sequence after splicing and truncation.</param>
public sealed record LlavaBatch(Tensor InputsEmbeds, Tensor AttentionMask, Tensor PositionIds, Tensor? Labels, long[] Lengths) : IDisposable
{
    /// <summary>Sequences cut to the model's context after the image was spliced in (LLaVA truncates them too).</summary>
    public int Truncated { get; init; }

    /// <summary>Frees the batch's tensors.</summary>
    public void Dispose()
    {
        InputsEmbeds.Dispose();
        AttentionMask.Dispose();
        PositionIds.Dispose();
        Labels?.Dispose();
    }
}

/// <summary>The result of <see cref="LlavaModel.Forward"/>.</summary>
/// <param name="Logits">[B, T, vocab] float32 logits.</param>
/// <param name="Loss">Mean cross-entropy over every supervised token of the batch (scalar), or null without labels.</param>
/// <param name="TokenLossSums">[B] sum of the cross-entropy over each sequence's supervised tokens, or null.</param>
/// <param name="TokenCounts">[B] supervised tokens per sequence, or null.</param>
/// <param name="Batch">The spliced batch (labels, mask, positions) the logits line up with.</param>
public sealed record LlavaOutput(Tensor Logits, Tensor? Loss, Tensor? TokenLossSums, Tensor? TokenCounts, LlavaBatch Batch) : IDisposable
{
    /// <summary>Frees the output's tensors.</summary>
    public void Dispose()
    {
        Logits.Dispose();
        Loss?.Dispose();
        TokenLossSums?.Dispose();
        TokenCounts?.Dispose();
        Batch.Dispose();
    }
}

/// <summary>
/// LLaVA-1.5: a CLIP vision tower, a two-layer GELU projector and a LLaMA decoder, with parameter
/// names of the llava-hf layout (<c>vision_tower.*</c>, <c>multi_modal_projector.linear_{1,2}.*</c>,
/// <c>language_model.model.*</c>, <c>language_model.lm_head.*</c>). Parameters are created
/// uninitialised; load them (<see cref="LlavaModelLoader"/>) or initialise them explicitly.
/// </summary>
public sealed class LlavaModel : nn.Module
{
    private readonly ClipVisionTower visionTower;
    private readonly LinearLayer projector1;
    private readonly LinearLayer projector2;
    private readonly LlamaDecoder languageModel;

    /// <summary>Builds the module graph with uninitialised parameters on <paramref name="device"/> in <paramref name="dtype"/>.</summary>
    public LlavaModel(LlavaConfig config, Device? device = null, ScalarType dtype = ScalarType.Float32)
        : base("llava")
    {
        ArgumentNullException.ThrowIfNull(config);
        TorchRuntime.Initialize();
        Config = config;
        var factory = new ParameterFactory(device ?? CPU, dtype);
        visionTower = new ClipVisionTower("vision_tower", config.Vision, factory);
        projector1 = new LinearLayer("linear_1", config.Vision.HiddenSize, config.Text.HiddenSize, true, factory);
        projector2 = new LinearLayer("linear_2", config.Text.HiddenSize, config.Text.HiddenSize, true, factory);
        var projector = new Container("multi_modal_projector");
        projector.Add("linear_1", projector1);
        projector.Add("linear_2", projector2);
        languageModel = new LlamaDecoder("language_model", config.Text, factory);
        register_module("vision_tower", visionTower);
        register_module("multi_modal_projector", projector);
        register_module("language_model", languageModel);
        Device = factory.Device;
        DType = dtype;
    }

    /// <summary>The configuration the graph was built from.</summary>
    public LlavaConfig Config { get; }

    /// <summary>Device of the parameters.</summary>
    public Device Device { get; }

    /// <summary>Dtype of the parameters.</summary>
    public ScalarType DType { get; }

    /// <summary>
    /// Gradient checkpointing of the decoder layers (default off): with it, a forward pass with
    /// grad enabled and no KV cache keeps only each layer's input, and the backward recomputes
    /// the layer — activation memory of one layer instead of all, for about one more forward.
    /// Gradients are the same as without it.
    /// </summary>
    public bool GradientCheckpointing
    {
        get => languageModel.GradientCheckpointing;
        set => languageModel.GradientCheckpointing = value;
    }

    internal LlamaDecoder LanguageModel => languageModel;

    internal IEnumerable<LinearLayer> ProjectorLayers => [projector1, projector2];

    /// <summary>
    /// Image embeddings for pixel values [N, 3, S, S]: the vision tower's hidden state at the
    /// feature layer (CLS dropped for LLaVA-1.5), projected to the decoder's width: [N, P, H].
    /// </summary>
    public Tensor EncodeImages(Tensor pixelValues)
    {
        ArgumentNullException.ThrowIfNull(pixelValues);
        using var scope = NewDisposeScope();
        var features = visionTower.HiddenState(pixelValues.to(Device), Config.VisionLayersToRun);
        if (Config.DropClassToken)
        {
            features = features.narrow(1, 1, features.shape[1] - 1);
        }
        features = features.to_type(DType);
        var projected = projector2.Forward(nn.functional.gelu(projector1.Forward(features)));
        return projected.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Splices each sequence's image embeddings in place of its image marker (images are taken in
    /// order by the sequences that have one), truncates to <see cref="LlavaConfig.ModelMaxLength"/>,
    /// and pads to the longest sequence on <paramref name="side"/> — LLaVA's
    /// prepare_inputs_labels_for_multimodal.
    /// </summary>
    /// <exception cref="VlmModelException">A sequence holds more than one image marker, or the image count does not match.</exception>
    public LlavaBatch PrepareBatch(IReadOnlyList<LlavaSequence> sequences, Tensor? pixelValues, PaddingSide side = PaddingSide.Right)
    {
        ArgumentNullException.ThrowIfNull(sequences);
        if (sequences.Count == 0)
        {
            throw new VlmModelException("The batch is empty.");
        }
        var withImage = 0;
        for (var i = 0; i < sequences.Count; i++)
        {
            var markers = sequences[i].InputIds.Count(id => Config.IsImageToken(id));
            if (markers > 1)
            {
                throw new VlmModelException($"Sequence {i} holds {markers} image markers; one image per sequence is supported.");
            }
            if (sequences[i].Labels is { } labels && labels.Length != sequences[i].InputIds.Length)
            {
                throw new VlmModelException($"Sequence {i} has {sequences[i].InputIds.Length} ids but {labels.Length} labels.");
            }
            withImage += markers;
        }
        var images = pixelValues is null ? 0 : pixelValues.shape[0];
        if (images != withImage)
        {
            throw new VlmModelException($"The batch has {withImage} sequences with an image but {images} images.");
        }
        var hasLabels = sequences.All(s => s.Labels is not null);

        using var scope = NewDisposeScope();
        var imageEmbeddings = withImage > 0 ? EncodeImages(pixelValues!) : null;
        var embedded = new List<Tensor>(sequences.Count);
        var labelRows = new List<long[]>(sequences.Count);
        var imageIndex = 0;
        var truncated = 0;
        foreach (var sequence in sequences)
        {
            var ids = sequence.InputIds;
            var marker = Array.FindIndex(ids, id => Config.IsImageToken(id));
            var textIds = ids.Where(id => !Config.IsImageToken(id)).Select(id => (long)id).ToArray();
            foreach (var id in textIds)
            {
                if (id < 0 || id >= Config.Text.VocabSize)
                {
                    throw new VlmModelException($"Token id {id} is outside the vocabulary of {Config.Text.VocabSize}.");
                }
            }
            var text = languageModel.Embed(tensor(textIds, ScalarType.Int64, Device));
            var labels = sequence.Labels?.Select(l => (long)l).ToList();
            Tensor row;
            if (marker < 0)
            {
                row = text;
            }
            else
            {
                var image = imageEmbeddings![imageIndex++];
                row = cat([text.narrow(0, 0, marker), image, text.narrow(0, marker, textIds.Length - marker)], 0);
                if (labels is not null)
                {
                    labels.RemoveAt(marker);
                    labels.InsertRange(marker, Enumerable.Repeat((long)LlavaConfig.IgnoreIndex, (int)image.shape[0]));
                }
            }
            if (row.shape[0] > Config.ModelMaxLength)
            {
                truncated++;
                row = row.narrow(0, 0, Config.ModelMaxLength);
                labels?.RemoveRange(Config.ModelMaxLength, labels.Count - Config.ModelMaxLength);
            }
            embedded.Add(row);
            labelRows.Add(labels?.ToArray() ?? []);
        }

        var lengths = embedded.Select(e => e.shape[0]).ToArray();
        var width = lengths.Max();
        var hidden = Config.Text.HiddenSize;
        var rows = new List<Tensor>(embedded.Count);
        var mask = new long[embedded.Count * width];
        var positions = new long[embedded.Count * width];
        var labelData = new long[embedded.Count * width];
        Array.Fill(labelData, LlavaConfig.IgnoreIndex);
        for (var b = 0; b < embedded.Count; b++)
        {
            var length = lengths[b];
            var pad = width - length;
            var padding = zeros([pad, hidden], DType, Device);
            rows.Add(side == PaddingSide.Right ? cat([embedded[b], padding], 0) : cat([padding, embedded[b]], 0));
            var start = side == PaddingSide.Right ? 0 : pad;
            for (var t = 0; t < length; t++)
            {
                var at = (b * width) + start + t;
                mask[at] = 1;
                positions[at] = t;
                if (hasLabels)
                {
                    labelData[at] = labelRows[b][t];
                }
            }
        }
        var batch = new LlavaBatch(
            stack(rows, 0).MoveToOuterDisposeScope(),
            tensor(mask, [embedded.Count, width], ScalarType.Int64, Device).MoveToOuterDisposeScope(),
            tensor(positions, [embedded.Count, width], ScalarType.Int64, Device).MoveToOuterDisposeScope(),
            hasLabels ? tensor(labelData, [embedded.Count, width], ScalarType.Int64, Device).MoveToOuterDisposeScope() : null,
            lengths)
        {
            Truncated = truncated,
        };
        return batch;
    }

    /// <summary>
    /// Forward pass over <paramref name="sequences"/> (right padding), with the loss when every
    /// sequence has labels: cross-entropy of each position's logits against the next position's
    /// label, averaged over all supervised tokens of the batch (transformers' LlamaForCausalLM loss).
    /// </summary>
    public LlavaOutput Forward(IReadOnlyList<LlavaSequence> sequences, Tensor? pixelValues)
    {
        using var scope = NewDisposeScope();
        var batch = PrepareBatch(sequences, pixelValues, PaddingSide.Right);
        var hidden = languageModel.Forward(batch.InputsEmbeds, batch.AttentionMask, batch.PositionIds);
        var logits = languageModel.Logits(hidden);
        if (batch.Labels is null)
        {
            return new LlavaOutput(logits.MoveToOuterDisposeScope(), null, null, null, Keep(batch));
        }
        var vocab = logits.shape[2];
        var length = logits.shape[1];
        var shiftedLogits = logits.narrow(1, 0, length - 1).reshape(-1, vocab);
        var shiftedLabels = batch.Labels.narrow(1, 1, length - 1);
        var supervised = shiftedLabels.NotEqualTo(LlavaConfig.IgnoreIndex);
        var perToken = nn.functional.cross_entropy(shiftedLogits, shiftedLabels.reshape(-1), ignore_index: LlavaConfig.IgnoreIndex, reduction: nn.Reduction.None)
            .view(sequences.Count, length - 1);
        var sums = perToken.mul(supervised).sum(1);
        var counts = supervised.sum(1);
        var loss = sums.sum().div(counts.sum().ClampMin(1));
        return new LlavaOutput(
            logits.MoveToOuterDisposeScope(),
            loss.MoveToOuterDisposeScope(),
            sums.MoveToOuterDisposeScope(),
            counts.MoveToOuterDisposeScope(),
            Keep(batch));
    }

    private static LlavaBatch Keep(LlavaBatch batch)
    {
        batch.InputsEmbeds.MoveToOuterDisposeScope();
        batch.AttentionMask.MoveToOuterDisposeScope();
        batch.PositionIds.MoveToOuterDisposeScope();
        batch.Labels?.MoveToOuterDisposeScope();
        return batch;
    }
}
