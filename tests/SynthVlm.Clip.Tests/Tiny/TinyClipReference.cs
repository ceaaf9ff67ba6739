using SynthVlm.Clip.Tiny;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Clip.Tests.Tiny;

/// <summary>
/// HF CLIPModel's forward pass written out in plain C# (double precision) on the weights of a
/// <see cref="TinyClipWeights"/>, to compare the ONNX graph against. Matrices are row-major
/// double[rows × width]; masked attention keys are left out of the softmax.
/// </summary>
internal sealed class TinyClipReference(TinyClipWeights weights)
{
    private TinyClipConfig Config => weights.Config;

    /// <summary>Projected, L2-normalised text embeddings [texts, projection].</summary>
    public double[][] TextEmbeds(long[][] ids, long[][] mask) =>
        [.. ids.Select((row, i) => Normalize(TextProjected(row, mask[i], pool: null)))];

    /// <summary>The projected text state (before normalisation) pooled at <paramref name="pool"/> (default: first argmax).</summary>
    public double[] TextProjected(long[] ids, long[] mask, int? pool)
    {
        var s = ids.Length;
        var th = Config.TextHidden;
        var h = new double[s * th];
        for (var t = 0; t < s; t++)
        {
            for (var c = 0; c < th; c++)
            {
                h[(t * th) + c] = weights.TokenEmbedding[(ids[t] * th) + c] + weights.TextPositionEmbedding[(t * th) + c];
            }
        }
        foreach (var layer in weights.TextLayers)
        {
            h = EncoderLayer(h, s, layer, causal: true, mask);
        }
        h = LayerNorm(h, s, weights.TextFinalNorm);
        var eos = pool ?? Array.IndexOf(ids, ids.Max());
        return Linear(h.AsSpan(eos * th, th), 1, weights.TextProjection);
    }

    /// <summary>Projected, L2-normalised image embeddings [images, projection] for pixels [N, 3, S, S].</summary>
    public double[][] ImageEmbeds(float[] pixels, int images)
    {
        var size = Config.ImageSize;
        var p = Config.PatchSize;
        var side = Config.PatchesPerSide;
        var vh = Config.VisionHidden;
        var tokens = Config.VisionPositions;
        var result = new double[images][];
        for (var n = 0; n < images; n++)
        {
            var h = new double[tokens * vh];
            for (var o = 0; o < vh; o++)
            {
                h[o] = weights.ClassEmbedding[o];
            }
            for (var py = 0; py < side; py++)
            {
                for (var px = 0; px < side; px++)
                {
                    var token = 1 + (py * side) + px;
                    for (var o = 0; o < vh; o++)
                    {
                        double sum = 0;
                        for (var c = 0; c < 3; c++)
                        {
                            for (var ky = 0; ky < p; ky++)
                            {
                                var pixelRow = (((((n * 3) + c) * size) + (py * p) + ky) * size) + (px * p);
                                var weightRow = ((((o * 3) + c) * p) + ky) * p;
                                for (var kx = 0; kx < p; kx++)
                                {
                                    sum += (double)weights.PatchEmbedding[weightRow + kx] * pixels[pixelRow + kx];
                                }
                            }
                        }
                        h[(token * vh) + o] = sum;
                    }
                }
            }
            for (var i = 0; i < h.Length; i++)
            {
                h[i] += weights.VisionPositionEmbedding[i];
            }
            h = LayerNorm(h, tokens, weights.VisionPreNorm);
            foreach (var layer in weights.VisionLayers)
            {
                h = EncoderLayer(h, tokens, layer, causal: false, keyMask: null);
            }
            var cls = LayerNorm(h.AsSpan(0, vh), 1, weights.VisionPostNorm);
            result[n] = Normalize(Linear(cls, 1, weights.VisualProjection));
        }
        return result;
    }

    /// <summary>logits_per_text[t, i] = e^logit_scale · ⟨text t, image i⟩.</summary>
    public double[][] LogitsPerText(double[][] text, double[][] image)
    {
        var scale = Math.Exp(Config.LogitScale);
        return [.. text.Select(t => image.Select(im => scale * t.Zip(im, (a, b) => a * b).Sum()).ToArray())];
    }

    private static double[] EncoderLayer(double[] x, int seq, EncoderLayerWeights w, bool causal, long[]? keyMask)
    {
        var attn = Attention(LayerNorm(x, seq, w.Norm1), seq, w.Attention, causal, keyMask);
        var h = x.Select((v, i) => v + attn[i]).ToArray();
        var inner = Linear(LayerNorm(h, seq, w.Norm2), seq, w.Mlp.Fc1);
        for (var i = 0; i < inner.Length; i++)
        {
            inner[i] = inner[i] / (1 + Math.Exp(-1.702 * inner[i]));
        }
        var mlp = Linear(inner, seq, w.Mlp.Fc2);
        return [.. h.Select((v, i) => v + mlp[i])];
    }

    private static double[] Attention(double[] x, int seq, AttentionWeights w, bool causal, long[]? keyMask)
    {
        var hidden = w.Hidden;
        var d = w.HeadSize;
        var q = Linear(x, seq, w.Query);
        var k = Linear(x, seq, w.Key);
        var v = Linear(x, seq, w.Value);
        var context = new double[seq * hidden];
        for (var head = 0; head < w.Heads; head++)
        {
            for (var i = 0; i < seq; i++)
            {
                var keys = Enumerable.Range(0, seq).Where(j => (!causal || j <= i) && (keyMask is null || keyMask[j] != 0)).ToArray();
                var scores = keys.Select(j => Enumerable.Range(0, d).Sum(c => q[(i * hidden) + (head * d) + c] * k[(j * hidden) + (head * d) + c]) / Math.Sqrt(d)).ToArray();
                var max = scores.Max();
                var e = scores.Select(s => Math.Exp(s - max)).ToArray();
                var total = e.Sum();
                for (var c = 0; c < d; c++)
                {
                    double sum = 0;
                    for (var a = 0; a < keys.Length; a++)
                    {
                        sum += e[a] / total * v[(keys[a] * hidden) + (head * d) + c];
                    }
                    context[(i * hidden) + (head * d) + c] = sum;
                }
            }
        }
        return Linear(context, seq, w.Output);
    }

    private static double[] Linear(ReadOnlySpan<double> x, int rows, LinearWeights w)
    {
        var y = new double[rows * w.OutFeatures];
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < w.OutFeatures; o++)
            {
                double sum = w.Bias?[o] ?? 0;
                for (var i = 0; i < w.InFeatures; i++)
                {
                    sum += x[(r * w.InFeatures) + i] * w.Weight[(i * w.OutFeatures) + o];
                }
                y[(r * w.OutFeatures) + o] = sum;
            }
        }
        return y;
    }

    private static double[] LayerNorm(ReadOnlySpan<double> x, int rows, LayerNormWeights w)
    {
        var n = w.Size;
        var y = new double[rows * n];
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * n, n);
            var mean = 0.0;
            foreach (var v in row)
            {
                mean += v;
            }
            mean /= n;
            var variance = 0.0;
            foreach (var v in row)
            {
                variance += (v - mean) * (v - mean);
            }
            var inv = 1 / Math.Sqrt((variance / n) + w.Epsilon);
            for (var i = 0; i < n; i++)
            {
                y[(r * n) + i] = ((row[i] - mean) * inv * w.Scale[i]) + w.Bias[i];
            }
        }
        return y;
    }

    private static double[] Normalize(double[] x)
    {
        var norm = Math.Sqrt(x.Sum(v => v * v));
        return [.. x.Select(v => v / norm)];
    }
}
