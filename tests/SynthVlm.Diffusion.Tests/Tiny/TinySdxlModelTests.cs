using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Diffusion.Tiny;
using SynthVlm.Onnx.Builder;

namespace SynthVlm.Diffusion.Tests.Tiny;

/// <summary>The graphs alone (in memory): contract metadata, shapes, and that every input matters.</summary>
public sealed class TinySdxlModelTests
{
    private static readonly TinySdxlConfig Config = new();
    private static readonly Lazy<int> Vocab = new(() => TinySdxl.Tokenizer(Config).Tokens.Count);
    private static readonly Lazy<byte[]> TextEncoder = new(() => TinySdxlModels.BuildTextEncoder(Config, Vocab.Value).ToBytes());
    private static readonly Lazy<byte[]> TextEncoder2 = new(() => TinySdxlModels.BuildTextEncoder2(Config, Vocab.Value).ToBytes());
    private static readonly Lazy<byte[]> BaseUnet = new(() => TinySdxlModels.BuildUnet(Config, refiner: false).ToBytes());
    private static readonly Lazy<byte[]> RefinerUnet = new(() => TinySdxlModels.BuildUnet(Config, refiner: true).ToBytes());
    private static readonly Lazy<byte[]> VaeDecoder = new(() => TinySdxlModels.BuildVaeDecoder(Config).ToBytes());
    private static readonly Lazy<byte[]> VaeEncoder = new(() => TinySdxlModels.BuildVaeEncoder(Config).ToBytes());

    private static int Bos => Vocab.Value - 2;
    private static int Eos => Vocab.Value - 1;

    private static void ShouldBe((string Name, NodeMetadata Meta) item, TensorElementType type, params string[] dims)
    {
        var (name, m) = item;
        m.ElementDataType.Should().Be(type, name);
        m.Dimensions.Should().HaveCount(dims.Length, name);
        for (var i = 0; i < dims.Length; i++)
        {
            if (int.TryParse(dims[i], out var size))
            {
                m.Dimensions[i].Should().Be(size, $"{name} dim {i}");
            }
            else
            {
                m.Dimensions[i].Should().Be(-1, $"{name} dim {i} is dynamic");
                m.SymbolicDimensions[i].Should().Be(dims[i], $"{name} dim {i}");
            }
        }
    }

    private static (string Name, NodeMetadata Meta) Single(IReadOnlyDictionary<string, NodeMetadata> metadata, string name) => (name, metadata[name]);

    private static (string Name, NodeMetadata Meta) First(IReadOnlyList<string> names, IReadOnlyDictionary<string, NodeMetadata> metadata) => (names[0], metadata[names[0]]);

    private static long[] Ids(int batch, long pad, params int[][] content)
    {
        var ids = new long[batch * Config.MaxPositions];
        ids.AsSpan().Fill(pad);
        for (var r = 0; r < batch; r++)
        {
            var row = ids.AsSpan(r * Config.MaxPositions);
            row[0] = Bos;
            for (var i = 0; i < content[r].Length; i++)
            {
                row[1 + i] = content[r][i];
            }
            row[1 + content[r].Length] = Eos;
        }
        return ids;
    }

    private static readonly int[][] TwoTexts = [[17, 305, 6, 999, 42], [73]];

    [Fact]
    public void Text_encoder_metadata_matches_clip_text_with_thirteen_hidden_states()
    {
        using var s = new InferenceSession(TextEncoder.Value);
        s.InputNames.Should().Equal("input_ids");
        ShouldBe(First(s.InputNames, s.InputMetadata), TensorElementType.Int64, "batch_size", "sequence_length");
        var expected = new[] { "last_hidden_state", "pooler_output" }.Concat(Enumerable.Range(0, 13).Select(i => $"hidden_states.{i}"));
        s.OutputNames.Should().Equal(expected);
        ShouldBe(Single(s.OutputMetadata, "last_hidden_state"), TensorElementType.Float, "batch_size", "sequence_length", "24");
        ShouldBe(Single(s.OutputMetadata, "pooler_output"), TensorElementType.Float, "batch_size", "24");
        foreach (var i in new[] { 0, 11, 12 })
        {
            ShouldBe(Single(s.OutputMetadata, $"hidden_states.{i}"), TensorElementType.Float, "batch_size", "sequence_length", "24");
        }
    }

