namespace SynthVlm.Onnx.Builder.Tests;

/// <summary>Each layer helper, run through ONNX Runtime, against <see cref="NaiveMath"/>.</summary>
public sealed class LayerTests
{
    // Tolerances: float32 kernels against double references on values of order 1 with
    // reductions of at most a few hundred terms; single-op results sit near 1e-6, chained
    // layers (attention) within 1e-5. A wiring mistake (wrong transpose, mask, scale) shows up
    // as errors of order 0.1 or more.
    private const double OpTolerance = 2e-6;
    private const double LayerTolerance = 2e-5;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Linear_matches_naive_for_3d_input_with_and_without_bias(bool withBias)
    {
        var g = new WeightGenerator(1);
        var w = LinearWeights.Random(g, 5, 7, 0.5f, withBias ? 0.3f : null);
        var x = g.Normal(1f, 2, 3, 5);
        var b = new OnnxModelBuilder("linear");
        var input = b.Input("x", TensorDataType.Float, "batch", "seq", 5);
        b.Identity(b.Linear(input, "fc", w), "y");
        b.Output("y", TensorDataType.Float, "batch", "seq", 7);

        var y = OrtRun.Floats(b, [("x", x, [2, 3, 5])], "y")["y"];

        y.Shape.Should().Equal(2, 3, 7);
        y.Values.ShouldBeClose(NaiveMath.Linear(x, 6, w), OpTolerance, "linear");
    }

    [Theory]
    [InlineData(17)]
    [InlineData(13)]
    public void LayerNorm_matches_naive_with_operator_and_with_decomposition(long opset)
    {
        var g = new WeightGenerator(2);
        var w = LayerNormWeights.Random(g, 16, 0.3f);
        var x = g.Normal(3f, 4, 16);
        for (var i = 0; i < x.Length; i++)
        {
            x[i] += 5; // an offset checks that the mean is really removed
        }
        var b = new OnnxModelBuilder("ln", opset);
        var input = b.Input("x", TensorDataType.Float, "rows", 16);
        b.Identity(b.LayerNorm(input, "ln", w), "y");
        b.Output("y", TensorDataType.Float, "rows", 16);

        var y = OrtRun.Floats(b, [("x", x, [4, 16])], "y")["y"];

        y.Values.ShouldBeClose(NaiveMath.LayerNorm(NaiveMath.ToDouble(x), 4, w), 1e-5, $"layer norm, opset {opset}");
    }

    [Fact]
    public void QuickGelu_and_Gelu_match_their_formulas()
    {
        var x = Enumerable.Range(0, 81).Select(i => (i - 40) / 8f).ToArray();
        var b = new OnnxModelBuilder("act");
        var input = b.Input("x", TensorDataType.Float, "n");
        b.Identity(b.Activate(input, Activation.QuickGelu), "quick");
        b.Identity(b.Activate(input, Activation.Gelu), "gelu");
        b.Output("quick", TensorDataType.Float, "n");
        b.Output("gelu", TensorDataType.Float, "n");

        var y = OrtRun.Floats(b, [("x", x, [x.Length])], "quick", "gelu");

        y["quick"].Values.ShouldBeClose(x.Select(v => NaiveMath.QuickGelu(v)).ToArray(), OpTolerance, "quick_gelu");
        y["gelu"].Values.ShouldBeClose(x.Select(v => NaiveMath.Gelu(v)).ToArray(), OpTolerance, "gelu");
        // The two differ by up to ~0.02, so each test above really tells them apart.
        NaiveMath.QuickGelu(1.5).Should().NotBeApproximately(NaiveMath.Gelu(1.5), 0.005);
    }

