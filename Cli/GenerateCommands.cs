using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Diffusion;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Onnx;

namespace SynthVlm.Cli;

/// <summary>`synthvlm generate`: one SDXL image from a prompt.</summary>
internal static class GenerateCommands
{
    private const int Failure = 1;
    private const int UsageError = 2;

    public static Command Generate()
    {
        var model = new Option<string>("--model") { Description = "SDXL base or Stable Diffusion 3 folder (optimum export layout; its model_index.json picks the pipeline).", Required = true };
        var refiner = new Option<string?>("--refiner") { Description = "SDXL refiner folder; hands over at --refiner-start of the schedule." };
        var prompt = new Option<string>("--prompt") { Description = "What to draw.", Required = true };
        var negative = new Option<string?>("--negative") { Description = "Negative prompt (none: zero embeddings when the model says force_zeros_for_empty_prompt)." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the initial latents.", DefaultValueFactory = _ => 0 };
        var steps = new Option<int>("--steps") { Description = "Denoising steps.", DefaultValueFactory = _ => 30 };
        var guidance = new Option<double>("--guidance") { Description = "Classifier-free guidance scale (on above 1).", DefaultValueFactory = _ => 5.0 };
        var width = new Option<int>("--width") { Description = "Width, a multiple of 8.", DefaultValueFactory = _ => 1024 };
        var height = new Option<int>("--height") { Description = "Height, a multiple of 8.", DefaultValueFactory = _ => 1024 };
        var refinerStart = new Option<double>("--refiner-start") { Description = "Fraction of the schedule the base runs before the refiner.", DefaultValueFactory = _ => 0.8 };
        var refinerMode = new Option<string>("--refiner-mode") { Description = "handover (diffusers' ensemble of experts: the refiner continues the base's latents) or img2img (the SynthVLM script: the refiner re-noises the base output with --refiner-strength and stops at --refiner-start).", DefaultValueFactory = _ => RefinerModes.HandOver };
        refinerMode.AcceptOnlyFromAmong(RefinerModes.HandOver, RefinerModes.Img2Img);
        var refinerStrength = new Option<double>("--refiner-strength") { Description = "img2img: the refiner's strength, int(steps x strength) steps from the end of the schedule.", DefaultValueFactory = _ => 0.3 };
        var refinerToEnd = new Option<bool>("--refiner-to-end") { Description = "img2img: run the refiner to the last timestep instead of stopping at --refiner-start as the SynthVLM script does." };
        var scheduler = new Option<string?>("--scheduler") { Description = "euler, euler-a, dpmpp-2m or dpmpp-2m-karras (default: the model's scheduler_config.json)." };
        var output = new Option<string>("--out") { Description = "Image to write (.png, .jpg or .webp).", Required = true };
        var command = new Command("generate", "Generate one image with SDXL (and optionally its refiner) on ONNX Runtime.")
        {
            model, refiner, prompt, negative, seed, steps, guidance, width, height, refinerStart, refinerMode, refinerStrength, refinerToEnd, scheduler, output,
        };
        var skipT5 = GenerateSd3.SkipT5Option();
        command.Options.Add(skipT5);
        command.SetAction((parse, ct) =>
        {
            var settings = new GenerationSettings
            {
                Width = parse.GetValue(width),
                Height = parse.GetValue(height),
                Steps = parse.GetValue(steps),
                Guidance = parse.GetValue(guidance),
                NegativePrompt = parse.GetValue(negative),
                RefinerStart = parse.GetValue(refinerStart),
                RefinerMode = RefinerModes.Parse(parse.GetRequiredValue(refinerMode)),
                RefinerStrength = parse.GetValue(refinerStrength),
                RefinerStopsAtStart = !parse.GetValue(refinerToEnd),
                Scheduler = parse.GetValue(scheduler),
            };
            try
            {
                settings.Validate();
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"generate: {e.Message}");
                return Task.FromResult(UsageError);
            }
            try
            {
                if (Sd3Model.IsSd3Folder(parse.GetRequiredValue(model)))
                {
                    return Task.FromResult(GenerateSd3.Run(parse.GetRequiredValue(model), parse.GetValue(refiner) is not null, parse.GetValue(skipT5), parse.GetRequiredValue(prompt), parse.GetValue(seed), settings, parse.GetRequiredValue(output), ct));
                }
                using var baseModel = SdxlModel.Load(parse.GetRequiredValue(model));
                using var refinerModel = parse.GetValue(refiner) is { } r ? SdxlModel.Load(r) : null;
                var pipeline = new SdxlPipeline(baseModel, refinerModel);
                var batch = pipeline.Generate([parse.GetRequiredValue(prompt)], [parse.GetValue(seed)], settings, cancellationToken: ct);
                var result = batch.Images[0];
                if (result.Image is null)
                {
                    Console.Error.WriteLine($"generate: {result.Error}");
                    return Task.FromResult(Failure);
                }
                using (result.Image)
                {
                    ImageCodec.EncodeFile(result.Image, parse.GetRequiredValue(output));
                }
                Console.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteString("image", parse.GetRequiredValue(output));
                    w.WriteNumber("seed", result.Seed);
                    w.WriteNumber("base_steps", batch.Timings.BaseSteps);
                    w.WriteNumber("refiner_steps", batch.Timings.RefinerSteps);
                    if (refinerModel is not null)
                    {
                        w.WriteString("refiner_mode", RefinerModes.Name(settings.RefinerMode));
                    }
                    w.WriteNumber("ms", Math.Round(batch.Timings.TotalMs, 1));
                    if (result.PromptTruncated)
                    {
                        w.WriteBoolean("truncated", true);
                    }
                }));
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is DiffusionException or OnnxRuntimeException or OnnxProviderUnavailableException or ImagingException or IOException or ArgumentException)
            {
                Console.Error.WriteLine($"generate: {e.Message}");
                return Task.FromResult(Failure);
            }
        });
        return command;
    }
}
