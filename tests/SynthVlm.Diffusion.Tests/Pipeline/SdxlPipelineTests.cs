using SynthVlm.Onnx.Builder;

namespace SynthVlm.Diffusion.Tests.Pipeline;

public sealed class TinySdxlFixture : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("sdxl-pipeline-");

    public TinySdxlFixture()
    {
        BaseFolder = DefaultSdxlModels.EnsureTinyBase(Path.Combine(_dir.FullName, "base"));
        RefinerFolder = DefaultSdxlModels.EnsureTinyRefiner(Path.Combine(_dir.FullName, "refiner"));
        Base = SdxlModel.Load(BaseFolder);
        Refiner = SdxlModel.Load(RefinerFolder);
    }

    public string Root => _dir.FullName;

    public string BaseFolder { get; }

    public string RefinerFolder { get; }

    public SdxlModel Base { get; }

    public SdxlModel Refiner { get; }

    public string CopyOfBase(string name)
    {
        var target = Path.Combine(Root, name);
        foreach (var file in Directory.GetFiles(BaseFolder, "*", SearchOption.AllDirectories))
        {
            var to = Path.Combine(target, Path.GetRelativePath(BaseFolder, file));
            Directory.CreateDirectory(Path.GetDirectoryName(to)!);
            File.Copy(file, to);
        }
        return target;
    }

    public void Dispose()
    {
        Base.Dispose();
        Refiner.Dispose();
        _dir.Delete(recursive: true);
    }
}

public sealed class SdxlPipelineTests(TinySdxlFixture models) : IClassFixture<TinySdxlFixture>
{
    private static readonly GenerationSettings Small = new() { Width = 64, Height = 48, Steps = 6, Guidance = 5, UseRefiner = false };

    private static byte[] Pixels(GeneratedImageResult r) => r.Image!.Pixels.ToArray();

    [Fact]
    public void Tiny_base_reads_its_contract_from_the_folder()
    {
        models.Base.IsRefiner.Should().BeFalse();
        models.Base.ForceZerosForEmptyPrompt.Should().BeTrue();
        models.Base.VaeScalingFactor.Should().Be(0.13025);
        models.Refiner.IsRefiner.Should().BeTrue();
        models.Refiner.ForceZerosForEmptyPrompt.Should().BeFalse();
    }

    [Fact]
    public void Same_seed_and_settings_give_byte_identical_images_and_other_seeds_differ()
    {
        var pipeline = new SdxlPipeline(models.Base);
        var a = pipeline.Generate(["a red bus at night"], [42UL], Small).Images[0];
        var b = pipeline.Generate(["a red bus at night"], [42UL], Small).Images[0];
        var c = pipeline.Generate(["a red bus at night"], [43UL], Small).Images[0];
        (a.Image!.Width, a.Image.Height).Should().Be((64, 48));
        Pixels(a).Should().Equal(Pixels(b));
        Pixels(a).Should().NotEqual(Pixels(c));
    }

    [Fact]
    public void A_picture_does_not_depend_on_what_it_was_batched_with()
    {
        var pipeline = new SdxlPipeline(models.Base);
        var alone = pipeline.Generate(["a cat on a sofa"], [7UL], Small).Images[0];
        var batch = pipeline.Generate(["a dog in the park", "a cat on a sofa"], [9UL, 7UL], Small).Images;
        var diff = Pixels(alone).Zip(Pixels(batch[1]), (x, y) => Math.Abs(x - y)).Max();
        diff.Should().BeLessThanOrEqualTo(1, "only float rounding of a different batch size may differ");
        Pixels(batch[0]).Should().NotEqual(Pixels(batch[1]));
    }

    [Fact]
    public void Prompt_and_negative_prompt_both_matter_and_no_negative_means_zeros()
    {
        var pipeline = new SdxlPipeline(models.Base);
        var none = Pixels(pipeline.Generate(["a red bus"], [1UL], Small).Images[0]);
        var empty = Pixels(pipeline.Generate(["a red bus"], [1UL], Small with { NegativePrompt = "" }).Images[0]);
        var other = Pixels(pipeline.Generate(["a green tram"], [1UL], Small).Images[0]);
        none.Should().NotEqual(empty, "an explicit \"\" is encoded; null gives zero embeddings (force_zeros_for_empty_prompt)");
        none.Should().NotEqual(other);
    }

