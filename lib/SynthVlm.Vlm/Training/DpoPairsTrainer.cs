using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Training;

/// <summary>How <see cref="DpoPairsTrainer"/> trains. Validated when the trainer is created.</summary>
public sealed record DpoPairsTrainingOptions
{
    /// <summary>The output folder: model/ (the merged checkpoint), adapter/, report.json, metrics.svg, trainer_log.jsonl, skipped_pairs.jsonl.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>β, loss type and label smoothing (TRL's defaults: β 0.1, sigmoid).</summary>
    public DpoOptions Dpo { get; init; } = new();

    /// <summary>Passes over the pairs file (1).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Stop after this many optimizer steps (null: every pair of every epoch).</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Pairs per optimizer step, the global batch (8); the last step of an epoch may have fewer.</summary>
    public int PairsPerStep { get; init; } = 8;

    /// <summary>Pairs per forward/backward pass (2); a step accumulates the gradients of its micro-batches.</summary>
    public int MicroBatchSize { get; init; } = 2;

    /// <summary>The learning rate, constant over the run (5e-6).</summary>
    public double LearningRate { get; init; } = 5e-6;

    /// <summary>LoRA rank (8).</summary>
    public int LoraRank { get; init; } = 8;

    /// <summary>LoRA alpha (16).</summary>
    public double LoraAlpha { get; init; } = 16;

    /// <summary>Gradient clipping norm (1.0, TRL's <c>max_grad_norm</c>).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Seeds the LoRA initialisation (42).</summary>
    public int Seed { get; init; } = 42;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(OutputDirectory);
        Dpo.Validate();
        const string Name = nameof(DpoPairsTrainingOptions);
        foreach (var (value, name) in new[] { (Epochs, nameof(Epochs)), (PairsPerStep, nameof(PairsPerStep)), (MicroBatchSize, nameof(MicroBatchSize)), (LoraRank, nameof(LoraRank)), (MaxSteps ?? 1, nameof(MaxSteps)) })
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{Name}.{name} must be at least 1; found {value}.");
            }
        }
        foreach (var (value, name) in new[] { (LearningRate, nameof(LearningRate)), (LoraAlpha, nameof(LoraAlpha)), (MaxGradNorm, nameof(MaxGradNorm)) })
        {
            if (!double.IsFinite(value) || value <= 0)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{Name}.{name} must be a positive number; found {value}.");
            }
        }
    }
}

/// <summary>One optimizer step of a DPO run: TRL's metrics and what the step took.</summary>
/// <param name="Step">1-based step number.</param>
/// <param name="Epoch">0-based epoch.</param>
/// <param name="Pairs">Pairs in the step.</param>
/// <param name="Metrics">TRL's metrics (mean over the step's micro-batches).</param>
/// <param name="GradientNorm">Gradient norm before clipping (NaN when skipped).</param>
/// <param name="SkippedUpdate">Whether the update was skipped (non-finite loss or gradient).</param>
/// <param name="LearningRate">The rate the update used.</param>
/// <param name="PairsWithoutAnswer">Pairs skipped so far because truncation to the context leaves no chosen or rejected token.</param>
public sealed record DpoStepRecord(int Step, int Epoch, int Pairs, DpoMetrics Metrics, double GradientNorm, bool SkippedUpdate, double LearningRate, int PairsWithoutAnswer = 0);

