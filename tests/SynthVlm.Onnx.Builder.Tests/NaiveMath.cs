using SynthVlm.Onnx.Builder;

namespace SynthVlm.Onnx.Builder.Tests;

/// <summary>
/// Textbook implementations in double precision, written loop by loop from the formulas, to
/// check the ONNX subgraphs against. Activations are row-major [rows, width] or [B, S, H].
/// </summary>
internal static class NaiveMath
{
    public static double[] Linear(ReadOnlySpan<float> x, int rows, LinearWeights w)
    {
        var y = new double[rows * w.OutFeatures];
        for (var r = 0; r < rows; r++)
        {
            for (var o = 0; o < w.OutFeatures; o++)
            {
                double sum = w.Bias?[o] ?? 0;
                for (var i = 0; i < w.InFeatures; i++)
                {
                    sum += (double)x[(r * w.InFeatures) + i] * w.Weight[(i * w.OutFeatures) + o];
                }
                y[(r * w.OutFeatures) + o] = sum;
            }
        }
        return y;
    }

    public static double[] LayerNorm(ReadOnlySpan<double> x, int rows, LayerNormWeights w)
    {
        var n = w.Size;
        var y = new double[rows * n];
        for (var r = 0; r < rows; r++)
        {
            var row = x.Slice(r * n, n);
            double mean = 0;
            foreach (var v in row)
            {
                mean += v;
            }
            mean /= n;
            double variance = 0;
            foreach (var v in row)
            {
                variance += (v - mean) * (v - mean);
            }
            variance /= n;
            var inv = 1 / Math.Sqrt(variance + w.Epsilon);
            for (var i = 0; i < n; i++)
            {
                y[(r * n) + i] = ((row[i] - mean) * inv * w.Scale[i]) + w.Bias[i];
            }
        }
        return y;
    }

    public static double QuickGelu(double x) => x / (1 + Math.Exp(-1.702 * x));

    public static double Gelu(double x) => 0.5 * x * (1 + Erf(x / Math.Sqrt(2)));

    /// <summary>erf by its Maclaurin series (|x| ≤ 3) or the asymptotic continued fraction of erfc; ~1e-13.</summary>
    public static double Erf(double x)
    {
        if (x < 0)
        {
            return -Erf(-x);
        }
        if (x <= 3)
        {
            // erf x = 2/√π Σ (−1)^n x^(2n+1) / (n! (2n+1))
            double term = x, sum = x;
            for (var n = 1; n < 200; n++)
            {
                term *= -x * x / n;
                var add = term / ((2 * n) + 1);
                sum += add;
                if (Math.Abs(add) < 1e-17)
                {
                    break;
                }
            }
            return 2 / Math.Sqrt(Math.PI) * sum;
        }
        // erfc x = e^(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + …)))) evaluated bottom-up.
        double f = 0;
        for (var k = 60; k >= 1; k--)
        {
            f = k / 2.0 / (x + f);
        }
        return 1 - (Math.Exp(-x * x) / Math.Sqrt(Math.PI) / (x + f));
    }

    public static double[] Softmax(ReadOnlySpan<double> scores)
    {
        var max = double.NegativeInfinity;
        foreach (var s in scores)
        {
            max = Math.Max(max, s);
        }
        var p = new double[scores.Length];
        double sum = 0;
        for (var i = 0; i < p.Length; i++)
        {
            p[i] = Math.Exp(scores[i] - max);
            sum += p[i];
        }
        for (var i = 0; i < p.Length; i++)
        {
            p[i] /= sum;
        }
        return p;
    }

    /// <summary>
    /// Self-attention on x [B, S, H]. Masked keys (causal: key &gt; query; padding: keyMask 0) are
    /// left out of the softmax entirely, which is what an additive −1e9 does in float32.
    /// </summary>
    public static double[] SelfAttention(ReadOnlySpan<float> x, int batch, int seq, AttentionWeights w, bool causal, long[]? keyMask)
    {
        var h = w.Hidden;
        var d = w.HeadSize;
        var rows = batch * seq;
        var q = Linear(x, rows, w.Query);
        var k = Linear(x, rows, w.Key);
        var v = Linear(x, rows, w.Value);
        var context = new float[rows * h];
        for (var bi = 0; bi < batch; bi++)
        {
            for (var head = 0; head < w.Heads; head++)
            {
                for (var i = 0; i < seq; i++)
                {
                    var allowed = new List<int>();
                    for (var j = 0; j < seq; j++)
                    {
                        if ((!causal || j <= i) && (keyMask is null || keyMask[(bi * seq) + j] != 0))
                        {
                            allowed.Add(j);
                        }
                    }
                    var scores = new double[allowed.Count];
                    for (var a = 0; a < allowed.Count; a++)
                    {
                        double dot = 0;
                        for (var c = 0; c < d; c++)
                        {
                            dot += q[(((bi * seq) + i) * h) + (head * d) + c] * k[(((bi * seq) + allowed[a]) * h) + (head * d) + c];
                        }
                        scores[a] = dot / Math.Sqrt(d);
                    }
                    var p = Softmax(scores);
                    for (var c = 0; c < d; c++)
                    {
                        double sum = 0;
                        for (var a = 0; a < allowed.Count; a++)
                        {
                            sum += p[a] * v[(((bi * seq) + allowed[a]) * h) + (head * d) + c];
                        }
                        context[(((bi * seq) + i) * h) + (head * d) + c] = (float)sum;
                    }
                }
            }
        }
        return Linear(context, rows, w.Output);
    }

    public static float[] ToFloat(double[] x) => Array.ConvertAll(x, v => (float)v);

    public static double[] ToDouble(float[] x) => Array.ConvertAll(x, v => (double)v);
}