    [Fact]
    public void Text_encoder_2_metadata_matches_clip_text_with_projection_and_thirty_three_hidden_states()
    {
        using var s = new InferenceSession(TextEncoder2.Value);
        s.InputNames.Should().Equal("input_ids");
        ShouldBe(First(s.InputNames, s.InputMetadata), TensorElementType.Int64, "batch_size", "sequence_length");
        var expected = new[] { "text_embeds", "last_hidden_state" }.Concat(Enumerable.Range(0, 33).Select(i => $"hidden_states.{i}"));
        s.OutputNames.Should().Equal(expected);
        // The file labels the projection axis "sequence_length" as optimum's export does; ONNX
        // Runtime's shape inference replaces the label with the inferred width, as it would for a real export.
        ShouldBe(Single(s.OutputMetadata, "text_embeds"), TensorElementType.Float, "batch_size", "40");
        ShouldBe(Single(s.OutputMetadata, "last_hidden_state"), TensorElementType.Float, "batch_size", "sequence_length", "40");
        ShouldBe(Single(s.OutputMetadata, "hidden_states.31"), TensorElementType.Float, "batch_size", "sequence_length", "40");
        ShouldBe(Single(s.OutputMetadata, "hidden_states.32"), TensorElementType.Float, "batch_size", "sequence_length", "40");
    }

    [Theory]
    [InlineData(false, 6, 64)]
    [InlineData(true, 5, 40)]
    public void Unet_metadata_matches_the_new_optimum_contract(bool refiner, int timeIds, int contextWidth)
    {
        using var s = new InferenceSession(refiner ? RefinerUnet.Value : BaseUnet.Value);
        s.InputNames.Should().Equal("sample", "timestep", "encoder_hidden_states", "text_embeds", "time_ids");
        ShouldBe(Single(s.InputMetadata, "sample"), TensorElementType.Float, "batch_size", "4", "height", "width");
        ShouldBe(Single(s.InputMetadata, "timestep"), TensorElementType.Float);
        ShouldBe(Single(s.InputMetadata, "encoder_hidden_states"), TensorElementType.Float, "batch_size", "sequence_length", contextWidth.ToString(System.Globalization.CultureInfo.InvariantCulture));
        ShouldBe(Single(s.InputMetadata, "text_embeds"), TensorElementType.Float, "batch_size", "40");
        ShouldBe(Single(s.InputMetadata, "time_ids"), TensorElementType.Float, "batch_size", timeIds.ToString(System.Globalization.CultureInfo.InvariantCulture));
        s.OutputNames.Should().Equal("out_sample");
        ShouldBe(First(s.OutputNames, s.OutputMetadata), TensorElementType.Float, "batch_size", "4", "height", "width");
    }

    [Fact]
    public void Vae_metadata_matches_the_optimum_contract()
    {
        using var d = new InferenceSession(VaeDecoder.Value);
        d.InputNames.Should().Equal("latent_sample");
        ShouldBe(First(d.InputNames, d.InputMetadata), TensorElementType.Float, "batch_size", "4", "height_latent", "width_latent");
        d.OutputNames.Should().Equal("sample");
        ShouldBe(First(d.OutputNames, d.OutputMetadata), TensorElementType.Float, "batch_size", "3", "height", "width");

        using var e = new InferenceSession(VaeEncoder.Value);
        e.InputNames.Should().Equal("sample");
        ShouldBe(First(e.InputNames, e.InputMetadata), TensorElementType.Float, "batch_size", "3", "height", "width");
        e.OutputNames.Should().Equal("latent_parameters");
        ShouldBe(First(e.OutputNames, e.OutputMetadata), TensorElementType.Float, "batch_size", "8", "height_latent", "width_latent");
    }

