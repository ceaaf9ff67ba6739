using System.Globalization;
using System.Reflection;
using System.Text.Json;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using FluentAssertions;
using SynthVlm.Diffusion;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.AppHost.Tests;

/// <summary>
/// A whole SynthVLM run on Stable Diffusion 3 as users run it (issue 19): `synthvlm models tiny-sd3 --dir D`
/// writes the tiny SD3 in optimum's layout, then `AppHost run --model D` curates the pool, generates with
/// the SD3 pipeline, scores, selects and writes the LLaVA dataset. The dataset's images are the SD3
/// pipeline's (its settings name it, its size is the run's, the best one equals the library's picture for
/// its seed) and every selected pair carries its scores.
/// </summary>
public sealed class AppHostSd3RunTests : IDisposable
{
    private const int Captions = 4;
    private const int Variants = 2;
    private const int TopK = 2;
    private const int Width = 64;
    private const int Height = 48;
    private const int Steps = 2;
    private const ulong RunSeed = 7;

    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-apphost-sd3-").FullName;

    [Fact]
    public async Task Run_verb_with_model_pointing_at_the_tiny_sd3_makes_a_dataset_of_sd3_images_with_scores_and_selection()
    {
        var sd3 = Path.Combine(_dataDir, "tiny-sd3");
        var written = await ChildProcess.RunAsync("dotnet", [SynthVlmDll(), "models", "tiny-sd3", "--dir", sd3], TimeSpan.FromMinutes(2));
        written.ExitCode.Should().Be(0, written.StandardError);
        using (var line = JsonDocument.Parse(written.Lines[^1]))
        {
            line.RootElement.GetProperty("model").GetString().Should().Be("sd3");
            line.RootElement.GetProperty("dir").GetString().Should().Be(sd3);
        }
        File.Exists(Path.Combine(sd3, "model_index.json")).Should().BeTrue();

        var pool = Path.Combine(_dataDir, "pool.json");
        var captions = Enumerable.Range(0, Captions).Select(i => new { id = $"c{i}", caption = $"a small red car number {i} standing on a street under a blue sky" }).ToList();
        captions.Add(new { id = "c1", caption = "a duplicate id that curation drops with its reason" });
        await File.WriteAllTextAsync(pool, JsonSerializer.Serialize(captions));
        var output = Path.Combine(_dataDir, "dataset");

        var result = await ChildProcess.RunAsync("dotnet",
            [AppHostProcess.Dll(typeof(AppHostSd3RunTests).Assembly), "run", "--model", sd3, "--captions", pool, "--out", output,
             "--top-k", Str(TopK), "--variants", Str(Variants), "--steps", Str(Steps), "--size", $"{Width}x{Height}", "--seed", Str(RunSeed), "--guidance", "6",
             "--run-id", "apphost-sd3", "--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"],
            TimeSpan.FromMinutes(8));

        var text = result.StandardOutput + result.StandardError;
        result.ExitCode.Should().Be(0, text);
        text.Should().Contain("COMPLETED").And.Contain(output)
            .And.Contain($"| all generated | {Captions * Variants} |").And.Contain($"| selected | {TopK} |").And.Contain("Stopped 9 processes");

        // The dataset: LLaVA's JSON and the manifest name the same TopK images, best first.
        var llava = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(output, "llava.json"))).RootElement;
        llava.GetArrayLength().Should().Be(TopK);
        var manifest = (await File.ReadAllLinesAsync(Path.Combine(output, "manifest.jsonl"))).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        manifest.Should().HaveCount(TopK);
        manifest.Select(m => m.GetProperty("image").GetString()).Should().Equal(llava.EnumerateArray().Select(e => e.GetProperty("image").GetString()));
        manifest.Select(m => m.GetProperty("id").GetString()).Should().OnlyHaveUniqueItems().And.BeSubsetOf(captions.Take(Captions).Select(c => c.id));
        using (var marker = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(output, "dataset.json"))))
        {
            marker.RootElement.GetProperty("count").GetInt32().Should().Be(TopK);
            marker.RootElement.GetProperty("run_id").GetString().Should().Be("apphost-sd3");
        }

        // Made by the SD3 pipeline of the --model folder, with T5, at the run's size and steps; scored and ranked.
        foreach (var item in manifest)
        {
            var settings = item.GetProperty("settings");
            settings.GetProperty("pipeline").GetString().Should().Be("sd3");
            settings.GetProperty("t5").GetString().Should().Be("true");
            settings.GetProperty("refiner").GetString().Should().Be("off");
            settings.GetProperty("guidance").GetString().Should().Be("6", "--guidance reaches the generation spec");
            (settings.GetProperty("width").GetString(), settings.GetProperty("height").GetString(), settings.GetProperty("steps").GetString())
                .Should().Be((Str(Width), Str(Height), Str(Steps)));
            item.GetProperty("generation_model").GetString().Should().Be(sd3);
            item.GetProperty("clip_model").GetString().Should().NotBeNullOrEmpty();
            var (clip, ssim, weighted, lambda) = (item.GetProperty("clip").GetDouble(), item.GetProperty("ssim").GetDouble(), item.GetProperty("weighted").GetDouble(), item.GetProperty("lambda").GetDouble());
            // CLIPScore is max(cosine, 0) of the tiny CLIP; the cosine shows the pair was really scored.
            item.GetProperty("cosine").GetDouble().Should().NotBe(0);
            clip.Should().BeApproximately(Math.Max(item.GetProperty("cosine").GetDouble(), 0), 1e-6);
            ssim.Should().BeInRange(-1, 1);
            weighted.Should().BeApproximately(clip + (lambda * ssim), 1e-9, "selection ranks by CLIPScore + λ·SSIMScore");
            using var image = ImageCodec.DecodeFile(Path.Combine(output, item.GetProperty("image").GetString()!));
            (image.Width, image.Height).Should().Be((Width, Height));
        }
        manifest.Select(m => m.GetProperty("weighted").GetDouble()).Should().BeInDescendingOrder();
        manifest.Select(m => m.GetProperty("rank").GetInt64()).Should().Equal(Enumerable.Range(0, TopK).Select(r => (long)r));

        // The best pair's image is the SD3 pipeline's picture for its caption and seed, generated as the
        // service does: the caption's variants in one batch with the seeds derived from (run seed, id, variant).
        var best = manifest[0];
        var id = best.GetProperty("id").GetString()!;
        var caption = best.GetProperty("caption").GetString()!;
        var seeds = Enumerable.Range(0, Variants).Select(v => DiffusionSeed(RunSeed, id, v)).ToArray();
        var variant = best.GetProperty("variant").GetInt32();
        best.GetProperty("seed").GetUInt64().Should().Be(seeds[variant]);
        var bestSettings = best.GetProperty("settings");
        using var model = Sd3Model.Load(sd3);
        var expected = new Sd3Pipeline(model).Generate(Enumerable.Repeat(caption, Variants).ToArray(), seeds, new GenerationSettings
        {
            Width = Width,
            Height = Height,
            Steps = Steps,
            Guidance = double.Parse(bestSettings.GetProperty("guidance").GetString()!, CultureInfo.InvariantCulture),
            NegativePrompt = bestSettings.GetProperty("negative_prompt").GetString() is var negative and not "(none)" ? negative : null,
            MaxSequenceLength = int.Parse(bestSettings.GetProperty("max_sequence_length").GetString()!, CultureInfo.InvariantCulture),
        });
        using var expectedImage = expected.Images[variant].Image!;
        using var bestImage = ImageCodec.DecodeFile(Path.Combine(output, best.GetProperty("image").GetString()!));
        bestImage.Pixels.ToArray().Should().Equal(expectedImage.Pixels.ToArray(), "the run's best image is the SD3 pipeline's picture for its seed");
        foreach (var other in expected.Images)
        {
            other.Image?.Dispose();
        }

        File.ReadAllText(Path.Combine(output, "report.md")).Should().Contain("SSIMScore");
        File.Exists(Path.Combine(_dataDir, "apphost.json")).Should().BeFalse("a run that started its own cluster leaves no running-cluster file");
        (await File.ReadAllTextAsync(Directory.GetFiles(Path.Combine(_dataDir, "logs"), "diffusion-*.log").Single())).Should().Contain($"Diffusion pipeline sd3, model {sd3}");
    }

    [Fact]
    public async Task Skip_t5_reaches_the_diffusion_service_with_an_sd3_model_guidance_reaches_the_run_config_and_bad_uses_are_refused()
    {
        var sd3 = Directory.CreateDirectory(Path.Combine(_dataDir, "sd3-onnx")).FullName;
        await File.WriteAllTextAsync(Path.Combine(sd3, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
        var sdxl = Directory.CreateDirectory(Path.Combine(_dataDir, "sdxl-onnx")).FullName;
        await File.WriteAllTextAsync(Path.Combine(sdxl, "model_index.json"), """{"_class_name": "StableDiffusionXLPipeline"}""");
        var pool = Path.Combine(_dataDir, "pool.json");
        await File.WriteAllTextAsync(pool, "[]");

        var builder = await DistributedApplicationTestingBuilder.CreateAsync(typeof(AppHostSettings),
            ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0", "--redis-mode", "executable", "--model", sd3, "--skip-t5"], TestTimeout.Token(TimeSpan.FromMinutes(2)));
        var projects = builder.Resources.OfType<ProjectResource>().ToDictionary(p => p.Name);
#pragma warning disable CS0618 // As AppModelTests: evaluates the environment callbacks alone.
        var diffusion = await projects["diffusion"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
        var scoring = await projects["scoring"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        diffusion[SynthVlmAppModel.DiffusionSkipT5Env].Should().Be("true");
        diffusion[SynthVlmAppModel.DiffusionBaseModelEnv].Should().Be(sd3);
        scoring.Should().NotContainKey(SynthVlmAppModel.DiffusionSkipT5Env);

        var run = AppHostSettings.Parse(["run", "--captions", pool, "--model", sd3, "--skip-t5", "--guidance", "7.5", "--steps", "28"]);
        run.Should().NotBeNull();
        run!.SkipT5.Should().BeTrue();
        run.ClusterOptionsGiven.Should().Contain(["--model", "--skip-t5"]);
        (run.Run!.Generation.HasGuidance, run.Run.Generation.Guidance, run.Run.Generation.Steps).Should().Be((true, 7.5, 28));
        AppHostSettings.Parse(["run", "--captions", pool])!.Run!.Generation.HasGuidance.Should().BeFalse("without --guidance the service's default applies");

        AppHostSettings.Parse(["run", "--captions", pool, "--skip-t5"]).Should().BeNull("--skip-t5 without --model has no SD3 to apply to");
        AppHostSettings.Parse(["run", "--captions", pool, "--model", sdxl, "--skip-t5"]).Should().BeNull("an SDXL model has no T5");
        AppHostSettings.Parse(["run", "--captions", pool, "--guidance", "101"]).Should().BeNull();
        AppHostSettings.Parse(["run", "--captions", pool, "--guidance", "NaN"]).Should().BeNull();
        AppHostSettings.Parse(["--guidance", "7"]).Should().BeNull("--guidance is a run option");
    }

    /// <summary>The built `synthvlm` tool of the configuration the tests were built in.</summary>
    private static string SynthVlmDll()
    {
        var configuration = typeof(AppHostSd3RunTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
    }

    /// <summary>The diffusion worker's seed derivation (ImageGenerator.DeriveSeed), restated: SHA-256 of "runSeed/captionId/variant", first 8 bytes.</summary>
    private static ulong DiffusionSeed(ulong runSeed, string captionId, int variant) =>
        BitConverter.ToUInt64(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes($"{runSeed}/{captionId}/{variant}")), 0);

    private static string Str<T>(T value)
        where T : IFormattable => value.ToString(null, CultureInfo.InvariantCulture);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
