using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Captions;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Hallucination.Claims;
using Proto = SynthVlm.Protos.V1;
using SynthVlm.Recaptioning.ContinuousDpo;
using SynthVlm.Recaptioning.Preferences;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Tokenizers;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm dpo-round`: continuous DPO of an in-process LLaVA captioner against a judge endpoint (K rounds of
/// sample → judge → pairs → DPO, the rate measured on held-out images after each); `synthvlm sft`: the
/// knowledge-enriching SFT stage on a caption pool.
/// </summary>
internal static class DpoRoundCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;
    private static readonly JsonSerializerOptions OneLine = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>`synthvlm dpo-round`.</summary>
    public static Command DpoRound()
    {
        var model = new Option<string>("--model") { Description = "The starting LLaVA checkpoint (round 1's policy and reference).", Required = true };
        var images = new Option<string>("--images") { Description = "Training images (a folder, an imagefolder or a pool naming image files): N captions are sampled per image each round.", Required = true };
        var heldOut = new Option<string>("--heldout") { Description = "Held-out images: captioned greedily after each round to measure the non-hallucination rate.", Required = true };
        var judge = new Option<string>("--judge") { Description = "OpenAI-compatible endpoint (base URL) that splits captions into claims (and checks them unless --verifier is given).", Required = true };
        var judgeModel = new Option<string>("--judge-model") { Description = "The judge's model.", Required = true };
        var verifier = new Option<string?>("--verifier") { Description = "The VLM endpoint that checks each claim against the image (default: --judge)." };
        var verifierModel = new Option<string?>("--verifier-model") { Description = "The verifier's model (default: --judge-model)." };
        var output = new Option<string>("--out") { Description = "Output folder: round-0 … round-K, rounds.json, rate.svg; the same folder again resumes.", Required = true };
        var rounds = new Option<int>("--rounds") { Description = "Rounds K (2).", DefaultValueFactory = _ => 2 };
        var samples = new Option<int>("--samples") { Description = "Captions sampled per training image, N (4).", DefaultValueFactory = _ => 4 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0.7).", DefaultValueFactory = _ => 0.7 };
        var seed = new Option<int>("--seed") { Description = "Base sampling seed; round k, sample s uses seed + 1000·k + s (0).", DefaultValueFactory = _ => 0 };
        var beta = new Option<double>("--beta") { Description = "DPO β (0.1).", DefaultValueFactory = _ => 0.1 };
        var loss = new Option<string>("--loss") { Description = "sigmoid, ipo or robust (sigmoid).", DefaultValueFactory = _ => "sigmoid" };
        var smoothing = new Option<double>("--label-smoothing") { Description = "ε for sigmoid/robust (0).", DefaultValueFactory = _ => 0 };
        var steps = new Option<int?>("--steps") { Description = "Most DPO optimizer steps per round (default: one pass over the round's pairs)." };
        var epochs = new Option<int>("--epochs") { Description = "Passes over a round's pairs (1).", DefaultValueFactory = _ => 1 };
        var pairsPerStep = new Option<int>("--pairs-per-step") { Description = "Pairs per optimizer step (8).", DefaultValueFactory = _ => 8 };
        var micro = new Option<int>("--micro-batch") { Description = "Pairs per forward/backward (2).", DefaultValueFactory = _ => 2 };
        var lr = new Option<double>("--lr") { Description = "Learning rate, constant (5e-6).", DefaultValueFactory = _ => 5e-6 };
        var loraRank = new Option<int>("--lora-rank") { Description = "LoRA rank (8).", DefaultValueFactory = _ => 8 };
        var loraAlpha = new Option<double?>("--lora-alpha") { Description = "LoRA alpha (2 × rank)." };
        var prompt = new Option<string>("--prompt") { Description = "Prompt preset: brief, detailed or knowledge-rich (detailed).", DefaultValueFactory = _ => "detailed" };
        var promptText = new Option<string?>("--prompt-text") { Description = "A prompt of your own wording instead of a preset." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Most tokens per caption, sampled and held-out (256).", DefaultValueFactory = _ => 256 };
        var margin = new Option<int>("--margin") { Description = "Least difference in rejected claims for a pair (1).", DefaultValueFactory = _ => 1 };
        var lengthRatio = new Option<double>("--max-length-ratio") { Description = "Longer caption at most this many times the words of the shorter (1.5).", DefaultValueFactory = _ => 1.5 };
        var pairsPerImage = new Option<int>("--pairs-per-image") { Description = "Most pairs per image (2).", DefaultValueFactory = _ => 2 };
        var concurrency = new Option<int>("--concurrency") { Description = "Captions judged at once (8).", DefaultValueFactory = _ => 8 };
        var unsureRejects = new Option<bool>("--unsure-rejects") { Description = "A claim the verifier is unsure of counts as rejected." };
        var batch = new Option<int>("--batch") { Description = "In-process captioner: captions generated together (8).", DefaultValueFactory = _ => 8 };
        var dtype = VlmCommands.DTypeOption();
        var device = VlmCommands.DeviceOption();
        var command = new Command("dpo-round", "Continuous DPO of a LLaVA captioner: K rounds of sample → judge → pairs → DPO, the non-hallucination rate on held-out images after each; prints one JSON summary.")
        {
            model, images, heldOut, judge, judgeModel, verifier, verifierModel, output, rounds, samples, temperature, seed, beta, loss, smoothing, steps, epochs,
            pairsPerStep, micro, lr, loraRank, loraAlpha, prompt, promptText, maxTokens, margin, lengthRatio, pairsPerImage, concurrency, unsureRejects, batch, dtype, device,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                if (VlmCommands.ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), null, out var load) is { } loadProblem)
                {
                    throw new ArgumentException(loadProblem);
                }
                var checkpoint = Path.GetFullPath(parse.GetRequiredValue(model));
                if (!Directory.Exists(checkpoint))
                {
                    Console.Error.WriteLine($"dpo-round: --model {checkpoint}: no such folder.");
                    return InputError;
                }
                var outDir = Path.GetFullPath(parse.GetRequiredValue(output));
                var captionPrompt = parse.GetValue(promptText) is { } text ? CaptionPrompt.Custom(text) : CaptionPrompt.Preset(parse.GetRequiredValue(prompt));
                var rank = parse.GetValue(loraRank);
                var dpo = new DpoPairsTrainingOptions
                {
                    OutputDirectory = outDir,
                    Dpo = new DpoOptions(parse.GetValue(beta), ParseLoss(parse.GetRequiredValue(loss)), parse.GetValue(smoothing)),
                    Epochs = parse.GetValue(epochs),
                    MaxSteps = parse.GetValue(steps),
                    PairsPerStep = parse.GetValue(pairsPerStep),
                    MicroBatchSize = parse.GetValue(micro),
                    LearningRate = parse.GetValue(lr),
                    LoraRank = rank,
                    LoraAlpha = parse.GetValue(loraAlpha) ?? 2.0 * rank,
                };
                dpo.Validate();
                var options = new ContinuousDpoOptions
                {
                    OutputDirectory = outDir,
                    Prompt = captionPrompt.Text,
                    Rounds = parse.GetValue(rounds),
                    Sampling = new PreferenceSamplingOptions
                    {
                        SamplesPerImage = parse.GetValue(samples),
                        Temperature = parse.GetValue(temperature),
                        BaseSeed = parse.GetValue(seed),
                        MaxTokens = parse.GetValue(maxTokens),
                    },
                    Pairs = new PreferencePairOptions
                    {
                        Margin = parse.GetValue(margin),
                        MaxLengthRatio = parse.GetValue(lengthRatio),
                        MaxPairsPerImage = parse.GetValue(pairsPerImage),
                    },
                    // Everything but the output folder, which differs per round.
                    TrainerSettings = System.Text.Json.JsonSerializer.SerializeToNode(dpo with { OutputDirectory = string.Empty }, TrainerSettingsJson)!.AsObject(),
                };
                var judgeUri = EndpointUrl(parse.GetRequiredValue(judge), "--judge");
                var judgeName = parse.GetRequiredValue(judgeModel);
                var verifierUri = parse.GetValue(verifier) is { } v ? EndpointUrl(v, "--verifier") : judgeUri;
                var verifierName = parse.GetValue(verifierModel) ?? judgeName;
                var inFlight = parse.GetValue(concurrency);
                if (inFlight < 1)
                {
                    throw new ArgumentException($"--concurrency must be at least 1; found {inFlight}.");
                }
                var trainingSource = OpenImages(parse.GetRequiredValue(images), "--images");
                var heldOutSource = OpenImages(parse.GetRequiredValue(heldOut), "--heldout");
                Directory.CreateDirectory(outDir);
                var cache = Path.Combine(outDir, "judge-cache");
                using var extractorClient = EvaluationEndpoints.Open(judgeUri, judgeName, inFlight, cache);
                using var verifierClient = verifierUri == judgeUri && verifierName == judgeName ? null : EvaluationEndpoints.Open(verifierUri, verifierName, inFlight * 4, cache);
                var claimJudge = new CaptionHallucinationJudge(extractorClient, (IChatModel?)verifierClient ?? extractorClient,
                    new ClaimJudgeOptions { MaxCaptionsInFlight = inFlight, UnsureCountsAsRejected = parse.GetValue(unsureRejects) });
                var runner = new ContinuousDpoRunner(new LlavaCaptioners(load, parse.GetValue(batch)), new LlavaDpoTrainer(load, dpo), claimJudge, options, Console.Error);
                var summary = await runner.RunAsync(
                    checkpoint,
                    () => ContinuousDpoRunner.FromSource(trainingSource, (item, why) => Console.Error.WriteLine($"dpo-round: --images {item.Source}: {why}; skipped.")),
                    () => ContinuousDpoRunner.FromSource(heldOutSource, (item, why) => Console.Error.WriteLine($"dpo-round: --heldout {item.Source}: {why}; skipped.")),
                    cancellationToken).ConfigureAwait(false);
                Console.WriteLine(Brief(summary, outDir).ToJsonString(OneLine));
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or CaptionPoolFormatException or VlmModelException or TokenizerFormatException
                or ImageProcessorConfigException or TrainingStoppedException or InvalidDataException)
            {
                Console.Error.WriteLine($"dpo-round: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
        });
        return command;
    }

    /// <summary>`synthvlm sft`: LLaVA fine-tuning (LoRA or full) on a caption pool, the knowledge-enriching stage.</summary>
    public static Command Sft()
    {
        var model = new Option<string>("--model") { Description = "The LLaVA checkpoint to fine-tune.", Required = true };
        var pool = new Option<string>("--pool") { Description = "A caption pool (JSONL/JSON/CSV/TSV with id, image, caption), e.g. curated recaptions.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder: sft-data.json, checkpoints, model/, report; the same folder again resumes.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "Prompt preset the captions answer: brief, detailed or knowledge-rich (detailed).", DefaultValueFactory = _ => "detailed" };
        var promptText = new Option<string?>("--prompt-text") { Description = "A prompt of your own wording instead of a preset." };
        var full = new Option<bool>("--full") { Description = "Train the whole LLM instead of LoRA." };
        var loraRank = new Option<int?>("--lora-r") { Description = "LoRA rank (128)." };
        var loraAlpha = new Option<double?>("--lora-alpha") { Description = "LoRA alpha (256)." };
        var lr = new Option<double?>("--lr") { Description = "Peak learning rate (2e-4 LoRA, 2e-5 full)." };
        var epochs = new Option<int?>("--epochs") { Description = "Epochs (1)." };
        var maxSteps = new Option<int?>("--max-steps") { Description = "Stop after this many optimizer steps." };
        var batchSize = new Option<int?>("--batch-size") { Description = "Global batch (128)." };
        var micro = new Option<int?>("--micro-batch") { Description = "Samples per forward/backward (8)." };
        var seed = new Option<int?>("--seed") { Description = "Seed (42)." };
        var imagesRoot = new Option<string?>("--images-root") { Description = "Folder the pool's relative image paths are relative to (default: the pool file's folder)." };
        var service = new Option<string?>("--service")
        {
            Description = "Submit to a TrainingService (its gRPC URL, e.g. http://127.0.0.1:5105) instead of training here; --model, --pool, --out and --images-root are then the service's paths (relative = under its data folder), and --dtype/--device its own settings.",
        };
        var dtype = VlmCommands.DTypeOption();
        var device = VlmCommands.DeviceOption();
        var command = new Command("sft", "Fine-tune a LLaVA captioner on a caption pool (each caption the answer to the prompt about its image); prints one JSON summary.")
        {
            model, pool, output, prompt, promptText, full, loraRank, loraAlpha, lr, epochs, maxSteps, batchSize, micro, seed, imagesRoot, service, dtype, device,
        };
        command.SetAction((parse, cancellationToken) =>
        {
            if (parse.GetValue(service) is { } serviceUrl)
            {
                return SftService.RunAsync(serviceUrl, new Proto.SubmitTrainingRequest
                {
                    Stage = Proto.TrainingStage.Finetune,
                    ModelDir = parse.GetRequiredValue(model),
                    OutputDir = parse.GetRequiredValue(output),
                    Datasets =
                    {
                        new Proto.TrainingDataset
                        {
                            Path = parse.GetRequiredValue(pool),
                            Format = Proto.TrainingDatasetFormat.CaptionPool,
                            Prompt = parse.GetRequiredValue(prompt),
                            PromptText = parse.GetValue(promptText) ?? string.Empty,
                            ImagesRoot = parse.GetValue(imagesRoot) ?? string.Empty,
                        },
                    },
                    Hyperparameters = SftService.Hyperparameters(parse.GetValue(full), parse.GetValue(loraRank), parse.GetValue(loraAlpha), parse.GetValue(lr),
                        parse.GetValue(epochs), parse.GetValue(maxSteps), parse.GetValue(batchSize), parse.GetValue(micro), parse.GetValue(seed)),
                }, cancellationToken);
            }
            try
            {
                if (VlmCommands.ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), null, out var load) is { } loadProblem)
                {
                    throw new ArgumentException(loadProblem);
                }
                var outDir = Path.GetFullPath(parse.GetRequiredValue(output));
                Directory.CreateDirectory(outDir);
                var captionPrompt = parse.GetValue(promptText) is { } text ? CaptionPrompt.Custom(text) : CaptionPrompt.Preset(parse.GetRequiredValue(prompt));
                var data = Path.Combine(outDir, "sft-data.json");
                var converted = CaptionPoolConversations.Write(parse.GetRequiredValue(pool), captionPrompt.Text, data, parse.GetValue(imagesRoot), cancellationToken);
                foreach (var skip in converted.Skipped)
                {
                    Console.Error.WriteLine($"sft: {skip}; skipped.");
                }
                if (converted.Written == 0)
                {
                    Console.Error.WriteLine($"sft: --pool {parse.GetRequiredValue(pool)}: no caption with an image file ({converted.SkippedCount} records skipped).");
                    return Task.FromResult(InputError);
                }
                var settings = TrainingSettings.Finetune([new TrainingDataSource(data, outDir)], outDir, lora: !parse.GetValue(full));
                settings = settings with
                {
                    Epochs = parse.GetValue(epochs) ?? settings.Epochs,
                    MaxSteps = parse.GetValue(maxSteps) ?? settings.MaxSteps,
                    GlobalBatchSize = parse.GetValue(batchSize) ?? settings.GlobalBatchSize,
                    MicroBatchSize = parse.GetValue(micro) ?? Math.Min(settings.MicroBatchSize, parse.GetValue(batchSize) ?? settings.GlobalBatchSize),
                    LearningRate = parse.GetValue(lr) ?? settings.LearningRate,
                    LoraRank = settings.LoraRank is null ? null : parse.GetValue(loraRank) ?? settings.LoraRank,
                    LoraAlpha = parse.GetValue(loraAlpha) ?? settings.LoraAlpha,
                    Seed = parse.GetValue(seed) ?? settings.Seed,
                    SaveEvery = 0,
                };
                settings.Validate();
                using var pipeline = LlavaPipeline.Open(parse.GetRequiredValue(model), load);
                var result = new LlavaTrainer(pipeline, settings).Run(null, cancellationToken);
                Console.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteString("checkpoint", result.ModelDirectory);
                    w.WriteNumber("steps", result.Steps);
                    w.WriteNumber("samples", converted.Written);
                    w.WriteNumber("pool_records_skipped", converted.SkippedCount);
                    w.WriteNumber("samples_skipped", result.SkippedSamples.Count);
                    w.WriteNumber("samples_without_answer", result.SamplesWithoutAnswer);
                    w.WriteString("prompt", captionPrompt.Name + "@" + captionPrompt.Version.ToString(CultureInfo.InvariantCulture));
                    w.WriteString("report", Path.Combine(outDir, "report.json"));
                }));
                return Task.FromResult(0);
            }
            catch (Exception e) when (e is ArgumentException or IOException or CaptionPoolFormatException or VlmModelException or TokenizerFormatException
                or ImageProcessorConfigException or TrainingStoppedException or InvalidDataException)
            {
                Console.Error.WriteLine($"sft: {e.Message}");
                return Task.FromResult(e is ArgumentException ? UsageError : InputError);
            }
        });
        return command;
    }

    /// <summary>The printed summary: rounds.json without the per-round details, plus one line per round.</summary>
    private static JsonObject Brief(JsonObject summary, string outDir)
    {
        var brief = new JsonObject();
        foreach (var (name, value) in summary)
        {
            if (name != "rounds")
            {
                brief[name] = value?.DeepClone();
            }
        }
        brief["rounds_file"] = Path.Combine(outDir, "rounds.json");
        brief["rounds"] = new JsonArray([.. summary["rounds"]!.AsArray().Select(r => (JsonNode)new JsonObject
        {
            ["round"] = r!["round"]!.DeepClone(),
            ["status"] = r["status"]!.DeepClone(),
            ["pairs"] = r["pairs"]?["pairs"]?.DeepClone(),
            ["rate"] = r["heldout"]?["rate"]?.DeepClone(),
            ["wilson95"] = r["heldout"]?["wilson95"]?.DeepClone(),
            ["checkpoint"] = r["checkpoint"]?.DeepClone(),
            ["reason"] = r["reason"]?.DeepClone(),
        })]);
        return brief;
    }

    private static IImageSource OpenImages(string path, string option)
    {
        if (!Directory.Exists(path) && !File.Exists(path))
        {
            throw new IOException($"{option} {path}: no such folder or file.");
        }
        return ImageSources.Open(path);
    }

    private static DpoLossType ParseLoss(string text) => text.Trim().ToLowerInvariant() switch
    {
        "sigmoid" => DpoLossType.Sigmoid,
        "ipo" => DpoLossType.Ipo,
        "robust" => DpoLossType.Robust,
        _ => throw new ArgumentException($"--loss must be sigmoid, ipo or robust; found '{text}'."),
    };

    private static Uri EndpointUrl(string text, string option) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"{option}: '{text}' is not an http(s) URL.");

    /// <summary>In-process LLaVA captioners: the checkpoint loaded, batched generation.</summary>
    private sealed class LlavaCaptioners(LlavaLoadOptions load, int batch) : ICaptionerFactory
    {
        public IChatModel Open(string checkpoint) => new LlavaChatModel(LlavaPipeline.Open(checkpoint, load), maxBatchSize: batch, ownsPipeline: true);
    }

    private static readonly System.Text.Json.JsonSerializerOptions TrainerSettingsJson = new() { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    /// <summary>LoRA DPO with <see cref="DpoPairsTrainer"/>, per-step metrics on stderr.</summary>
    private sealed class LlavaDpoTrainer(LlavaLoadOptions load, DpoPairsTrainingOptions options) : IPreferenceTrainer
    {
        public Task<PreferenceTrainingResult> TrainAsync(string checkpoint, string pairsPath, string outputDirectory, CancellationToken cancellationToken = default) =>
            Task.Run(() =>
            {
                using var pipeline = LlavaPipeline.Open(checkpoint, load);
                var trainer = new DpoPairsTrainer(pipeline, options with { OutputDirectory = outputDirectory });
                var result = trainer.Run(pairsPath, step => Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"dpo-round: step {step.Step}: loss {step.Metrics.Loss:F4}, rewards/margins {step.Metrics.RewardsMargins:F4}, rewards/accuracies {step.Metrics.RewardsAccuracies:F2} ({step.Pairs} pairs)")), cancellationToken);
                return new PreferenceTrainingResult(result.ModelDirectory, result.Summary());
            }, cancellationToken);
    }
}