    [Fact]
    public void Reference_erf_is_accurate()
    {
        // Known values: erf(0.5), erf(1), erf(2), erf(3.5) (Abramowitz & Stegun table 7.1 / DLMF).
        NaiveMath.Erf(0.5).Should().BeApproximately(0.5204998778130465, 1e-13);
        NaiveMath.Erf(1).Should().BeApproximately(0.8427007929497149, 1e-13);
        NaiveMath.Erf(-2).Should().BeApproximately(-0.9953222650189527, 1e-13);
        NaiveMath.Erf(3.5).Should().BeApproximately(0.9999992569016276, 1e-13);
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(true, true)]
    [InlineData(false, true)]
    public void SelfAttention_matches_naive_with_causal_and_padding_masks(bool causal, bool padding)
    {
        const int Batch = 2, Seq = 5, Hidden = 8, Heads = 2;
        var g = new WeightGenerator(3);
        var w = AttentionWeights.Random(g, Hidden, Heads, 1, 0.1f);
        var x = g.Normal(1f, Batch, Seq, Hidden);
        long[] keyMask = [1, 1, 1, 0, 0, 1, 1, 1, 1, 1];
        var b = new OnnxModelBuilder("attn");
        var input = b.Input("x", TensorDataType.Float, "batch", "seq", Hidden);
        var maskInput = b.Input("mask", TensorDataType.Int64, "batch", "seq");
        var masks = new List<string>();
        if (causal)
        {
            masks.Add(b.CausalMask(input, 1));
        }
        if (padding)
        {
            masks.Add(b.KeyPaddingMask(maskInput));
        }
        b.Identity(b.SelfAttention(input, "attn", w, [.. masks]), "y");
        b.Output("y", TensorDataType.Float, "batch", "seq", Hidden);

        var y = OrtRun.Floats(b, [("x", x, [Batch, Seq, Hidden]), ("mask", keyMask, [Batch, Seq])], "y")["y"];

        var expected = NaiveMath.SelfAttention(x, Batch, Seq, w, causal, padding ? keyMask : null);
        y.Values.ShouldBeClose(expected, LayerTolerance, $"attention causal={causal} padding={padding}");
        if (causal || padding)
        {
            // The masks must matter: the unmasked result differs clearly.
            var unmasked = NaiveMath.SelfAttention(x, Batch, Seq, w, false, null);
            y.Values.Zip(unmasked, (a, e) => Math.Abs(a - e)).Max().Should().BeGreaterThan(1e-3);
        }
    }

    [Fact]
    public void Attention_works_for_other_sequence_lengths_in_the_same_session()
    {
        // Reshape targets use 0 (copy) for batch and sequence, so one graph serves any length.
        var g = new WeightGenerator(4);
        var w = AttentionWeights.Random(g, 6, 3, 2);
        var b = new OnnxModelBuilder("attn");
        var input = b.Input("x", TensorDataType.Float, "batch", "seq", 6);
        b.Identity(b.SelfAttention(input, "attn", w, b.CausalMask(input, 1)), "y");
        b.Output("y", TensorDataType.Float, "batch", "seq", 6);
        foreach (var seq in new[] { 1, 3, 9 })
        {
            var x = g.Normal(1f, 3, seq, 6);
            var y = OrtRun.Floats(b, [("x", x, [3, seq, 6])], "y")["y"];
            y.Shape.Should().Equal(3, seq, 6);
            y.Values.ShouldBeClose(NaiveMath.SelfAttention(x, 3, seq, w, true, null), LayerTolerance, $"seq {seq}");
        }
    }

    [Fact]
    public void EncoderLayer_is_pre_layer_norm_residual_attention_then_mlp()
    {
        const int Batch = 2, Seq = 4, Hidden = 8;
        var g = new WeightGenerator(5);
        var w = EncoderLayerWeights.Random(g, Hidden, 2, 16, Activation.QuickGelu, 2, 0.2f);
        var x = g.Normal(1f, Batch, Seq, Hidden);
        var b = new OnnxModelBuilder("layer");
        var input = b.Input("x", TensorDataType.Float, "batch", "seq", Hidden);
        b.Identity(b.EncoderLayer(input, "layer", w, b.CausalMask(input, 1)), "y");
        b.Output("y", TensorDataType.Float, "batch", "seq", Hidden);

        var y = OrtRun.Floats(b, [("x", x, [Batch, Seq, Hidden])], "y")["y"];

        const int Rows = Batch * Seq;
        var h1 = NaiveMath.ToFloat(NaiveMath.LayerNorm(NaiveMath.ToDouble(x), Rows, w.Norm1));
        var attn = NaiveMath.SelfAttention(h1, Batch, Seq, w.Attention, true, null);
        var h = x.Select((v, i) => v + attn[i]).ToArray();
        var h2 = NaiveMath.ToFloat(NaiveMath.LayerNorm(h, Rows, w.Norm2));
        var fc1 = NaiveMath.Linear(h2, Rows, w.Mlp.Fc1).Select(NaiveMath.QuickGelu).ToArray();
        var fc2 = NaiveMath.Linear(NaiveMath.ToFloat(fc1), Rows, w.Mlp.Fc2);
        y.Values.ShouldBeClose(h.Select((v, i) => v + fc2[i]).ToArray(), LayerTolerance, "encoder layer");
    }

    [Fact]
    public void L2Normalize_gives_unit_rows_in_the_input_direction()
    {
        var g = new WeightGenerator(6);
        var x = g.Normal(2f, 3, 10);
        var b = new OnnxModelBuilder("l2");
        var input = b.Input("x", TensorDataType.Float, "rows", 10);
        b.Identity(b.L2Normalize(input), "y");
        b.Output("y", TensorDataType.Float, "rows", 10);

        var y = OrtRun.Floats(b, [("x", x, [3, 10])], "y")["y"];

        var expected = new double[x.Length];
        for (var r = 0; r < 3; r++)
        {
            var norm = Math.Sqrt(Enumerable.Range(0, 10).Sum(i => (double)x[(r * 10) + i] * x[(r * 10) + i]));
            for (var i = 0; i < 10; i++)
            {
                expected[(r * 10) + i] = x[(r * 10) + i] / norm;
            }
        }
        y.Values.ShouldBeClose(expected, OpTolerance, "l2 normalize");
    }

