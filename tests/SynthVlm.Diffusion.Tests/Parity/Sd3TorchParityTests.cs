using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Onnx;
using SynthVlm.Testing;

namespace SynthVlm.Diffusion.Tests.Parity;

/// <summary>
/// The committed fixture of Sd3Fixtures/make_sd3_fixture.py (Debian torch 1.13): a tiny MMDiT (my torch
/// re-implementation of SD3Transformer2DModel's definition at toy size) and a tiny 16-channel VAE decoder exported to
/// ONNX in optimum's layout, plus the torch reference of diffusers' StableDiffusion3Pipeline loop (flow-matching Euler
/// from diffusers' unmodified scheduler file, shift 3, 5 steps, CFG 7, batch 2, 16x16 latents, 77 + 32 text rows).
/// The model folder is loaded in place without text encoders (GenerateFromEmbeddings never runs them).
/// </summary>
public sealed class Sd3TorchParityFixture : IDisposable
{
    public Sd3TorchParityFixture()
    {
        Model = Sd3Model.Load(Path.Combine(Folder, "model"), textEncoders: false);
        Meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "parity.json"))).RootElement;
    }

    public static string Folder { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Diffusion.Tests", "Parity", "Sd3Fixtures");

    public Sd3Model Model { get; }

    public JsonElement Meta { get; }

    public int Int(string name) => Meta.GetProperty(name).GetInt32();

    public static float[] Read(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, name));
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    public void Dispose() => Model.Dispose();
}

/// <summary>
/// Tolerances. Both sides compute in float32; ONNX Runtime's matmul/softmax/conv sum in another order than torch
/// (~1e-7 relative per op), checked directly on single transformer calls at 1e-5. The scheduler is bit-exact with
/// diffusers (FlowMatchParityTests). Guidance 7 amplifies transformer differences 7x per step over 5 steps with
/// latents of order 1–5, so 1e-4 absolute on the final latents is a few float32 ulps. The image goes through the VAE
/// and 8-bit rounding: at most one grey level apart, at rounding boundaries only.
/// </summary>
public sealed class Sd3TorchParityTests(Sd3TorchParityFixture fixture) : IClassFixture<Sd3TorchParityFixture>
{
    private const double LatentTolerance = 1e-4;
    private const double CallTolerance = 1e-5;

    private GenerationSettings Settings => new()
    {
        Width = fixture.Int("width") * 8,
        Height = fixture.Int("height") * 8,
        Steps = fixture.Int("steps"),
        Guidance = fixture.Meta.GetProperty("guidance").GetDouble(),
    };

    private PromptEmbeddings Positive =>
        new(Sd3TorchParityFixture.Read("prompt_embeds.bin"), fixture.Int("joint_width"), Sd3TorchParityFixture.Read("pooled.bin"), fixture.Int("pooled_width"));

    private PromptEmbeddings Negative =>
        new(Sd3TorchParityFixture.Read("negative_prompt_embeds.bin"), fixture.Int("joint_width"), Sd3TorchParityFixture.Read("negative_pooled.bin"), fixture.Int("pooled_width"));

    [Fact]
    public void Model_reads_the_sd3_contract_from_the_folder()
    {
        fixture.Model.LatentChannels.Should().Be(16);
        fixture.Model.JointWidth.Should().Be(fixture.Int("joint_width"));
        fixture.Model.PooledWidth.Should().Be(fixture.Int("pooled_width"));
        fixture.Model.VaeScalingFactor.Should().Be(1.5305);
        fixture.Model.VaeShiftFactor.Should().Be(0.0609);
        fixture.Model.SchedulerConfig.Shift.Should().Be(3.0);
        fixture.Model.HasT5.Should().BeFalse();
        Sd3Model.IsSd3Folder(Path.Combine(Sd3TorchParityFixture.Folder, "model")).Should().BeTrue();
        Sd3Model.IsSd3Folder(Path.Combine(TorchParityFixture.Folder, "model")).Should().BeFalse("the SDXL fixture's model_index.json names StableDiffusionXLPipeline");
    }

