using SynthVlm.Diffusion.Tiny;
using SynthVlm.Onnx;

namespace SynthVlm.Diffusion.Tests.Pipeline;

/// <summary>One tiny SD3 folder (TinySd3, optimum layout) shared by the end-to-end tests; deleted afterwards.</summary>
public sealed class TinySd3Fixture : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sd3-pipeline-");

    public TinySd3Fixture()
    {
        Folder = TinySd3.EnsureTiny(Path.Combine(_dir.FullName, "tiny-sd3"));
        Model = Sd3Model.Load(Folder);
    }

    public string Folder { get; }

    public Sd3Model Model { get; }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Delete(recursive: true);
    }
}

/// <summary>End to end through <see cref="Sd3Pipeline.Generate"/> on the tiny SD3: three text encoders, CFG, flow-matching loop, VAE.</summary>
public sealed class Sd3PipelineTests(TinySd3Fixture fixture) : IClassFixture<TinySd3Fixture>
{
    private static readonly GenerationSettings Settings = new() { Width = 64, Height = 48, Steps = 4, Guidance = 7, MaxSequenceLength = 16 };

    [Fact]
    public void Tiny_sd3_loads_with_the_sd3_contract()
    {
        Sd3Model.IsSd3Folder(fixture.Folder).Should().BeTrue();
        fixture.Model.HasT5.Should().BeTrue();
        fixture.Model.LatentChannels.Should().Be(16);
        fixture.Model.JointWidth.Should().Be(TinySd3.JointWidth);
        fixture.Model.PooledWidth.Should().Be(TinySd3.PooledWidth);
        fixture.Model.SchedulerConfig.ClassName.Should().Be("FlowMatchEulerDiscreteScheduler");
        fixture.Model.VaeShiftFactor.Should().Be(0.0609);
    }

    [Fact]
    public void Generate_makes_one_image_per_prompt_and_a_seed_gives_the_same_picture_in_any_batch()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var steps = new List<DiffusionStep>();
        var batch = pipeline.Generate(["a photo of a cat", "two dogs on a street"], [7UL, 8UL], Settings, steps.Add);
        var alone = pipeline.Generate(["two dogs on a street"], [8UL], Settings);