    [Fact]
    public void Refiner_takes_over_at_the_diffusers_split_and_reports_steps()
    {
        var pipeline = new SdxlPipeline(models.Base, models.Refiner);
        var steps = new List<DiffusionStep>();
        var batch = pipeline.Generate(["a lighthouse"], [5UL], Small with { Steps = 10, UseRefiner = true, RefinerStart = 0.8 }, steps.Add);
        batch.Images[0].Image.Should().NotBeNull();
        (batch.Timings.BaseSteps + batch.Timings.RefinerSteps).Should().Be(10);
        batch.Timings.RefinerSteps.Should().BeGreaterThan(0);
        steps.Count(s => s.Stage == "base").Should().Be(batch.Timings.BaseSteps);
        steps.Count(s => s.Stage == "refiner").Should().Be(batch.Timings.RefinerSteps);
        steps.Select(s => s.Timestep).Should().BeInDescendingOrder();
        batch.Timings.InsideOnnxRuntimeMs.Should().BeGreaterThan(0).And.BeLessThanOrEqualTo(batch.Timings.TotalMs);
        var baseOnly = Pixels(pipeline.Generate(["a lighthouse"], [5UL], Small with { Steps = 10, UseRefiner = false }).Images[0]);
        Pixels(batch.Images[0]).Should().NotEqual(baseOnly);
    }

    [Theory]
    [InlineData("euler-a")]
    [InlineData("dpmpp-2m")]
    [InlineData("dpmpp-2m-karras")]
    public void Other_schedulers_run_deterministically(string scheduler)
    {
        var pipeline = new SdxlPipeline(models.Base);
        var s = Small with { Scheduler = scheduler };
        Pixels(pipeline.Generate(["a boat"], [3UL], s).Images[0]).Should().Equal(Pixels(pipeline.Generate(["a boat"], [3UL], s).Images[0]));
    }

    [Fact]
    public void Long_prompt_is_truncated_and_says_so()
    {
        var pipeline = new SdxlPipeline(models.Base);
        var result = pipeline.Generate([string.Join(' ', Enumerable.Repeat("a very long prompt", 40))], [1UL], Small with { Steps = 1 }).Images[0];
        result.PromptTruncated.Should().BeTrue();
        result.Image.Should().NotBeNull();
    }

    [Theory]
    [InlineData(60, 48, 6, 5.0, "width must be a multiple of 8")]
    [InlineData(64, 0, 6, 5.0, "height must be a multiple of 8")]
    [InlineData(64, 48, 0, 5.0, "steps must be between 1 and 1000")]
    [InlineData(64, 48, 6, -1.0, "guidance must be between 0 and 100")]
    public void Out_of_range_settings_are_refused_naming_the_field(int width, int height, int steps, double guidance, string message)
    {
        var pipeline = new SdxlPipeline(models.Base);
        var act = () => pipeline.Generate(["x"], [1UL], new GenerationSettings { Width = width, Height = height, Steps = steps, Guidance = guidance });
        act.Should().Throw<ArgumentException>().WithMessage(message + "*");
    }

    [Fact]
    public void Cancellation_stops_between_steps()
    {
        var pipeline = new SdxlPipeline(models.Base);
        using var cts = new CancellationTokenSource();
        var seen = 0;
        var act = () => pipeline.Generate(["x"], [1UL], Small with { Steps = 50 }, _ =>
        {
            if (++seen == 3)
            {
                cts.Cancel();
            }
        }, cts.Token);
        act.Should().Throw<OperationCanceledException>();
        seen.Should().Be(3);
    }

