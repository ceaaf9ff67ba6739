using SynthVlm.Diffusion;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Cli;

/// <summary>`synthvlm generate` when --model is a Stable Diffusion 3 folder (model_index.json names StableDiffusion3Pipeline).</summary>
internal static class GenerateSd3
{
    /// <summary>The --skip-t5 option: zero T5 rows instead of loading text_encoder_3 (diffusers' text_encoder_3=None).</summary>
    public static System.CommandLine.Option<bool> SkipT5Option() =>
        new("--skip-t5") { Description = "SD3 only: do not load text_encoder_3 (T5-XXL); its rows are zeros, as diffusers does with text_encoder_3=None (saves its memory)." };

    /// <summary>Generates one image with <see cref="Sd3Pipeline"/>, writes it and prints the JSON line; returns the exit code.</summary>
    public static int Run(string modelFolder, bool hasRefiner, bool skipT5, string prompt, ulong seed, GenerationSettings settings, string output, CancellationToken ct)
    {
        if (hasRefiner)
        {
            Console.Error.WriteLine($"generate: {modelFolder} is a Stable Diffusion 3 model; --refiner is for SDXL only.");
            return 2;
        }

        using var model = Sd3Model.Load(modelFolder, skipT5: skipT5);
        var batch = new Sd3Pipeline(model).Generate([prompt], [seed], settings with { SkipT5 = skipT5 }, cancellationToken: ct);
        var result = batch.Images[0];
        if (result.Image is null)
        {
            Console.Error.WriteLine($"generate: {result.Error}");
            return 1;
        }

        using (result.Image)
        {
            ImageCodec.EncodeFile(result.Image, output);
        }

        Console.WriteLine(JsonLine.Of(w =>
        {
            w.WriteString("image", output);
            w.WriteString("pipeline", "sd3");
            w.WriteNumber("seed", result.Seed);
            w.WriteNumber("steps", batch.Timings.BaseSteps);
            w.WriteBoolean("t5", model.HasT5 && !skipT5);
            w.WriteNumber("ms", Math.Round(batch.Timings.TotalMs, 1));
            if (result.PromptTruncated)
            {
                w.WriteBoolean("truncated", true);
            }
        }));
        return 0;
    }
}
