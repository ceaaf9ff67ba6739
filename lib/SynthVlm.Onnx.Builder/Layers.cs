namespace SynthVlm.Onnx.Builder;

/// <summary>
/// Neural-network layers written as ONNX subgraphs, as extension methods on
/// <see cref="OnnxModelBuilder"/>. Weights are added as initializers named
/// <c>{prefix}.weight</c>, <c>{prefix}.bias</c> and so on (PyTorch-style names make a graph
/// readable in Netron); each method returns the name of its output value.
/// Activations are [batch, sequence, hidden] unless a method says otherwise.
/// </summary>
public static class Layers
{
    /// <summary>
    /// The additive mask value for positions that must not be attended to. Finite on purpose:
    /// a row whose every key is masked then stays a (meaningless) distribution instead of NaN,
    /// and e^(−1e9) is exactly 0 in float32, so unmasked rows are unaffected.
    /// </summary>
    public const float MaskedScore = -1e9f;

    /// <summary>CLIP's activation coefficient in <c>x·σ(1.702x)</c>.</summary>
    public const float QuickGeluAlpha = 1.702f;

    /// <summary><c>x·W + b</c> over the last axis of <paramref name="x"/>.</summary>
    public static string Linear(this OnnxModelBuilder b, string x, string prefix, LinearWeights weights)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        ArgumentNullException.ThrowIfNull(weights);
        var w = b.Weight($"{prefix}.weight", weights.Weight, weights.InFeatures, weights.OutFeatures);
        var y = b.MatMul(x, w);
        return weights.Bias is { } bias ? b.Add(y, b.Weight($"{prefix}.bias", bias, weights.OutFeatures)) : y;
    }

    /// <summary>
    /// Layer normalisation over the last axis: the opset-17 LayerNormalization operator, or its
    /// decomposition (mean, variance, √, scale, shift) for older opsets.
    /// </summary>
    public static string LayerNorm(this OnnxModelBuilder b, string x, string prefix, LayerNormWeights weights)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentException.ThrowIfNullOrWhiteSpace(prefix);
        ArgumentNullException.ThrowIfNull(weights);
        var scale = b.Weight($"{prefix}.weight", weights.Scale, weights.Size);
        var bias = b.Weight($"{prefix}.bias", weights.Bias, weights.Size);
        if (b.OpsetVersion >= 17)
        {
            return b.Op("LayerNormalization", [x, scale, bias], NodeAttribute.Int("axis", -1), NodeAttribute.Float("epsilon", weights.Epsilon));
        }
        var centered = b.Sub(x, b.ReduceMean(x, true, -1));
        var variance = b.ReduceMean(b.Mul(centered, centered), true, -1);
        var std = b.Sqrt(b.Add(variance, b.ScalarFloat(weights.Epsilon)));
        return b.Add(b.Mul(b.Div(centered, std), scale), bias);
    }

    /// <summary><c>x·σ(1.702x)</c> (HF <c>quick_gelu</c>).</summary>
    public static string QuickGelu(this OnnxModelBuilder b, string x)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Mul(x, b.Sigmoid(b.Mul(x, b.ScalarFloat(QuickGeluAlpha))));
    }

    /// <summary><c>½x(1 + erf(x/√2))</c>, the exact GELU.</summary>
    public static string Gelu(this OnnxModelBuilder b, string x)
    {
        ArgumentNullException.ThrowIfNull(b);
        var erf = b.Erf(b.Div(x, b.ScalarFloat(MathF.Sqrt(2f))));
        return b.Mul(b.Mul(x, b.ScalarFloat(0.5f)), b.Add(erf, b.ScalarFloat(1f)));
    }

    /// <summary>Applies <paramref name="activation"/>.</summary>
    public static string Activate(this OnnxModelBuilder b, string x, Activation activation) => activation switch
    {
        Activation.QuickGelu => b.QuickGelu(x),
        Activation.Gelu => b.Gelu(x),
        _ => throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation."),
    };

    /// <summary><c>fc2(act(fc1(x)))</c> with weights <c>{prefix}.fc1.*</c>, <c>{prefix}.fc2.*</c>.</summary>
    public static string Mlp(this OnnxModelBuilder b, string x, string prefix, MlpWeights weights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        var h = b.Linear(x, $"{prefix}.fc1", weights.Fc1);
        return b.Linear(b.Activate(h, weights.Activation), $"{prefix}.fc2", weights.Fc2);
    }

    /// <summary>
    /// An additive causal mask [S, S] for the sequence axis <paramref name="sequenceAxis"/> of
    /// <paramref name="x"/>: 0 where key ≤ query, <see cref="MaskedScore"/> above the diagonal.
    /// Built from the runtime length, so the sequence axis may be dynamic.
    /// </summary>
    public static string CausalMask(this OnnxModelBuilder b, string x, long sequenceAxis = 1)
    {
        ArgumentNullException.ThrowIfNull(b);
        var length = b.Gather(b.Shape(x), b.ScalarInt64(sequenceAxis), 0);
        var positions = b.Range(b.ScalarInt64(0), length, b.ScalarInt64(1));
        var future = b.Greater(b.Unsqueeze(positions, 0), b.Unsqueeze(positions, 1));
        return b.Where(future, b.ScalarFloat(MaskedScore), b.ScalarFloat(0f));
    }

    /// <summary>
    /// An additive key-padding mask [B, 1, 1, S] from a [B, S] attention mask (1 = attend,
    /// 0 = padding; any numeric type): <c>(1 − m)·MaskedScore</c>, as HF expands its 2-D masks.
    /// </summary>
    public static string KeyPaddingMask(this OnnxModelBuilder b, string attentionMask)
    {
        ArgumentNullException.ThrowIfNull(b);
        var m = b.Cast(attentionMask, TensorDataType.Float);
        var inverted = b.Sub(b.ScalarFloat(1f), m);
        return b.Unsqueeze(b.Mul(inverted, b.ScalarFloat(MaskedScore)), 1, 2);
    }

    /// <summary>
    /// Multi-head self-attention on [B, S, hidden]: Q/K/V projections, split into heads,
    /// <c>softmax(QKᵀ/√d + masks)·V</c>, heads merged, output projection. Each mask is an
    /// additive float value broadcastable to [B, heads, S, S] (see <see cref="CausalMask"/>,
    /// <see cref="KeyPaddingMask"/>). Weights: <c>{prefix}.{q,k,v,out}_proj.*</c>.
    /// </summary>
    public static string SelfAttention(this OnnxModelBuilder b, string x, string prefix, AttentionWeights weights, params string[] additiveMasks)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(additiveMasks);
        var heads = weights.Heads;
        var d = weights.HeadSize;
        var q = b.Linear(x, $"{prefix}.q_proj", weights.Query);
        var k = b.Linear(x, $"{prefix}.k_proj", weights.Key);
        var v = b.Linear(x, $"{prefix}.v_proj", weights.Value);
        // [B, S, hidden] -> [B, S, heads, d]; 0 keeps B and S whatever they are at run time.
        var splitShape = b.Int64s(0, 0, heads, d);
        var qh = b.Transpose(b.Reshape(q, splitShape), 0, 2, 1, 3);
        var kt = b.Transpose(b.Reshape(k, splitShape), 0, 2, 3, 1);
        var vh = b.Transpose(b.Reshape(v, splitShape), 0, 2, 1, 3);
        var scores = b.Mul(b.MatMul(qh, kt), b.ScalarFloat(1f / MathF.Sqrt(d)));
        foreach (var mask in additiveMasks)
        {
            scores = b.Add(scores, mask);
        }
        var context = b.MatMul(b.Softmax(scores, -1), vh);
        var merged = b.Reshape(b.Transpose(context, 0, 2, 1, 3), 0, 0, weights.Hidden);
        return b.Linear(merged, $"{prefix}.out_proj", weights.Output);
    }

    /// <summary>
    /// A pre-LN transformer encoder layer (CLIP's): <c>h = x + attn(ln1(x)); y = h + mlp(ln2(h))</c>.
    /// Weights: <c>{prefix}.layer_norm1.*</c>, <c>{prefix}.self_attn.*</c>, <c>{prefix}.layer_norm2.*</c>, <c>{prefix}.mlp.*</c>.
    /// </summary>
    public static string EncoderLayer(this OnnxModelBuilder b, string x, string prefix, EncoderLayerWeights weights, params string[] additiveMasks)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(weights);
        var attended = b.SelfAttention(b.LayerNorm(x, $"{prefix}.layer_norm1", weights.Norm1), $"{prefix}.self_attn", weights.Attention, additiveMasks);
        var h = b.Add(x, attended);
        return b.Add(h, b.Mlp(b.LayerNorm(h, $"{prefix}.layer_norm2", weights.Norm2), $"{prefix}.mlp", weights.Mlp));
    }

    /// <summary>Looks up rows of an embedding table [count, width] for integer ids of any shape (output: ids shape + [width]).</summary>
    public static string Embedding(this OnnxModelBuilder b, string ids, string name, float[] table, int count, int width)
    {
        ArgumentNullException.ThrowIfNull(b);
        var w = b.Weight(name, table, count, width);
        return b.Gather(w, ids, 0);
    }

    /// <summary>
    /// Adds learned position embeddings [maxPositions, hidden] to [B, S, hidden], using the first
    /// S rows (a Slice by the runtime length, so S may be dynamic and at most maxPositions).
    /// </summary>
    public static string AddPositionEmbedding(this OnnxModelBuilder b, string x, string name, float[] table, int maxPositions, int hidden)
    {
        ArgumentNullException.ThrowIfNull(b);
        var w = b.Weight(name, table, maxPositions, hidden);
        var rows = b.Slice(w, b.Int64s(0), b.DimOf(x, 1), b.Int64s(0));
        return b.Add(x, rows);
    }

    /// <summary>
    /// ViT patch embedding: a Conv with kernel = stride = <paramref name="patchSize"/> over
    /// [N, C, H, W], flattened to [N, (H/p)·(W/p), hidden] in row-major patch order.
    /// <paramref name="weight"/> is [hidden, C, p, p] (PyTorch Conv2d layout).
    /// </summary>
    public static string PatchEmbedding(this OnnxModelBuilder b, string pixels, string prefix, float[] weight, float[]? bias, int hidden, int channels, int patchSize)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentOutOfRangeException.ThrowIfLessThan(patchSize, 1);
        var w = b.Weight($"{prefix}.weight", weight, hidden, channels, patchSize, patchSize);
        List<string> inputs = [pixels, w];
        if (bias is not null)
        {
            inputs.Add(b.Weight($"{prefix}.bias", bias, hidden));
        }
        var conv = b.Node("Conv", inputs, 1, [
            NodeAttribute.Ints("kernel_shape", patchSize, patchSize),
            NodeAttribute.Ints("strides", patchSize, patchSize),
        ])[0];
        return b.Transpose(b.Reshape(conv, 0, 0, -1), 0, 2, 1);
    }

    /// <summary>Prepends a learned class token [hidden] to every sequence of [B, S, hidden], giving [B, S + 1, hidden].</summary>
    public static string PrependClassToken(this OnnxModelBuilder b, string x, string name, float[] classEmbedding)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(classEmbedding);
        var hidden = classEmbedding.Length;
        var token = b.Weight(name, classEmbedding, 1, 1, hidden);
        var shape = b.Concat(0, b.DimOf(x, 0), b.Int64s(1, hidden));
        return b.Concat(1, b.Expand(token, shape), x);
    }

    /// <summary>
    /// For [B, S, hidden] and per-row positions [B] (int64), the rows [B, hidden] at those positions
    /// (<c>x[arange(B), index]</c>), via GatherND with one batch dimension.
    /// </summary>
    public static string GatherPerRow(this OnnxModelBuilder b, string x, string index)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.GatherND(x, b.Unsqueeze(index, 1), 1);
    }

    /// <summary><c>x / ‖x‖₂</c> along <paramref name="axis"/> (no ε, as HF CLIP; a zero vector gives NaN).</summary>
    public static string L2Normalize(this OnnxModelBuilder b, string x, long axis = -1)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Div(x, b.ReduceL2(x, true, axis));
    }
}