/// <summary>What a <see cref="DpoPairsTrainer"/> run produced.</summary>
/// <param name="ModelDirectory">The merged full checkpoint (llava-hf layout): the next round's policy and reference.</param>
/// <param name="Steps">Per-step records.</param>
/// <param name="PairsRead">Pair lines read in the first epoch (valid or not).</param>
/// <param name="PairsSkipped">Pairs skipped (each recorded in skipped_pairs.jsonl with its line and reason).</param>
/// <param name="PairsWithoutAnswer">Of the skipped pairs, those whose chosen or rejected response the context cuts entirely (<c>answer_cut</c> in skipped_pairs.jsonl).</param>
public sealed record DpoPairsTrainingResult(string ModelDirectory, IReadOnlyList<DpoStepRecord> Steps, int PairsRead, int PairsSkipped, int PairsWithoutAnswer = 0)
{
    /// <summary>
    /// A summary for reports: steps, pairs, skipped pairs, and TRL's metrics of the first and last step and
    /// their mean over steps (keys as TRL logs them).
    /// </summary>
    public JsonObject Summary()
    {
        var done = Steps.Where(s => !s.SkippedUpdate).ToList();
        return new JsonObject
        {
            ["steps"] = Steps.Count,
            ["skipped_updates"] = Steps.Count - done.Count,
            ["pairs_read"] = PairsRead,
            ["pairs_skipped"] = PairsSkipped,
            ["pairs_without_answer"] = PairsWithoutAnswer,
            ["pairs_trained"] = Steps.Sum(s => s.Pairs),
            ["first"] = Steps.Count == 0 ? null : DpoPairsTrainer.MetricsJson(Steps[0].Metrics),
            ["last"] = Steps.Count == 0 ? null : DpoPairsTrainer.MetricsJson(Steps[^1].Metrics),
            ["mean"] = Steps.Count == 0 ? null : DpoPairsTrainer.MetricsJson(new DpoMetrics(
                Steps.Average(s => s.Metrics.Loss), Steps.Average(s => s.Metrics.RewardsChosen), Steps.Average(s => s.Metrics.RewardsRejected),
                Steps.Average(s => s.Metrics.RewardsAccuracies), Steps.Average(s => s.Metrics.RewardsMargins), Steps.Average(s => s.Metrics.LogpsChosen),
                Steps.Average(s => s.Metrics.LogpsRejected), Steps.Average(s => s.Metrics.LogitsChosen), Steps.Average(s => s.Metrics.LogitsRejected))),
        };
    }
}

/// <summary>
/// DPO of a LLaVA checkpoint on a preference-pairs JSONL file (as <c>PreferencePairBuilder</c> writes it:
/// <c>image_id</c>, <c>image</c>, <c>prompt</c>, <c>chosen</c>, <c>rejected</c> per line): LoRA adapters on the
/// language model's linear layers, the reference being the same model with the adapters disabled (PEFT's
/// <c>disable_adapter</c>, TRL's default for a PEFT policy) — i.e. exactly the starting checkpoint, since only
/// the adapters train (the projector is frozen so that the reference stays exact). At the end the adapters are
/// merged and the full model is written to OUT/model: the next round's policy and its reference.
/// </summary>
/// <remarks>
/// <para>
/// The pairs file is streamed, once per epoch, in file order (no shuffling: a round's pairs are already in image
/// order and a rerun is reproducible); only one step's pairs and images are held. Each pair becomes
/// <see cref="DpoPair.FromText"/> of its prompt and captions (LLaVA's vicuna_v1 generation prompt with the image
/// first; responses tokenized without special tokens plus EOS), its image preprocessed with the checkpoint's
/// default aspect mode, as the captioner saw it.
/// </para>
/// <para>
/// A bad line — not JSON (a truncated last line), a missing or empty field, an unreadable image, a pair the model
/// cannot score (fully truncated) — is skipped and recorded in <c>skipped_pairs.jsonl</c> (line number, image id,
/// reason); the run goes on. A run with no usable pair stops with <see cref="TrainingStoppedException"/>. Pairs whose
/// prompt (image included) leaves no response token inside the context are also counted apart
/// (<see cref="DpoPairsTrainingResult.PairsWithoutAnswer"/>); when every usable-looking pair is of that kind the
/// message says so, with the prompt's and the context's lengths, rather than only "no usable pair".
/// The learning rate is constant (TRL's default schedule is linear decay; for the few steps of a round the
/// difference is small and a constant rate keeps a round's update independent of how many pairs it found).
/// </para>
/// </remarks>
public sealed class DpoPairsTrainer
{
    private readonly LlavaPipeline pipeline;
    private readonly DpoPairsTrainingOptions options;

