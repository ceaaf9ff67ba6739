using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Onnx;
using SynthVlm.Testing;

namespace SynthVlm.Diffusion.Tests.Parity;

/// <summary>
/// The committed fixture of Fixtures/make_unet_vae_fixture.py (Debian torch 1.13): a tiny UNet with the SDXL
/// contract and a tiny VAE decoder exported to ONNX, plus the torch reference of diffusers'
/// StableDiffusionXLPipeline base loop (Euler from diffusers' unmodified scheduler file, 4 steps, CFG 5, batch 2,
/// 16x16 latents). The test assembles a model folder from those parts and the tiny base's text encoders and
/// tokenizers (which GenerateFromEmbeddings never runs, but SdxlModel.Load requires).
/// </summary>
public sealed class TorchParityFixture : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sdxl-torch-parity-");

    public TorchParityFixture()
    {
        var tiny = DefaultSdxlModels.EnsureTinyBase(Path.Combine(_dir.FullName, "tiny"));
        var folder = Path.Combine(_dir.FullName, "model");
        foreach (var part in new[] { "text_encoder", "text_encoder_2", "tokenizer", "tokenizer_2" })
        {
            CopyTree(Path.Combine(tiny, part), Path.Combine(folder, part));
        }
        CopyTree(Path.Combine(Folder, "model"), folder);
        Model = SdxlModel.Load(folder);
        Meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "parity.json"))).RootElement;
    }

    public static string Folder { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Diffusion.Tests", "Parity", "Fixtures");

    public SdxlModel Model { get; }

    public JsonElement Meta { get; }

    public int Int(string name) => Meta.GetProperty(name).GetInt32();

    public static float[] Read(string name)
    {
        var bytes = File.ReadAllBytes(Path.Combine(Folder, name));
        var values = new float[bytes.Length / sizeof(float)];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        if (!BitConverter.IsLittleEndian)
        {
            throw new PlatformNotSupportedException("the fixture is little-endian float32");
        }
        return values;
    }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Delete(recursive: true);
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.GetFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target, overwrite: true);
        }
    }
}

/// <summary>
/// Tolerances. Everything is float32 on both sides, but not bit-identical: ONNX Runtime's conv/matmul/softmax
/// kernels sum in a different order than torch's (~1e-7 relative per op, checked directly by the UNet-call test
/// at 1e-5), and the C# Euler keeps its sigma table in float64 where diffusers rounds it to float32 (~1e-7
/// relative, see the shared scheduler doc). The latents reach |x| ≈ 16 after 4 steps with guidance 5 amplifying
/// UNet differences 5x, so 1e-4 absolute on the latents is a few float32 ulps at that magnitude times the step
/// count. The image goes through /0.13025 (x7.7) and the VAE before being rounded to 8 bits, so a value right at
/// a rounding boundary may land one grey level apart; more than one level would be a real difference.
/// </summary>
public sealed class TorchParityTests(TorchParityFixture fixture) : IClassFixture<TorchParityFixture>
{
    private const double LatentTolerance = 1e-4;
    private const double UnetTolerance = 1e-5;

    private GenerationSettings Settings => new()
    {
        Width = fixture.Int("width") * 8,
        Height = fixture.Int("height") * 8,
        Steps = fixture.Int("steps"),
        Guidance = fixture.Meta.GetProperty("guidance").GetDouble(),
    };

    private PromptEmbeddings Positive =>
        new(TorchParityFixture.Read("prompt_embeds.bin"), fixture.Int("embed_width"), TorchParityFixture.Read("pooled.bin"), fixture.Int("pooled_width"));

    private PromptEmbeddings Negative =>
        new(TorchParityFixture.Read("negative_prompt_embeds.bin"), fixture.Int("embed_width"), TorchParityFixture.Read("negative_pooled.bin"), fixture.Int("pooled_width"));

