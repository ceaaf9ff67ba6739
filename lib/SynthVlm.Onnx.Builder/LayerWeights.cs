namespace SynthVlm.Onnx.Builder;

/// <summary>The non-linearity of a transformer MLP.</summary>
public enum Activation
{
    /// <summary><c>x·σ(1.702x)</c>, CLIP's <c>quick_gelu</c>.</summary>
    QuickGelu,

    /// <summary><c>½x(1 + erf(x/√2))</c>, the exact GELU.</summary>
    Gelu,
}

/// <summary>
/// A dense layer <c>y = x·W + b</c>. <see cref="Weight"/> is row-major [in, out], the
/// transpose of a PyTorch <c>nn.Linear</c> weight, so the graph uses it in MatMul as is.
/// </summary>
public sealed class LinearWeights
{
    /// <summary>Wraps existing arrays after checking their lengths.</summary>
    public LinearWeights(int inFeatures, int outFeatures, float[] weight, float[]? bias)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Length != (long)inFeatures * outFeatures)
        {
            throw new ArgumentException($"Linear weight has {weight.Length} values; [{inFeatures}, {outFeatures}] needs {(long)inFeatures * outFeatures}.", nameof(weight));
        }
        if (bias is not null && bias.Length != outFeatures)
        {
            throw new ArgumentException($"Linear bias has {bias.Length} values; {outFeatures} output features need {outFeatures}.", nameof(bias));
        }
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = weight;
        Bias = bias;
    }

    /// <summary>Input width.</summary>
    public int InFeatures { get; }

    /// <summary>Output width.</summary>
    public int OutFeatures { get; }

    /// <summary>Row-major [in, out].</summary>
    public float[] Weight { get; }

    /// <summary>[out], or null for a layer without bias.</summary>
    public float[]? Bias { get; }

    /// <summary>Random weights N(0, <paramref name="std"/>²); a bias N(0, <paramref name="biasStd"/>²) unless that is null.</summary>
    public static LinearWeights Random(WeightGenerator generator, int inFeatures, int outFeatures, float std, float? biasStd)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(inFeatures, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(outFeatures, 1);
        var weight = generator.Normal(std, inFeatures, outFeatures);
        var bias = biasStd is { } s ? generator.Normal(s, outFeatures) : null;
        return new LinearWeights(inFeatures, outFeatures, weight, bias);
    }
}

/// <summary>Layer normalisation over the last axis: <c>(x − mean)/√(var + ε)·scale + bias</c>.</summary>
public sealed class LayerNormWeights
{
    /// <summary>Wraps existing arrays after checking their lengths.</summary>
    public LayerNormWeights(float[] scale, float[] bias, float epsilon = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(scale);
        ArgumentNullException.ThrowIfNull(bias);
        if (scale.Length == 0 || scale.Length != bias.Length)
        {
            throw new ArgumentException($"LayerNorm scale ({scale.Length} values) and bias ({bias.Length}) must have the same non-zero length.", nameof(bias));
        }
        if (!(epsilon > 0) || !float.IsFinite(epsilon))
        {
            throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "LayerNorm epsilon must be a positive finite number.");
        }
        Scale = scale;
        Bias = bias;
        Epsilon = epsilon;
    }

    /// <summary>Width of the normalised axis.</summary>
    public int Size => Scale.Length;

    /// <summary>γ, [size].</summary>
    public float[] Scale { get; }

    /// <summary>β, [size].</summary>
    public float[] Bias { get; }

    /// <summary>ε added to the variance.</summary>
    public float Epsilon { get; }

    /// <summary>
    /// Random parameters γ = 1 + N(0, j²), β = N(0, j²) with j = <paramref name="jitter"/>; a
    /// non-trivial γ and β make tests see a wrong parameter wiring, which 1 and 0 would hide.
    /// </summary>
    public static LayerNormWeights Random(WeightGenerator generator, int size, float jitter, float epsilon = 1e-5f)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        var scale = generator.Normal(jitter, size);
        for (var i = 0; i < scale.Length; i++)
        {
            scale[i] += 1f;
        }
        return new LayerNormWeights(scale, generator.Normal(jitter, size), epsilon);
    }
}

/// <summary>Multi-head self-attention: Q, K, V and output projections, all [hidden, hidden].</summary>
public sealed class AttentionWeights
{
    /// <summary>Checks that the four projections are square of one width divisible by <paramref name="heads"/>.</summary>
    public AttentionWeights(LinearWeights query, LinearWeights key, LinearWeights value, LinearWeights output, int heads)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        ArgumentNullException.ThrowIfNull(output);
        ArgumentOutOfRangeException.ThrowIfLessThan(heads, 1);
        var hidden = query.InFeatures;
        foreach (var (p, name) in new[] { (query, nameof(query)), (key, nameof(key)), (value, nameof(value)), (output, nameof(output)) })
        {
            if (p.InFeatures != hidden || p.OutFeatures != hidden)
            {
                throw new ArgumentException($"Attention projection '{name}' is [{p.InFeatures}, {p.OutFeatures}]; all four must be [{hidden}, {hidden}].", name);
            }
        }
        if (hidden % heads != 0)
        {
            throw new ArgumentException($"Attention width {hidden} is not divisible by {heads} heads.", nameof(heads));
        }
        Query = query;
        Key = key;
        Value = value;
        Output = output;
        Heads = heads;
    }

    /// <summary>Q projection.</summary>
    public LinearWeights Query { get; }

    /// <summary>K projection.</summary>
    public LinearWeights Key { get; }

    /// <summary>V projection.</summary>
    public LinearWeights Value { get; }

    /// <summary>Output projection.</summary>
    public LinearWeights Output { get; }

    /// <summary>Number of heads.</summary>
    public int Heads { get; }

    /// <summary>Model width.</summary>
    public int Hidden => Query.InFeatures;

    /// <summary>Width of one head.</summary>
    public int HeadSize => Hidden / Heads;

    /// <summary>Random projections with biases, CLIP-style scales (input projections shrink with depth).</summary>
    public static AttentionWeights Random(WeightGenerator generator, int hidden, int heads, int layersForScaling, float biasStd = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layersForScaling, 1);
        var inStd = (float)(1 / Math.Sqrt(hidden) / Math.Sqrt(2.0 * layersForScaling));
        var outStd = (float)(1 / Math.Sqrt(hidden));
        return new AttentionWeights(
            LinearWeights.Random(generator, hidden, hidden, inStd, biasStd),
            LinearWeights.Random(generator, hidden, hidden, inStd, biasStd),
            LinearWeights.Random(generator, hidden, hidden, inStd, biasStd),
            LinearWeights.Random(generator, hidden, hidden, outStd, biasStd),
            heads);
    }
}