        batch.Images.Should().HaveCount(2);
        steps.Should().HaveCount(4);
        steps.Select(s => s.Timestep).First().Should().Be(1000);
        batch.Images.Should().OnlyContain(i => i.Error == null && i.Image != null && i.Image.Width == 64 && i.Image.Height == 48);
        batch.Images[1].Image!.Pixels.ToArray().Should().Equal(alone.Images[0].Image!.Pixels.ToArray());
        batch.Images[0].Image!.Pixels.ToArray().Should().NotEqual(batch.Images[1].Image!.Pixels.ToArray());
        var latents = batch.FinalLatents.ToArray();
        latents.Should().HaveCount(2 * 16 * 6 * 8).And.OnlyContain(v => float.IsFinite(v));
        Dispose(batch, alone);
    }

    [Fact]
    public void Skipping_t5_zero_fills_its_rows_the_same_way_at_load_and_per_call()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var withT5 = pipeline.Generate(["a red car"], [3UL], Settings);
        var skipped = pipeline.Generate(["a red car"], [3UL], Settings with { SkipT5 = true });
        using var noT5Model = Sd3Model.Load(fixture.Folder, skipT5: true);
        noT5Model.HasT5.Should().BeFalse();
        var loadedWithout = new Sd3Pipeline(noT5Model).Generate(["a red car"], [3UL], Settings);

        skipped.FinalLatents.ToArray().Should().Equal(loadedWithout.FinalLatents.ToArray());
        MaxAbsDiff(withT5.FinalLatents.Span, skipped.FinalLatents.Span).Should().BeGreaterThan(1e-4, "T5 conditioning reaches the transformer");
        Dispose(withT5, skipped, loadedWithout);
    }

    [Fact]
    public void Negative_prompt_and_guidance_change_the_result()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var plain = pipeline.Generate(["a blue sky"], [5UL], Settings);
        var negative = pipeline.Generate(["a blue sky"], [5UL], Settings with { NegativePrompt = "a tree" });
        var unguided = pipeline.Generate(["a blue sky"], [5UL], Settings with { Guidance = 1 });
        var longPrompt = pipeline.Generate(["a blue sky", string.Join(' ', Enumerable.Repeat("a red car", 10))], [5UL, 5UL], Settings);
        longPrompt.Images.Select(i => i.PromptTruncated).Should().Equal([false, true], "30 T5 pieces do not fit 16 rows");
        Dispose(longPrompt);
        MaxAbsDiff(plain.FinalLatents.Span, negative.FinalLatents.Span).Should().BeGreaterThan(1e-4);
        MaxAbsDiff(plain.FinalLatents.Span, unguided.FinalLatents.Span).Should().BeGreaterThan(1e-4);
        Dispose(plain, negative, unguided);
    }

    [Fact]
    public void Bad_inputs_are_rejected_with_the_reason()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var counts = () => pipeline.Generate(["a", "b"], [1UL], Settings);
        counts.Should().Throw<ArgumentException>().WithMessage("*2 prompts and 1 seeds*");
        var length = () => pipeline.Generate(["a"], [1UL], Settings with { MaxSequenceLength = 0 });
        length.Should().Throw<ArgumentException>().WithMessage("*max sequence length*");
        var missing = () => Sd3Model.Load(Path.Combine(fixture.Folder, "no-such-folder"));
        missing.Should().Throw<DiffusionException>().WithMessage("*model folder not found*");
        using var transformerOnly = Sd3Model.Load(fixture.Folder, textEncoders: false);
        var noEncoders = () => new Sd3Pipeline(transformerOnly).Generate(["a"], [1UL], Settings);
        noEncoders.Should().Throw<InvalidOperationException>().WithMessage("*without text encoders*");
    }

    [Fact]
    public void T5_tokenizer_appends_eos_pads_with_zero_and_cuts_long_prompts()
    {
        var tokenizer = T5PromptTokenizer.FromFolder(Path.Combine(fixture.Folder, "tokenizer_3"));
        tokenizer.PadId.Should().Be(0);
        tokenizer.EosId.Should().Be(1);
        var ids = new long[2 * 6];
        var cut = tokenizer.EncodeBatch(["a cat", "a cat on a red table with a dog"], ids, 6);

        cut.Should().Equal(false, true);
        var pieces = TinySd3.T5Pieces();
        ids[..6].Select(i => pieces[(int)i].Piece).Should().Equal("\u2581a", "\u2581cat", "</s>", "<pad>", "<pad>", "<pad>");
        ids[6..].Select(i => pieces[(int)i].Piece).Should().Equal("\u2581a", "\u2581cat", "\u2581on", "\u2581a", "\u2581red", "</s>");
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double worst = a.Length == b.Length ? 0 : double.PositiveInfinity;
        for (var i = 0; i < Math.Min(a.Length, b.Length); i++)
        {
            worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        }

        return worst;
    }

    private static void Dispose(params GenerationBatch[] batches)
    {
        foreach (var image in batches.SelectMany(b => b.Images))
        {
            image.Image?.Dispose();
        }
    }
}

/// <summary>
/// encode_prompt's layout, checked against the encoders run one by one and assembled as diffusers' definition says
/// (CLIP-L penultimate ‖ CLIP-G penultimate, zero-padded to the T5 width; then T5 rows; pooled = both text_embeds),
/// and Generate = GenerateFromEmbeddings(EncodePrompt(prompt), EncodePrompt("")) with the seed's torch noise.
/// </summary>
public sealed class Sd3EncodePromptTests(TinySd3Fixture fixture) : IClassFixture<TinySd3Fixture>
{
    private const int T5Rows = 16;
    private static readonly GenerationSettings Settings = new() { Width = 32, Height = 32, Steps = 3, Guidance = 5, MaxSequenceLength = T5Rows };

