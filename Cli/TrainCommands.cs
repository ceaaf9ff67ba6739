using System.CommandLine;
using System.Globalization;
using SynthVlm.Imaging;
using SynthVlm.Tokenizers;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;

namespace SynthVlm.Cli;

/// <summary>`synthvlm train`: LLaVA-1.5 stage 1 or 2 on LLaVA-format data, resumable.</summary>
internal static class TrainCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>The command.</summary>
    public static Command Train()
    {
        var stage = new Option<string>("--stage") { Description = "pretrain (stage 1: projector, plain template) or finetune (stage 2: vicuna_v1, LoRA or full).", Required = true };
        var data = new Option<string[]>("--data") { Description = "Dataset folders (a SynthVlm dataset or any folder with one LLaVA JSON and its images), comma-separated or repeated; FOLDER:WEIGHT sets a mixture weight.", Required = true, AllowMultipleArgumentsPerToken = true };
        var model = new Option<string?>("--model") { Description = "Start from a LLaVA model folder (either layout), e.g. stage 1's output/model for stage 2." };
        var vision = new Option<string?>("--vision") { Description = "CLIP folder (openai/clip-vit-large-patch14-336) when starting from parts." };
        var llm = new Option<string?>("--llm") { Description = "LLaMA folder (lmsys/vicuna-7b-v1.5) when starting from parts." };
        var projector = new Option<string?>("--projector") { Description = "Stage-1 projector (mm_projector.bin, or a folder holding it) when starting from parts." };
        var output = new Option<string>("--out") { Description = "Output folder: checkpoints, model/, report; the same folder again resumes.", Required = true };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (1)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps." };
        var batch = new Option<int?>("--batch-size") { Description = "Global batch (256 stage 1, 128 stage 2)." };
        var micro = new Option<int?>("--micro-batch") { Description = "Samples per forward/backward (8)." };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (1e-3 stage 1; 2e-4 LoRA, 2e-5 full stage 2)." };
        var full = new Option<bool>("--full") { Description = "Stage 2: train the whole LLM instead of LoRA." };
        var loraRank = new Option<int?>("--lora-r") { Description = "Stage 2 LoRA rank (128)." };
        var loraAlpha = new Option<double?>("--lora-alpha") { Description = "Stage 2 LoRA alpha (256)." };
        var seed = new Option<int?>("--seed") { Description = "Seed (42)." };
        var saveEvery = new Option<int?>("--save-every") { Description = "Checkpoint every N steps (500; 0 = only at the end)." };
        var json = new Option<bool>("--json") { Description = "One JSON line per step and a last {\"checkpoint\": DIR} line instead of the progress bar." };
        var dtype = new Option<string>("--dtype") { Description = "Parameter dtype: fp32 or bf16 (fp32 master weights either way).", DefaultValueFactory = _ => "fp32" };
        var workers = new Option<int?>("--data-workers") { Description = "Image preprocessing threads (4)." };
        var command = new Command("train", "Train LLaVA-1.5 (stage 1 or 2) on LLaVA-format data; prints progress, writes checkpoints and OUT/model (llava-hf layout).")
        {
            stage, data, model, vision, llm, projector, output, epochs, maxSteps, batch, micro, lr, full, loraRank, loraAlpha, seed, saveEvery, json, dtype, workers,
        };
        command.SetAction((parse, cancellationToken) => Task.FromResult(Run(() =>
        {
            var stageName = parse.GetRequiredValue(stage);
            if (stageName is not ("pretrain" or "finetune"))
            {
                Console.Error.WriteLine($"train: --stage must be pretrain or finetune; got '{stageName}'.");
                return UsageError;
            }
            var sources = new List<TrainingDataSource>();
            foreach (var item in parse.GetRequiredValue(data).SelectMany(d => d.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                try
                {
                    sources.Add(DatasetSource(item));
                }
                catch (ArgumentException e)
                {
                    Console.Error.WriteLine($"train: --data {e.Message}");
                    return InputError;
                }
            }
            var outDir = Path.GetFullPath(parse.GetRequiredValue(output));
            var settings = stageName == "pretrain" ? TrainingSettings.Pretrain(sources, outDir) : TrainingSettings.Finetune(sources, outDir, lora: !parse.GetValue(full));
            settings = settings with
            {
                Epochs = parse.GetValue(epochs) ?? settings.Epochs,
                MaxSteps = parse.GetValue(maxSteps) ?? settings.MaxSteps,
                GlobalBatchSize = parse.GetValue(batch) ?? settings.GlobalBatchSize,
                MicroBatchSize = parse.GetValue(micro) ?? Math.Min(settings.MicroBatchSize, parse.GetValue(batch) ?? settings.GlobalBatchSize),
                LearningRate = parse.GetValue(lr) ?? settings.LearningRate,
                LoraRank = settings.LoraRank is null ? null : parse.GetValue(loraRank) ?? settings.LoraRank,
                LoraAlpha = parse.GetValue(loraAlpha) ?? settings.LoraAlpha,
                Seed = parse.GetValue(seed) ?? settings.Seed,
                SaveEvery = parse.GetValue(saveEvery) ?? settings.SaveEvery,
                DataWorkers = parse.GetValue(workers) ?? settings.DataWorkers,
            };
            settings.Validate();
            var type = parse.GetRequiredValue(dtype) switch
            {
                "fp32" => TorchSharp.torch.ScalarType.Float32,
                "bf16" => TorchSharp.torch.ScalarType.BFloat16,
                var other => throw new ArgumentException($"--dtype must be fp32 or bf16; got '{other}'."),
            };
            var load = new LlavaLoadOptions(DType: type);
            using var pipeline = OpenBase(parse.GetValue(model), parse.GetValue(vision), parse.GetValue(llm), parse.GetValue(projector), load, settings.Seed);
            var asJson = parse.GetValue(json);
            var trainer = new LlavaTrainer(pipeline, settings);
            var result = trainer.Run(step => Report(step, asJson), cancellationToken);
            if (asJson)
            {
                Console.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteString("checkpoint", result.ModelDirectory);
                    w.WriteNumber("samples_without_answer", result.SamplesWithoutAnswer);
                }));
            }
            else
            {
                Console.Error.WriteLine();
                Console.WriteLine($"model: {result.ModelDirectory} ({result.Steps} steps, {result.SkippedSamples.Count} skipped, {result.SamplesWithoutAnswer} without an answer token after truncation; report {Path.Combine(outDir, "report.json")})");
            }
            return 0;
        })));
        return command;
    }

    private static LlavaPipeline OpenBase(string? model, string? vision, string? llm, string? projector, LlavaLoadOptions load, int seed)
    {
        if (model is not null)
        {
            if (vision is not null || llm is not null)
            {
                throw new ArgumentException("give either --model, or --vision and --llm (with --projector for stage 2), not both.");
            }
            return LlavaPipeline.Open(model, load);
        }
        if (vision is null || llm is null)
        {
            throw new ArgumentException("the base model is missing: give --model DIR, or --vision DIR and --llm DIR.");
        }
        if (projector is not null && Directory.Exists(projector))
        {
            projector = Path.Combine(projector, "mm_projector.bin");
        }
        return LlavaPipeline.Assemble(vision, llm, projector, load, seed);
    }

    /// <summary>A dataset folder or LLaVA JSON (<see cref="TrainingDataSources.Resolve"/>); "PATH:WEIGHT" sets the weight.</summary>
    private static TrainingDataSource DatasetSource(string item)
    {
        var weight = 1.0;
        var colon = item.LastIndexOf(':');
        if (colon > 0 && double.TryParse(item[(colon + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out var w))
        {
            weight = w;
            item = item[..colon];
        }
        return TrainingDataSources.Resolve(item, weight);
    }

    private static void Report(TrainingStepMetrics step, bool asJson)
    {
        if (asJson)
        {
            Console.WriteLine(JsonLine.Of(w =>
            {
                w.WriteNumber("step", step.Step);
                if (double.IsFinite(step.Loss))
                {
                    w.WriteNumber("loss", step.Loss);
                }
                else
                {
                    w.WriteNull("loss");
                }
                w.WriteNumber("lr", step.LearningRate);
                w.WriteNumber("samples_per_s", Math.Round(step.SamplesPerSecond, 3));
                w.WriteNumber("tokens_per_s", Math.Round(step.TokensPerSecond, 1));
            }));
            return;
        }
        const int Width = 30;
        var filled = (int)Math.Round(Width * (double)step.Step / Math.Max(1, step.TotalSteps));
        Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
            $"\r[{new string('#', filled)}{new string('.', Width - filled)}] {step.Step}/{step.TotalSteps} loss {step.Loss:F4} lr {step.LearningRate:E2} {step.SamplesPerSecond:F2} samples/s eta {step.Eta:hh\\:mm\\:ss}  "));
    }

    private static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is VlmModelException or TokenizerFormatException or ImageProcessorConfigException or ImagingException
            or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException or TrainingStoppedException)
        {
            Console.Error.WriteLine($"train: {e.Message}");
            return e is ArgumentException ? UsageError : InputError;
        }
    }
}