    [Fact]
    public void Exported_transformer_matches_torch_for_the_first_cfg_call()
    {
        int batch = 2 * fixture.Int("batch"), c = fixture.Int("channels"), h = fixture.Int("height"), w = fixture.Int("width");
        int s = fixture.Int("sequence"), d = fixture.Int("joint_width"), p = fixture.Int("pooled_width");
        var noise = Sd3TorchParityFixture.Read("noise.bin");
        var expected = Sd3TorchParityFixture.Read("transformer_call_out.bin");
        var actual = RunTransformer(noise.Concat(noise).ToArray(), [batch, c, h, w], Enumerable.Repeat(1000f, batch).ToArray(),
            Negative.Embeds.Concat(Positive.Embeds).ToArray(), [batch, s, d], Negative.Pooled.Concat(Positive.Pooled).ToArray(), [batch, p]);
        actual.Should().HaveCount(expected.Length);
        MaxAbsDiff(actual, expected).Should().BeLessThan(CallTolerance);
        (expected.Max() - expected.Min()).Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void Exported_transformer_matches_torch_at_another_resolution()
    {
        var shape = fixture.Meta.GetProperty("small_shape").EnumerateArray().Select(e => (long)e.GetInt32()).ToArray();
        int s = fixture.Int("sequence"), d = fixture.Int("joint_width"), p = fixture.Int("pooled_width");
        var actual = RunTransformer(Sd3TorchParityFixture.Read("small_in.bin"), shape, [fixture.Meta.GetProperty("small_timestep").GetSingle()],
            Positive.Embeds[..(s * d)], [1, s, d], Positive.Pooled[..p], [1, p]);
        MaxAbsDiff(actual, Sd3TorchParityFixture.Read("small_out.bin")).Should().BeLessThan(CallTolerance);
    }

    [Fact]
    public void GenerateFromEmbeddings_matches_the_torch_denoising_loop_and_vae()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var noise = Sd3TorchParityFixture.Read("noise.bin");
        var copy = (float[])noise.Clone();
        var steps = new List<DiffusionStep>();

        var result = pipeline.GenerateFromEmbeddings(Positive, Negative, noise, Settings, onStep: steps.Add);

        noise.Should().Equal(copy, "the caller's initial latents are not modified");
        steps.Select(x => x.Timestep).Should().Equal(fixture.Meta.GetProperty("timesteps").EnumerateArray().Select(e => (double)e.GetSingle()));
        var expectedLatents = Sd3TorchParityFixture.Read("expected_latents.bin");
        result.FinalLatents.Length.Should().Be(expectedLatents.Length);
        MaxAbsDiff(result.FinalLatents.Span, expectedLatents).Should().BeLessThan(LatentTolerance);
        MaxAbsDiff(expectedLatents.AsSpan(0, expectedLatents.Length / 2), expectedLatents.AsSpan(expectedLatents.Length / 2))
            .Should().BeGreaterThan(0.5, "the two items differ, so the batch order is checked");

        var expectedImage = Sd3TorchParityFixture.Read("expected_image.bin");
        int height = Settings.Height, width = Settings.Width, plane = height * width;
        result.Images.Should().HaveCount(fixture.Int("batch"));
        var worst = 0;
        var differing = 0;
        for (var b = 0; b < result.Images.Count; b++)
        {
            result.Images[b].Error.Should().BeNull();
            using var image = result.Images[b].Image!;
            var pixels = image.Pixels;
            for (var px = 0; px < plane; px++)
            {
                for (var ch = 0; ch < 3; ch++)
                {
                    var want = (int)Math.Round(expectedImage[(((b * 3) + ch) * plane) + px] * 255.0, MidpointRounding.ToEven);
                    var diff = Math.Abs(pixels[(px * 3) + ch] - want);
                    worst = Math.Max(worst, diff);
                    differing += diff > 0 ? 1 : 0;
                }
            }
        }

        worst.Should().BeLessThanOrEqualTo(1);
        differing.Should().BeLessThan(expectedImage.Length / 100);
    }

    [Fact]
    public void Guidance_needs_a_negative_and_the_scheduler_must_be_flow_matching()
    {
        var pipeline = new Sd3Pipeline(fixture.Model);
        var noise = Sd3TorchParityFixture.Read("noise.bin");

        var noNegative = () => pipeline.GenerateFromEmbeddings(Positive, null, noise, Settings);
        noNegative.Should().Throw<ArgumentException>().WithParameterName("negative");

        var euler = () => pipeline.GenerateFromEmbeddings(Positive, Negative, noise, Settings with { Scheduler = "euler" });
        euler.Should().Throw<ArgumentException>().WithMessage("*not a flow-matching scheduler*");

        var wrongWidth = () => pipeline.GenerateFromEmbeddings(Positive with { Width = 40 }, Negative, noise, Settings);
        wrongWidth.Should().Throw<ArgumentException>().WithMessage("*width 40*");

        var unguided = pipeline.GenerateFromEmbeddings(Positive, null, noise, Settings with { Guidance = 1 });
        unguided.Images.Should().OnlyContain(i => i.Error == null);
        unguided.Images.ToList().ForEach(i => i.Image!.Dispose());
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

    private float[] RunTransformer(float[] sample, long[] sampleShape, float[] timesteps, float[] context, long[] contextShape, float[] pooled, long[] pooledShape)
    {
        using var x = OrtTestExtensions.Tensor(sample, sampleShape);
        using var t = OrtTestExtensions.Tensor(timesteps, timesteps.Length);
        using var ctx = OrtTestExtensions.Tensor(context, contextShape);
        using var pool = OrtTestExtensions.Tensor(pooled, pooledShape);
        using var outputs = fixture.Model.Transformer.Run(
            new Dictionary<string, OrtValue> { ["hidden_states"] = x, ["timestep"] = t, ["encoder_hidden_states"] = ctx, ["pooled_projections"] = pool },
            ["out_hidden_states"], CancellationToken.None);
        return TensorIo.Output(outputs[0]);
    }
}