    [Fact]
    public void Exported_unet_graph_matches_torch_for_one_call()
    {
        var batch = 2 * fixture.Int("batch");
        int c = fixture.Int("channels"), h = fixture.Int("height"), w = fixture.Int("width"), d = fixture.Int("embed_width"), p = fixture.Int("pooled_width");
        var timeIds = fixture.Meta.GetProperty("time_ids").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        var ids = Enumerable.Repeat(timeIds, batch).SelectMany(x => x).ToArray();
        var context = Negative.Embeds.Concat(Positive.Embeds).ToArray();
        var pooled = Negative.Pooled.Concat(Positive.Pooled).ToArray();
        var unet = fixture.Model.Unet;

        using var sample = OrtTestExtensions.Tensor(TorchParityFixture.Read("unet_call_sample.bin"), batch, c, h, w);
        using var timestep = OrtTestExtensions.Tensor(new[] { fixture.Meta.GetProperty("unet_call_timestep").GetSingle() });
        using var ctx = OrtTestExtensions.Tensor(context, batch, 77, d);
        using var text = OrtTestExtensions.Tensor(pooled, batch, p);
        using var idsValue = OrtTestExtensions.Tensor(ids, batch, 6);
        using var outputs = unet.Run(
            new Dictionary<string, OrtValue> { ["sample"] = sample, ["timestep"] = timestep, ["encoder_hidden_states"] = ctx, ["text_embeds"] = text, ["time_ids"] = idsValue },
            ["out_sample"], CancellationToken.None);
        var actual = TensorIo.Output(outputs[0]);
        var expected = TorchParityFixture.Read("unet_call_out.bin");

        actual.Should().HaveCount(expected.Length);
        MaxAbsDiff(actual, expected).Should().BeLessThan(UnetTolerance);
        // Guards against a degenerate fixture where every output is (near) equal.
        (expected.Max() - expected.Min()).Should().BeGreaterThan(0.1f);
    }