    [Fact]
    public void EncodePrompt_concatenates_pads_and_appends_t5_as_diffusers_does()
    {
        string[] texts = ["a cat", "a large green tree in the street"];
        var model = fixture.Model;
        var e = new Sd3Pipeline(model).EncodePrompt(texts, Settings);
        int n = texts.Length, seq = 77 + T5Rows, joint = TinySd3.JointWidth;
        e.Embeds.Should().HaveCount(n * seq * joint);
        e.Pooled.Should().HaveCount(n * TinySd3.PooledWidth);

        var (l, lPooled) = RunClip(model.TextEncoder!, "tokenizer", texts, "hidden_states.1");
        var (g, gPooled) = RunClip(model.TextEncoder2!, "tokenizer_2", texts, "hidden_states.2");
        var t5 = RunT5(texts);
        const int wl = TinySd3.ClipLWidth, wg = TinySd3.ClipGWidth;
        for (var b = 0; b < n; b++)
        {
            for (var r = 0; r < seq; r++)
            {
                var row = e.Embeds.AsSpan(((b * seq) + r) * joint, joint);
                if (r < 77)
                {
                    row[..wl].ToArray().Should().Equal(l.AsSpan(((b * 77) + r) * wl, wl).ToArray());
                    row[wl..(wl + wg)].ToArray().Should().Equal(g.AsSpan(((b * 77) + r) * wg, wg).ToArray());
                    row[(wl + wg)..].ToArray().Should().OnlyContain(v => v == 0f);
                }
                else
                {
                    row.ToArray().Should().Equal(t5.AsSpan(((b * T5Rows) + r - 77) * joint, joint).ToArray());
                }
            }

            e.Pooled.AsSpan(b * TinySd3.PooledWidth, wl).ToArray().Should().Equal(lPooled.AsSpan(b * wl, wl).ToArray());
            e.Pooled.AsSpan((b * TinySd3.PooledWidth) + wl, wg).ToArray().Should().Equal(gPooled.AsSpan(b * wg, wg).ToArray());
        }

        var skipped = new Sd3Pipeline(model).EncodePrompt(texts, Settings with { SkipT5 = true });
        skipped.Embeds.AsSpan(77 * joint, T5Rows * joint).ToArray().Should().OnlyContain(v => v == 0f);
        skipped.Embeds.AsSpan(0, 77 * joint).ToArray().Should().Equal(e.Embeds.AsSpan(0, 77 * joint).ToArray());
    }

    [Fact]
    public void Generate_equals_GenerateFromEmbeddings_of_the_encoded_prompt_and_empty_negative()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var latents = new float[16 * 4 * 4];
        new TorchGaussianNoise(21).Fill(latents);
        var direct = pipeline.Generate(["a small dog"], [21UL], Settings);
        var viaEmbeddings = pipeline.GenerateFromEmbeddings(pipeline.EncodePrompt(["a small dog"], Settings), pipeline.EncodePrompt([""], Settings), latents, Settings);
        direct.FinalLatents.ToArray().Should().Equal(viaEmbeddings.FinalLatents.ToArray());
        direct.Images[0].Image!.Dispose();
        viaEmbeddings.Images[0].Image!.Dispose();
    }

    private (float[] Hidden, float[] Pooled) RunClip(Microsoft.ML.OnnxRuntime.InferenceSession session, string tokenizerFolder, string[] texts, string hidden)
    {
        var tokenizer = Tokenizers.ClipTokenizer.FromFolder(Path.Combine(fixture.Folder, tokenizerFolder));
        var ids = new long[texts.Length * 77];
        tokenizer.EncodeBatch(texts, ids, Span<long>.Empty, 77, new bool[texts.Length]);
        using var input = OrtTestExtensions.Tensor(ids, texts.Length, 77);
        using var outputs = session.Run(new Dictionary<string, Microsoft.ML.OnnxRuntime.OrtValue> { ["input_ids"] = input }, [hidden, "text_embeds"], CancellationToken.None);
        return (outputs[0].GetTensorDataAsSpan<float>().ToArray(), outputs[1].GetTensorDataAsSpan<float>().ToArray());
    }

    private float[] RunT5(string[] texts)
    {
        var ids = new long[texts.Length * T5Rows];
        T5PromptTokenizer.FromFolder(Path.Combine(fixture.Folder, "tokenizer_3")).EncodeBatch(texts, ids, T5Rows);
        using var input = OrtTestExtensions.Tensor(ids, texts.Length, T5Rows);
        using var outputs = fixture.Model.TextEncoder3!.Run(new Dictionary<string, Microsoft.ML.OnnxRuntime.OrtValue> { ["input_ids"] = input }, ["last_hidden_state"], CancellationToken.None);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }
}