    /// <summary>Creates a trainer for the checkpoint loaded in <paramref name="pipeline"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is unusable; the message names it.</exception>
    public DpoPairsTrainer(LlavaPipeline pipeline, DpoPairsTrainingOptions options)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        this.pipeline = pipeline;
        this.options = options;
    }

    /// <summary>TRL's metric names and values as JSON.</summary>
    public static JsonObject MetricsJson(DpoMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(metrics);
        var json = new JsonObject();
        foreach (var (name, value) in metrics.ToDictionary())
        {
            json[name] = double.IsFinite(value) ? value : null;
        }
        return json;
    }

    /// <summary>Trains on <paramref name="pairsPath"/>; <paramref name="onStep"/> hears every step.</summary>
    /// <exception cref="FileNotFoundException">The pairs file does not exist.</exception>
    /// <exception cref="TrainingStoppedException">No usable pair in the file.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; nothing is written to OUT/model.</exception>
    public DpoPairsTrainingResult Run(string pairsPath, Action<DpoStepRecord>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(pairsPath);
        if (!File.Exists(pairsPath))
        {
            throw new FileNotFoundException($"The preference pairs file {pairsPath} does not exist.", pairsPath);
        }
        var output = options.OutputDirectory;
        Directory.CreateDirectory(output);
        var model = pipeline.Model;
        foreach (var (_, parameter) in model.named_parameters())
        {
            parameter.requires_grad = false;
        }
        var log = Path.Combine(output, "trainer_log.jsonl");
        File.WriteAllText(log, string.Empty);
        using var skippedLog = new StreamWriter(Path.Combine(output, "skipped_pairs.jsonl"), append: false);
        var steps = new List<DpoStepRecord>();
        var pairsRead = 0;
        var skipped = 0;
        var withoutAnswer = 0;
        DpoPairException? firstCut = null;
        var lora = LlavaLora.Attach(model, options.LoraRank, options.LoraAlpha, seed: options.Seed);
        try
        {
            lora.Training = true;
            using var optimizer = new MasterWeightAdamW([new ParameterGroup("lora", [.. lora.Parameters()])]);
            var objective = new DpoObjective(model, options.Dpo, adapters: lora);
            var batch = new List<LoadedPair>(options.PairsPerStep);
            for (var epoch = 0; epoch < options.Epochs && !Finished(); epoch++)
            {
                foreach (var (pair, line, imageId, problem, cut) in ReadPairs(pairsPath))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    if (epoch == 0)
                    {
                        pairsRead++;
                    }
                    if (pair is null)
                    {
                        if (epoch == 0)
                        {
                            Skip(line, imageId, problem!, cut);
                        }
                        continue;
                    }
                    batch.Add(pair);
                    if (batch.Count == options.PairsPerStep)
                    {
                        RunStep(epoch);
                        if (Finished())
                        {
                            break;
                        }
                    }
                }
                if (batch.Count > 0 && !Finished())
                {
                    RunStep(epoch);
                }
                batch.Clear();
            }
            skippedLog.Flush();
            if (steps.Count == 0 && withoutAnswer > 0 && withoutAnswer == skipped)
            {
                var prompt = firstCut?.PromptPositions is { } positions ? string.Create(CultureInfo.InvariantCulture, $"prompt needs {positions} tokens, the image counted as {model.Config.ImageTokenCount}") : firstCut?.Message;
                throw new TrainingStoppedException(string.Create(CultureInfo.InvariantCulture,
                    $"{pairsPath}: every one of {withoutAnswer} pairs has its answers cut by the {model.Config.ModelMaxLength}-token context ({prompt}); use a shorter prompt or a model with a longer context. Nothing was trained."));
            }
            if (steps.Count == 0)
            {
                throw new TrainingStoppedException($"{pairsPath}: no usable preference pair ({pairsRead} lines read, {skipped} skipped; see {Path.Combine(output, "skipped_pairs.jsonl")}).");
            }

            void RunStep(int epoch)
            {
                while (batch.Count > 0)
                {
                    try
                    {
                        var result = Step(objective, optimizer, batch);
                        var record = new DpoStepRecord(steps.Count + 1, epoch, batch.Count, result.Metrics, result.GradientNorm, result.SkippedUpdate, options.LearningRate, withoutAnswer);
                        steps.Add(record);
                        Log(log, record);
                        onStep?.Invoke(record);
                        break;
                    }
                    catch (DpoPairException e) when (batch.Any(p => p.Pair.Id == e.PairId))
                    {
                        // The step dropped its gradients; the others are tried again without the pair.
                        var bad = batch.First(p => p.Pair.Id == e.PairId);
                        batch.Remove(bad);
                        if (epoch == 0)
                        {
                            Skip(bad.Line, bad.ImageId, e.Message, e.AnswerCut ? e : null);
                        }
                    }
                }
                batch.Clear();
            }

            var adapterDirectory = Path.Combine(output, "adapter");
            LlavaLora.Save(lora, adapterDirectory, pipeline.Folder.Directory);
            LlavaLora.Merge(lora);
            var modelDirectory = Path.Combine(output, "model");
            var temporary = modelDirectory + ".tmp";
            if (Directory.Exists(temporary))
            {
                Directory.Delete(temporary, recursive: true);
            }
            LlavaCheckpointWriter.SaveHuggingFace(model, temporary, new LlavaSaveOptions
            {
                TokenizerDirectory = pipeline.Folder.TokenizerDirectory,
                PreprocessorConfigPath = pipeline.Folder.PreprocessorConfigPath,
                BosTokenId = pipeline.Tokenizer.BosId,
                EosTokenId = pipeline.Tokenizer.EosId,
            });
            if (Directory.Exists(modelDirectory))
            {
                Directory.Delete(modelDirectory, recursive: true);
            }
            Directory.Move(temporary, modelDirectory);
            var trained = new DpoPairsTrainingResult(modelDirectory, steps, pairsRead, skipped, withoutAnswer);
            WriteReport(pairsPath, trained);
            return trained;
        }
        finally
        {
            lora.Dispose();
        }

        bool Finished() => options.MaxSteps is { } max && steps.Count >= max;

        void Skip(int line, string? imageId, string reason, DpoPairException? cut)
        {
            skipped++;
            var record = new JsonObject { ["line"] = line, ["image_id"] = imageId, ["reason"] = reason };
            if (cut is not null)
            {
                withoutAnswer++;
                firstCut ??= cut;
                record["answer_cut"] = true;
            }
            skippedLog.WriteLine(record.ToJsonString());
        }
    }

    private DpoStepResult Step(DpoObjective objective, MasterWeightAdamW optimizer, IReadOnlyList<LoadedPair> batch)
    {
        using var scope = NewDisposeScope();
        var height = pipeline.Images.Height;
        var width = pipeline.Images.Width;
        var micro = new List<DpoMicroBatch>();
        foreach (var chunk in batch.Chunk(options.MicroBatchSize))
        {
            var pixels = tensor(chunk.SelectMany(p => p.Pixels).ToArray(), [chunk.Length, 3, height, width]).to(pipeline.Model.Device);
            micro.Add(new DpoMicroBatch([.. chunk.Select(p => p.Pair)], pixels));
        }
        return DpoTraining.Step(objective, optimizer, micro, options.LearningRate, options.MaxGradNorm);
    }

    /// <summary>Every non-blank line of the file, in order: the pair, or why it cannot be used.</summary>
    private IEnumerable<(LoadedPair? Pair, int Line, string? ImageId, string? Problem, DpoPairException? Cut)> ReadPairs(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8);
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            var (pair, problem, imageId, cut) = Load(path, line, number);
            yield return (pair, number, imageId, problem is null ? null : $"{path} line {number}: {problem}", cut);
        }
    }

    private (LoadedPair? Pair, string? Problem, string? ImageId, DpoPairException? Cut) Load(string path, string line, int number)
    {
        JsonObject json;
        try
        {
            json = JsonNode.Parse(line) as JsonObject ?? throw new JsonException("not a JSON object");
        }
        catch (JsonException e)
        {
            return (null, $"not a JSON object ({e.Message}); a torn last line is expected after a kill", null, null);
        }
        string? Text(string name) => json[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;
        var imageId = Text("image_id");
        foreach (var field in new[] { "image", "prompt", "chosen", "rejected" })
        {
            if (string.IsNullOrWhiteSpace(Text(field)))
            {
                return (null, $"the \"{field}\" field is missing or empty", imageId, null);
            }
        }
        var image = Text("image")!;
        if (!Path.IsPathRooted(image))
        {
            image = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, image);
        }
        var id = string.Create(CultureInfo.InvariantCulture, $"{imageId ?? "pair"}@{number}");
        DpoPair pair;
        try
        {
            pair = DpoPair.FromText(pipeline.Prompts, id, Text("prompt")!, Text("chosen")!.Trim(), Text("rejected")!.Trim(), pipeline.Model.Config.ImageTokenIndex);
            pair.Validate(pipeline.Model.Config);
        }
        catch (Exception e) when (e is DpoPairException or ArgumentException)
        {
            return (null, e.Message, imageId, e is DpoPairException { AnswerCut: true } cut ? cut : null);
        }
        float[] pixels;
        try
        {
            pixels = pipeline.Images.Preprocess(image, pipeline.Images.DefaultMode);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Imaging.ImagingException)
        {
            return (null, $"image {image}: {e.Message}", imageId, null);
        }
        return (new LoadedPair(pair, pixels, number, imageId), null, imageId, null);
    }

    private static void Log(string log, DpoStepRecord record)
    {
        var line = MetricsJson(record.Metrics);
        line.Insert(0, "step", record.Step);
        line.Insert(1, "epoch", record.Epoch);
        line["pairs"] = record.Pairs;
        line["learning_rate"] = record.LearningRate;
        line["grad_norm"] = double.IsFinite(record.GradientNorm) ? record.GradientNorm : null;
        line["skipped_update"] = record.SkippedUpdate;
        File.AppendAllText(log, line.ToJsonString() + "\n");
    }

    private void WriteReport(string pairsPath, DpoPairsTrainingResult result)
    {
        var output = options.OutputDirectory;
        var report = new JsonObject
        {
            ["kind"] = "dpo",
            ["pairs"] = Path.GetFullPath(pairsPath),
            ["base_model"] = pipeline.Folder.Directory,
            ["model"] = result.ModelDirectory,
            ["beta"] = options.Dpo.Beta,
            ["loss_type"] = DpoOptions.TrlName(options.Dpo.LossType),
            ["label_smoothing"] = options.Dpo.LabelSmoothing,
            ["reference"] = "the base model (LoRA adapters disabled)",
            ["epochs"] = options.Epochs,
            ["max_steps"] = options.MaxSteps,
            ["pairs_per_step"] = options.PairsPerStep,
            ["micro_batch_size"] = options.MicroBatchSize,
            ["learning_rate"] = options.LearningRate,
            ["lora_rank"] = options.LoraRank,
            ["lora_alpha"] = options.LoraAlpha,
            ["max_grad_norm"] = options.MaxGradNorm,
            ["seed"] = options.Seed,
            ["summary"] = result.Summary(),
            ["log_history"] = new JsonArray([.. result.Steps.Select(s =>
            {
                var line = MetricsJson(s.Metrics);
                line.Insert(0, "step", s.Step);
                line["grad_norm"] = double.IsFinite(s.GradientNorm) ? s.GradientNorm : null;
                return (JsonNode)line;
            })]),
        };
        File.WriteAllText(Path.Combine(output, "metrics.svg"), MetricsChart(result.Steps));
        File.WriteAllText(Path.Combine(output, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    /// <summary>Three panels of <see cref="TrainingReport.LineChart"/>: loss, rewards/margins and rewards/accuracies per step.</summary>
    public static string MetricsChart(IReadOnlyList<DpoStepRecord> steps)
    {
        ArgumentNullException.ThrowIfNull(steps);
        var panels = new (string Name, Func<DpoMetrics, double> Value)[]
        {
            (DpoMetricNames.Loss, m => m.Loss),
            (DpoMetricNames.RewardsMargins, m => m.RewardsMargins),
            (DpoMetricNames.RewardsAccuracies, m => m.RewardsAccuracies),
        };
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{TrainingReport.ChartWidth}\" height=\"{TrainingReport.ChartHeight * panels.Length}\">");
        for (var i = 0; i < panels.Length; i++)
        {
            var chart = TrainingReport.LineChart([.. steps.Select(s => panels[i].Value(s.Metrics))], $"{panels[i].Name} per step");
            svg.Append(CultureInfo.InvariantCulture, $"<g transform=\"translate(0,{TrainingReport.ChartHeight * i})\">{chart}</g>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    private sealed record LoadedPair(DpoPair Pair, float[] Pixels, int Line, string? ImageId);
}