    [Fact]
    public void Vision_embeddings_patchify_prepend_class_token_and_add_positions()
    {
        const int N = 2, C = 3, Size = 8, P = 4, Hidden = 5, Patches = 4;
        var g = new WeightGenerator(7);
        var conv = g.Normal(0.2f, Hidden, C, P, P);
        var convBias = g.Normal(0.1f, Hidden);
        var cls = g.Normal(1f, Hidden);
        var pos = g.Normal(0.5f, Patches + 1, Hidden);
        var pixels = g.Normal(1f, N, C, Size, Size);
        var b = new OnnxModelBuilder("patch");
        var input = b.Input("pixels", TensorDataType.Float, "n", C, Size, Size);
        var h = b.PatchEmbedding(input, "patch", conv, convBias, Hidden, C, P);
        h = b.PrependClassToken(h, "cls", cls);
        b.Identity(b.AddPositionEmbedding(h, "pos", pos, Patches + 1, Hidden), "y");
        b.Output("y", TensorDataType.Float, "n", Patches + 1, Hidden);

        var y = OrtRun.Floats(b, [("pixels", pixels, [N, C, Size, Size])], "y")["y"];

        y.Shape.Should().Equal(N, Patches + 1, Hidden);
        var expected = new double[N * (Patches + 1) * Hidden];
        for (var n = 0; n < N; n++)
        {
            for (var o = 0; o < Hidden; o++)
            {
                expected[(n * (Patches + 1) * Hidden) + o] = cls[o] + pos[o];
            }
            for (var py = 0; py < Size / P; py++)
            {
                for (var px = 0; px < Size / P; px++)
                {
                    var token = 1 + (py * (Size / P)) + px;
                    for (var o = 0; o < Hidden; o++)
                    {
                        double sum = convBias[o];
                        for (var c = 0; c < C; c++)
                        {
                            for (var ky = 0; ky < P; ky++)
                            {
                                for (var kx = 0; kx < P; kx++)
                                {
                                    sum += (double)conv[(((((o * C) + c) * P) + ky) * P) + kx] * pixels[(((((n * C) + c) * Size) + (py * P) + ky) * Size) + (px * P) + kx];
                                }
                            }
                        }
                        expected[(((n * (Patches + 1)) + token) * Hidden) + o] = sum + pos[(token * Hidden) + o];
                    }
                }
            }
        }
        y.Values.ShouldBeClose(expected, 1e-5, "vision embeddings");
    }

    [Fact]
    public void Token_embedding_positions_and_gather_at_argmax_pick_the_right_rows()
    {
        const int Vocab = 10, Hidden = 3, MaxPos = 6;
        var g = new WeightGenerator(8);
        var table = g.Normal(1f, Vocab, Hidden);
        var pos = g.Normal(1f, MaxPos, Hidden);
        long[] ids = [8, 3, 9, 9, 0, 8, 1, 2, 5, 9];
        var b = new OnnxModelBuilder("embed");
        var input = b.Input("ids", TensorDataType.Int64, "batch", "seq");
        var h = b.AddPositionEmbedding(b.Embedding(input, "tok", table, Vocab, Hidden), "pos", pos, MaxPos, Hidden);
        b.Identity(h, "h");
        b.Identity(b.GatherPerRow(h, b.ArgMax(input, 1)), "pooled");
        b.Output("h", TensorDataType.Float, "batch", "seq", Hidden);
        b.Output("pooled", TensorDataType.Float, "batch", Hidden);

        var y = OrtRun.Floats(b, [("ids", ids, [2, 5])], "h", "pooled");

        var expected = new double[2 * 5 * Hidden];
        for (var r = 0; r < 2; r++)
        {
            for (var s = 0; s < 5; s++)
            {
                for (var c = 0; c < Hidden; c++)
                {
                    expected[(((r * 5) + s) * Hidden) + c] = table[(ids[(r * 5) + s] * Hidden) + c] + pos[(s * Hidden) + c];
                }
            }
        }
        y["h"].Values.ShouldBeClose(expected, 1e-6, "embeddings");
        // Row 0: first 9 at position 2 (ties go to the first); row 1: the 9 at position 4.
        var pooled = new[] { 2, 9 }.SelectMany(p => Enumerable.Range(0, Hidden).Select(c => expected[(p * Hidden) + c])).ToArray();
        y["pooled"].Values.ShouldBeClose(pooled, 1e-6, "pooled rows");
    }
}