    [Fact]
    public void Text_encoders_give_every_output_for_a_batch_of_two_and_each_layer_changes_the_states()
    {
        using var s1 = new InferenceSession(TextEncoder.Value);
        using var s2 = new InferenceSession(TextEncoder2.Value);
        using var ids = OrtTestExtensions.Tensor(Ids(2, Eos, TwoTexts), 2, Config.MaxPositions);
        using var y1 = s1.RunAll(("input_ids", ids));
        using var y2 = s2.RunAll(("input_ids", ids));
        y1["last_hidden_state"].Shape.Should().Equal(2, 77, 24);
        y1["pooler_output"].Shape.Should().Equal(2, 24);
        y2["text_embeds"].Shape.Should().Equal(2, 40);
        y2["last_hidden_state"].Shape.Should().Equal(2, 77, 40);
        for (var i = 0; i <= 12; i++)
        {
            y1[$"hidden_states.{i}"].Shape.Should().Equal(2, 77, 24);
        }
        for (var i = 0; i <= 32; i++)
        {
            y2[$"hidden_states.{i}"].Shape.Should().Equal(2, 77, 40);
        }
        // Each hidden state is a real layer's output: consecutive states differ, and the last
        // one is not the final-LN output the pipeline must avoid.
        for (var i = 1; i <= 32; i++)
        {
            MaxAbsDiff(y2[$"hidden_states.{i - 1}"].ToArray<float>(), y2[$"hidden_states.{i}"].ToArray<float>()).Should().BeGreaterThan(1e-4, $"layer {i}");
        }
        MaxAbsDiff(y1["hidden_states.12"].ToArray<float>(), y1["last_hidden_state"].ToArray<float>()).Should().BeGreaterThan(1e-3);
        // The two texts differ, and so do their rows.
        var embeds = y2["text_embeds"].ToArray<float>();
        MaxAbsDiff(embeds[..40], embeds[40..]).Should().BeGreaterThan(1e-3);
    }

    [Fact]
    public void Pooled_outputs_are_taken_at_eos_so_the_pad_id_does_not_matter()
    {
        using var s1 = new InferenceSession(TextEncoder.Value);
        using var s2 = new InferenceSession(TextEncoder2.Value);
        using var padEos = OrtTestExtensions.Tensor(Ids(2, Eos, TwoTexts), 2, Config.MaxPositions);
        using var padZero = OrtTestExtensions.Tensor(Ids(2, 0, TwoTexts), 2, Config.MaxPositions);
        using var a2 = s2.RunAll(("input_ids", padEos));
        using var b2 = s2.RunAll(("input_ids", padZero));
        using var a1 = s1.RunAll(("input_ids", padEos));
        using var b1 = s1.RunAll(("input_ids", padZero));
        var eosPooled = a2["text_embeds"].ToArray<float>();
        // Causal attention: positions up to EOS see no padding, so the pooled rows agree to
        // rounding (a kernel may reorder sums for different inputs; 1e-6 is far below a change).
        MaxAbsDiff(eosPooled, b2["text_embeds"].ToArray<float>()).Should().BeLessThan(1e-6);
        MaxAbsDiff(a1["pooler_output"].ToArray<float>(), b1["pooler_output"].ToArray<float>()).Should().BeLessThan(1e-6);
        // ... while the padded positions themselves do change, so the pad id reached the graph.
        MaxAbsDiff(a2["last_hidden_state"].ToArray<float>(), b2["last_hidden_state"].ToArray<float>()).Should().BeGreaterThan(1e-3);

        // pooler_output is the final-LN state at the EOS row (row 0: BOS + 5 tokens, EOS at 6), not at position 0.
        var last = a1["last_hidden_state"].ToArray<float>();
        var pooled = a1["pooler_output"].ToArray<float>();
        MaxAbsDiff(pooled[..24], last[(6 * 24)..(7 * 24)]).Should().Be(0);
        MaxAbsDiff(pooled[24..], last[((77 + 2) * 24)..((77 + 3) * 24)]).Should().Be(0);
        MaxAbsDiff(pooled[..24], last[..24]).Should().BeGreaterThan(1e-3);
    }