/// <summary>A two-layer MLP: <c>fc2(act(fc1(x)))</c>.</summary>
public sealed class MlpWeights
{
    /// <summary>Checks that the layers chain (fc1 out = fc2 in).</summary>
    public MlpWeights(LinearWeights fc1, LinearWeights fc2, Activation activation)
    {
        ArgumentNullException.ThrowIfNull(fc1);
        ArgumentNullException.ThrowIfNull(fc2);
        if (fc1.OutFeatures != fc2.InFeatures)
        {
            throw new ArgumentException($"MLP fc1 gives {fc1.OutFeatures} features but fc2 takes {fc2.InFeatures}.", nameof(fc2));
        }
        if (!Enum.IsDefined(activation))
        {
            throw new ArgumentOutOfRangeException(nameof(activation), activation, "Unknown activation.");
        }
        Fc1 = fc1;
        Fc2 = fc2;
        Activation = activation;
    }

    /// <summary>Expanding layer.</summary>
    public LinearWeights Fc1 { get; }

    /// <summary>Contracting layer.</summary>
    public LinearWeights Fc2 { get; }

    /// <summary>Non-linearity between the two.</summary>
    public Activation Activation { get; }

    /// <summary>Random layers with biases at CLIP-style scales.</summary>
    public static MlpWeights Random(WeightGenerator generator, int hidden, int intermediate, Activation activation, int layersForScaling, float biasStd = 0.02f)
    {
        ArgumentNullException.ThrowIfNull(generator);
        ArgumentOutOfRangeException.ThrowIfLessThan(hidden, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(layersForScaling, 1);
        var fc1Std = (float)(1 / Math.Sqrt(2.0 * hidden));
        var fc2Std = (float)(1 / Math.Sqrt(hidden) / Math.Sqrt(2.0 * layersForScaling));
        return new MlpWeights(
            LinearWeights.Random(generator, hidden, intermediate, fc1Std, biasStd),
            LinearWeights.Random(generator, intermediate, hidden, fc2Std, biasStd),
            activation);
    }
}

/// <summary>One pre-LN transformer encoder layer: <c>h = x + attn(ln1(x)); y = h + mlp(ln2(h))</c>.</summary>
public sealed class EncoderLayerWeights
{
    /// <summary>Checks that the parts agree on the model width.</summary>
    public EncoderLayerWeights(LayerNormWeights norm1, AttentionWeights attention, LayerNormWeights norm2, MlpWeights mlp)
    {
        ArgumentNullException.ThrowIfNull(norm1);
        ArgumentNullException.ThrowIfNull(attention);
        ArgumentNullException.ThrowIfNull(norm2);
        ArgumentNullException.ThrowIfNull(mlp);
        var hidden = attention.Hidden;
        if (norm1.Size != hidden || norm2.Size != hidden || mlp.Fc1.InFeatures != hidden || mlp.Fc2.OutFeatures != hidden)
        {
            throw new ArgumentException($"Encoder layer parts disagree on the width: attention {hidden}, norm1 {norm1.Size}, norm2 {norm2.Size}, MLP {mlp.Fc1.InFeatures}→{mlp.Fc2.OutFeatures}.", nameof(mlp));
        }
        Norm1 = norm1;
        Attention = attention;
        Norm2 = norm2;
        Mlp = mlp;
    }

    /// <summary>LayerNorm before attention (HF CLIP: <c>layer_norm1</c>).</summary>
    public LayerNormWeights Norm1 { get; }

    /// <summary>Self-attention (HF CLIP: <c>self_attn</c>).</summary>
    public AttentionWeights Attention { get; }

    /// <summary>LayerNorm before the MLP (HF CLIP: <c>layer_norm2</c>).</summary>
    public LayerNormWeights Norm2 { get; }

    /// <summary>The MLP.</summary>
    public MlpWeights Mlp { get; }

    /// <summary>A random layer; <paramref name="layersForScaling"/> is the encoder depth.</summary>
    public static EncoderLayerWeights Random(WeightGenerator generator, int hidden, int heads, int intermediate, Activation activation, int layersForScaling, float layerNormJitter = 0.1f)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var norm1 = LayerNormWeights.Random(generator, hidden, layerNormJitter);
        var attention = AttentionWeights.Random(generator, hidden, heads, layersForScaling);
        var norm2 = LayerNormWeights.Random(generator, hidden, layerNormJitter);
        var mlp = MlpWeights.Random(generator, hidden, intermediate, activation, layersForScaling);
        return new EncoderLayerWeights(norm1, attention, norm2, mlp);
    }
}