    [Fact]
    public void Nan_latents_fail_that_item_with_a_reason_and_the_batch_goes_on()
    {
        // A UNet with the same contract whose prediction is 0/0 everywhere.
        var folder = models.CopyOfBase("nan-unet");
        var unet = Path.Combine(folder, "unet", "model.onnx");
        var meta = models.Base.UnetInputs;
        var b = new OnnxModelBuilder("nan_unet");
        var sample = b.Input("sample", TensorDataType.Float, "batch_size", 4, "height", "width");
        b.Input("timestep", TensorDataType.Float);
        b.Input("encoder_hidden_states", TensorDataType.Float, "batch_size", "sequence_length", meta.ContextWidth);
        b.Input("text_embeds", TensorDataType.Float, "batch_size", meta.PooledWidth);
        b.Input("time_ids", TensorDataType.Float, "batch_size", 6);
        var zero = b.Op("Sub", sample, sample);
        var nan = b.Node("Div", [zero, zero], outputs: ["out_sample"])[0];
        b.Output(nan, TensorDataType.Float, "batch_size", 4, "height", "width");
        b.Save(unet);
        using var broken = SdxlModel.Load(folder);
        var result = new SdxlPipeline(broken).Generate(["x", "y"], [1UL, 2UL], Small with { Steps = 2 }).Images;
        result.Should().OnlyContain(r => r.Image == null && r.Error!.Contains("NaN", StringComparison.Ordinal) && r.Error.Contains("step 1", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("unet/model.onnx", "unet/model.onnx: file not found")]
    [InlineData("vae_decoder/model.onnx", "vae_decoder/model.onnx: file not found")]
    [InlineData("scheduler/scheduler_config.json", "scheduler_config.json")]
    [InlineData("model_index.json", "model_index.json: file not found")]
    [InlineData("tokenizer_2/vocab.json", "tokenizer_2")]
    public void Missing_part_is_named(string file, string message)
    {
        var folder = models.CopyOfBase("missing-" + file.Replace('/', '-'));
        File.Delete(Path.Combine(folder, file));
        var act = () => SdxlModel.Load(folder);
        act.Should().Throw<Exception>().Where(e => e.Message.Contains(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Unet_without_time_ids_is_refused_naming_the_tensor()
    {
        var folder = models.CopyOfBase("no-time-ids");
        var meta = models.Base.UnetInputs;
        var b = new OnnxModelBuilder("bad_unet");
        var sample = b.Input("sample", TensorDataType.Float, "batch_size", 4, "height", "width");
        b.Input("timestep", TensorDataType.Float);
        b.Input("encoder_hidden_states", TensorDataType.Float, "batch_size", "sequence_length", meta.ContextWidth);
        b.Input("text_embeds", TensorDataType.Float, "batch_size", meta.PooledWidth);
        b.Output(b.Node("Identity", [sample], outputs: ["out_sample"])[0], TensorDataType.Float, "batch_size", 4, "height", "width");
        b.Save(Path.Combine(folder, "unet", "model.onnx"));
        var act = () => SdxlModel.Load(folder);
        act.Should().Throw<DiffusionException>().Where(e => e.Message.Contains("unet", StringComparison.Ordinal) && e.Message.Contains("'time_ids' is missing", StringComparison.Ordinal));
    }
}

public sealed class Fp16VaeTests(TinySdxlFixture models) : IClassFixture<TinySdxlFixture>
{
    private static void WriteFp16Vae(string folder, bool forceUpcast)
    {
        var b = new OnnxModelBuilder("fp16_vae");
        var latent = b.Input("latent_sample", TensorDataType.Float16, "batch_size", 4, "height", "width");
        var rgb = b.Op("Slice", latent, b.Initializer("starts", [0L], 1), b.Initializer("ends", [3L], 1), b.Initializer("axes", [1L], 1));
        var roi = b.Initializer("roi", ReadOnlySpan<float>.Empty, 0);
        var scales = b.Initializer("scales", [1f, 1f, 8f, 8f], 4);
        var big = b.Op("Resize", [rgb, roi, scales], NodeAttribute.String("mode", "nearest"));
        var squashed = b.Op("Tanh", b.Op("Mul", big, b.Initializer("k", [(Half)0.5f], 1)));
        b.Output(b.Node("Identity", [squashed], outputs: ["sample"])[0], TensorDataType.Float16, "batch_size", 3, "h8", "w8");
        b.Save(Path.Combine(folder, "vae_decoder", "model.onnx"));
        File.WriteAllText(Path.Combine(folder, "vae_decoder", "config.json"),
            $$"""{"scaling_factor": 0.13025, "force_upcast": {{(forceUpcast ? "true" : "false")}}, "latent_channels": 4}""");
    }

    [Fact]
    public void Fp16_vae_with_force_upcast_runs_as_float32_and_decodes()
    {
        var folder = models.CopyOfBase("fp16-vae-upcast");
        WriteFp16Vae(folder, forceUpcast: true);
        using var model = SdxlModel.Load(folder);
        model.VaeUpcast.Should().BeTrue();
        var result = new SdxlPipeline(model).Generate(["a red bus"], [1UL], new GenerationSettings { Width = 32, Height = 32, Steps = 2, UseRefiner = false }).Images[0];
        result.Error.Should().BeNull();
        (result.Image!.Width, result.Image.Height).Should().Be((32, 32));
    }

    [Fact]
    public void Fp16_vae_without_force_upcast_is_used_as_it_is()
    {
        var folder = models.CopyOfBase("fp16-vae-as-is");
        WriteFp16Vae(folder, forceUpcast: false);
        using var model = SdxlModel.Load(folder);
        model.VaeUpcast.Should().BeFalse();
        new SdxlPipeline(model).Generate(["a red bus"], [1UL], new GenerationSettings { Width = 32, Height = 32, Steps = 2, UseRefiner = false }).Images[0].Image.Should().NotBeNull();
    }
}