    private static OrtTestExtensions.NamedOutputs RunUnet(InferenceSession s, UnetInputs x) =>
        s.RunAll(
            ("sample", x.Sample), ("timestep", x.Timestep), ("encoder_hidden_states", x.Context),
            ("text_embeds", x.TextEmbeds), ("time_ids", x.TimeIds));

    [Theory]
    [InlineData(false, 8, 8)]
    [InlineData(false, 5, 7)]
    [InlineData(true, 8, 8)]
    [InlineData(true, 12, 6)]
    public void Unet_runs_for_a_batch_of_two_at_several_latent_sizes(bool refiner, int h, int w)
    {
        using var s = new InferenceSession(refiner ? RefinerUnet.Value : BaseUnet.Value);
        using var x = UnetInputs.Create(refiner, 2, h, w, seed: 1);
        using var y = RunUnet(s, x);
        y["out_sample"].Shape.Should().Equal(2, 4, h, w);
        var values = y["out_sample"].ToArray<float>();
        values.Should().OnlyContain(v => float.IsFinite(v));
        MaxAbsDiff(values[..(4 * h * w)], values[(4 * h * w)..]).Should().BeGreaterThan(1e-3, "the two batch rows have different inputs");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Every_unet_input_changes_the_output(bool refiner)
    {
        using var s = new InferenceSession(refiner ? RefinerUnet.Value : BaseUnet.Value);
        float[] Output(Action<UnetInputs> change)
        {
            using var x = UnetInputs.Create(refiner, 2, 8, 8, seed: 3);
            change(x);
            using var y = RunUnet(s, x);
            return y["out_sample"].ToArray<float>();
        }
        var reference = Output(_ => { });
        // The same inputs again give the same output, so the differences below are the inputs'.
        MaxAbsDiff(reference, Output(_ => { })).Should().Be(0);
        MaxAbsDiff(reference, Output(x => x.Sample.GetSpan<float>()[5] += 1f)).Should().BeGreaterThan(1e-3, "sample");
        MaxAbsDiff(reference, Output(x => x.Timestep.GetSpan<float>()[0] = 499f)).Should().BeGreaterThan(1e-3, "timestep");
        MaxAbsDiff(reference, Output(x => x.Context.GetSpan<float>()[7] += 2f)).Should().BeGreaterThan(1e-3, "encoder_hidden_states");
        MaxAbsDiff(reference, Output(x => x.TextEmbeds.GetSpan<float>()[3] += 1f)).Should().BeGreaterThan(1e-3, "text_embeds");
        var count = refiner ? 5 : 6;
        for (var i = 0; i < count; i++)
        {
            var column = i;
            MaxAbsDiff(reference, Output(x => x.TimeIds.GetSpan<float>()[column] += column == 4 && refiner ? 3.5f : 256f))
                .Should().BeGreaterThan(1e-3, $"time_ids column {i}");
        }
    }

    [Theory]
    [InlineData(8, 8)]
    [InlineData(6, 10)]
    public void Vae_decoder_and_encoder_run_for_a_batch_of_two(int h, int w)
    {
        using var d = new InferenceSession(VaeDecoder.Value);
        using var e = new InferenceSession(VaeEncoder.Value);
        using var latents = OrtTestExtensions.Tensor(new WeightGenerator(5).Normal(1f, 2, 4, h, w), 2, 4, h, w);
        using var image = d.RunAll(("latent_sample", latents));
        image["sample"].Shape.Should().Equal(2, 3, 8 * h, 8 * w);
        var pixels = image["sample"].ToArray<float>();
        pixels.Should().OnlyContain(v => v >= -1f && v <= 1f);
        pixels.Max().Should().BeGreaterThan(pixels.Min() + 0.05f, "the decoder is not constant");

        using var back = OrtTestExtensions.Tensor(pixels, 2, 3, 8 * h, 8 * w);
        using var parameters = e.RunAll(("sample", back));
        parameters["latent_parameters"].Shape.Should().Equal(2, 8, h, w);
        parameters["latent_parameters"].ToArray<float>().Should().OnlyContain(v => float.IsFinite(v));
    }

    [Fact]
    public void Same_config_gives_identical_graph_bytes_and_another_seed_does_not()
    {
        TinySdxlModels.BuildUnet(Config, false).ToBytes().Should().Equal(BaseUnet.Value);
        TinySdxlModels.BuildTextEncoder2(Config, Vocab.Value).ToBytes().Should().Equal(TextEncoder2.Value);
        TinySdxlModels.BuildUnet(Config with { Seed = 7 }, false).ToBytes().Should().NotEqual(BaseUnet.Value);
    }

    [Fact]
    public void Inconsistent_configs_are_rejected_with_the_setting_named()
    {
        var act = () => TinySdxlModels.BuildUnet(Config with { UnetHeads = 3 }, false);
        act.Should().Throw<ArgumentException>().WithMessage("*UnetHeads*UnetChannels*");
        var odd = () => TinySdxlModels.BuildUnet(Config with { AdditionTimeEmbedDim = 7 }, false);
        odd.Should().Throw<ArgumentException>().WithMessage("*AdditionTimeEmbedDim*");
        var vocab = () => TinySdxlModels.BuildTextEncoder(Config, 2);
        vocab.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("vocabSize");
    }

    private static double MaxAbsDiff(float[] a, float[] b)
    {
        a.Should().HaveSameCount(b);
        double max = 0;
        for (var i = 0; i < a.Length; i++)
        {
            max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        }
        return max;
    }

    /// <summary>Random but plausible UNet inputs (CFG-sized batch, SDXL-like time ids) that a test may edit in place.</summary>
    private sealed class UnetInputs : IDisposable
    {
        public required OrtValue Sample { get; init; }
        public required OrtValue Timestep { get; init; }
        public required OrtValue Context { get; init; }
        public required OrtValue TextEmbeds { get; init; }
        public required OrtValue TimeIds { get; init; }

        public static UnetInputs Create(bool refiner, int batch, int h, int w, ulong seed)
        {
            var g = new WeightGenerator(seed);
            var width = refiner ? Config.RefinerCrossAttentionDim : Config.BaseCrossAttentionDim;
            float[] row = refiner ? [64, 64, 0, 0, 6f] : [64, 64, 0, 0, 64, 64];
            var ids = new float[batch * row.Length];
            for (var r = 0; r < batch; r++)
            {
                row.CopyTo(ids, r * row.Length);
            }
            return new UnetInputs
            {
                Sample = OrtTestExtensions.Tensor(g.Normal(1f, batch, 4, h, w), batch, 4, h, w),
                Timestep = OrtTestExtensions.Tensor(new[] { 981f }),
                Context = OrtTestExtensions.Tensor(g.Normal(1f, batch, 77, width), batch, 77, width),
                TextEmbeds = OrtTestExtensions.Tensor(g.Normal(1f, batch, Config.ProjectionDim), batch, Config.ProjectionDim),
                TimeIds = OrtTestExtensions.Tensor(ids, batch, row.Length),
            };
        }

        public void Dispose()
        {
            Sample.Dispose();
            Timestep.Dispose();
            Context.Dispose();
            TextEmbeds.Dispose();
            TimeIds.Dispose();
        }
    }
}