    [Fact]
    public void GenerateFromEmbeddings_matches_the_torch_denoising_loop_and_vae()
    {
        var pipeline = new SdxlPipeline(fixture.Model);
        var noise = TorchParityFixture.Read("noise.bin");
        var copy = (float[])noise.Clone();
        var steps = new List<DiffusionStep>();

        var result = pipeline.GenerateFromEmbeddings(Positive, Negative, noise, Settings, onStep: steps.Add);

        noise.Should().Equal(copy, "the caller's initial latents are not modified");
        steps.Select(s => s.Timestep).Should().Equal(fixture.Meta.GetProperty("timesteps").EnumerateArray().Select(e => e.GetDouble()));
        var expectedLatents = TorchParityFixture.Read("expected_latents.bin");
        result.FinalLatents.Length.Should().Be(expectedLatents.Length);
        MaxAbsDiff(result.FinalLatents.Span, expectedLatents).Should().BeLessThan(LatentTolerance);

        var expectedImage = TorchParityFixture.Read("expected_image.bin");
        int height = Settings.Height, width = Settings.Width, plane = height * width;
        result.Images.Should().HaveCount(fixture.Int("batch"));
        var worst = 0;
        var differing = 0;
        for (var b = 0; b < result.Images.Count; b++)
        {
            result.Images[b].Error.Should().BeNull();
            using var image = result.Images[b].Image!;
            image.Width.Should().Be(width);
            image.Height.Should().Be(height);
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
        // Off-by-one only at rounding boundaries: a tiny share of the 98,304 values.
        differing.Should().BeLessThan(expectedImage.Length / 100);
    }

    [Fact]
    public void The_two_items_differ_so_the_batch_order_is_checked()
    {
        var expected = TorchParityFixture.Read("expected_latents.bin");
        var half = expected.Length / 2;
        MaxAbsDiff(expected.AsSpan(0, half), expected.AsSpan(half)).Should().BeGreaterThan(0.5);
    }

    [Fact]
    public void Null_negative_with_force_zeros_equals_explicit_zero_negative()
    {
        var pipeline = new SdxlPipeline(fixture.Model);
        var noise = TorchParityFixture.Read("noise.bin");
        var positive = Positive;
        var zeros = new PromptEmbeddings(new float[positive.Embeds.Length], positive.Width, new float[positive.Pooled.Length], positive.PooledWidth);

        var implicitZeros = pipeline.GenerateFromEmbeddings(positive, null, noise, Settings);
        var explicitZeros = pipeline.GenerateFromEmbeddings(positive, zeros, noise, Settings);
        var withNegative = pipeline.GenerateFromEmbeddings(positive, Negative, noise, Settings);

        implicitZeros.FinalLatents.ToArray().Should().Equal(explicitZeros.FinalLatents.ToArray());
        MaxAbsDiff(implicitZeros.FinalLatents.Span, withNegative.FinalLatents.Span).Should().BeGreaterThan(1e-3);
    }

    [Fact]
    public void Mismatched_shapes_are_rejected_naming_the_input()
    {
        var pipeline = new SdxlPipeline(fixture.Model);
        var noise = TorchParityFixture.Read("noise.bin");
        var positive = Positive;

        var shortLatents = () => pipeline.GenerateFromEmbeddings(positive, Negative, noise[..^1], Settings);
        shortLatents.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("initialLatents");

        var badEmbeds = () => pipeline.GenerateFromEmbeddings(positive with { Embeds = positive.Embeds[..^3] }, Negative, noise, Settings);
        badEmbeds.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("positive");

        var otherWidth = new PromptEmbeddings(new float[2 * 77 * 8], 8, new float[2 * positive.PooledWidth], positive.PooledWidth);
        var mismatch = () => pipeline.GenerateFromEmbeddings(positive, otherWidth, noise, Settings);
        mismatch.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("negative");

        var seeds = () => pipeline.GenerateFromEmbeddings(positive, Negative, noise, Settings, seeds: [1UL]);
        seeds.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("seeds");
    }

    [Fact]
    public void Ancestral_noise_follows_the_given_seeds()
    {
        var pipeline = new SdxlPipeline(fixture.Model);
        var noise = TorchParityFixture.Read("noise.bin");
        var settings = Settings with { Scheduler = "euler-a" };

        var a = pipeline.GenerateFromEmbeddings(Positive, Negative, noise, settings, seeds: [7UL, 8UL]);
        var again = pipeline.GenerateFromEmbeddings(Positive, Negative, noise, settings, seeds: [7UL, 8UL]);
        var other = pipeline.GenerateFromEmbeddings(Positive, Negative, noise, settings, seeds: [7UL, 9UL]);

        again.FinalLatents.ToArray().Should().Equal(a.FinalLatents.ToArray());
        a.Images.Select(i => i.Seed).Should().Equal(7UL, 8UL);
        var half = a.FinalLatents.Length / 2;
        // Per-item streams: changing the second seed leaves the first item alone.
        other.FinalLatents.Span[..half].ToArray().Should().Equal(a.FinalLatents.Span[..half].ToArray());
        MaxAbsDiff(other.FinalLatents.Span[half..], a.FinalLatents.Span[half..]).Should().BeGreaterThan(1e-3);
    }

    [Fact]
    public void Generate_reports_its_final_latents_too()
    {
        using var dir = new TempDir();
        using var model = SdxlModel.Load(DefaultSdxlModels.EnsureTinyBase(Path.Combine(dir.Path, "base")));
        var settings = new GenerationSettings { Width = 64, Height = 64, Steps = 2 };

        var result = new SdxlPipeline(model).Generate(["a red cube", "a blue ball"], [1UL, 2UL], settings);

        result.FinalLatents.Length.Should().Be(2 * model.LatentChannels * 8 * 8);
        result.FinalLatents.ToArray().Should().OnlyContain(v => float.IsFinite(v));
        result.FinalLatents.ToArray().Should().Contain(v => v != 0f);
    }

    private sealed class TempDir : IDisposable
    {
        private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sdxl-torch-parity-gen-");

        public string Path => _dir.FullName;

        public void Dispose() => _dir.Delete(recursive: true);
    }

    private static double MaxAbsDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double worst = 0;
        for (var i = 0; i < a.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs((double)a[i] - b[i]));
        }
        return worst;
    }
}
