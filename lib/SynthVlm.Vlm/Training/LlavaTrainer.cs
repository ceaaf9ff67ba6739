using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Prompts;
using TorchSharp;
using TorchSharp.PyBridge;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Training;

/// <summary>What one optimizer step did.</summary>
/// <param name="Step">Steps done (1-based).</param>
/// <param name="TotalSteps">Steps the job will take.</param>
/// <param name="Loss">Mean of the micro-batch losses (NaN when the step was skipped).</param>
/// <param name="LearningRate">The rate the update used.</param>
/// <param name="GradientNorm">Global gradient norm before clipping.</param>
/// <param name="Samples">Samples in the step.</param>
/// <param name="Tokens">Sequence positions in the step (image positions included).</param>
/// <param name="SamplesPerSecond">Samples per second of this step.</param>
/// <param name="TokensPerSecond">Positions per second of this step.</param>
/// <param name="Eta">Estimated time to the last step.</param>
/// <param name="SkippedUpdate">Whether the update was skipped (non-finite loss or gradient).</param>
/// <param name="SamplesWithoutAnswer">Samples skipped so far because no answer token is left after truncation to the context (first epoch, over resumes).</param>
public sealed record TrainingStepMetrics(
    int Step, int TotalSteps, double Loss, double LearningRate, double GradientNorm, int Samples, long Tokens,
    double SamplesPerSecond, double TokensPerSecond, TimeSpan Eta, bool SkippedUpdate, int SamplesWithoutAnswer = 0);

/// <summary>What a finished (or stopped) job produced.</summary>
/// <param name="Steps">Steps done.</param>
/// <param name="ModelDirectory">The llava-hf model folder written at the end.</param>
/// <param name="Losses">Loss per step, this run and earlier runs of the same output folder.</param>
/// <param name="SkippedSamples">Samples skipped, with their reasons.</param>
/// <param name="TruncatedSamples">Samples cut to the context after the image was spliced in (this run).</param>
/// <param name="SamplesWithoutAnswer">
/// Samples skipped because truncation to the context leaves none of their answer tokens (counted as the first epoch
/// reads them, over resumes); the first one is also in <paramref name="SkippedSamples"/> with its numbers.
/// </param>
public sealed record TrainingResult(int Steps, string ModelDirectory, IReadOnlyList<double> Losses, IReadOnlyList<string> SkippedSamples, int TruncatedSamples = 0, int SamplesWithoutAnswer = 0);

/// <summary>The job stopped on purpose: three non-finite losses in a row, or a data problem; the message says which.</summary>
public sealed class TrainingStoppedException : Exception
{
    /// <summary>Creates the exception.</summary>
    public TrainingStoppedException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingStoppedException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingStoppedException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// LLaVA-1.5 training on a <see cref="LlavaPipeline"/>: stage 1 trains the projector, stage 2 LoRA
/// adapters (and the projector) or the whole LLM. Gradient accumulation, clipping, AdamW with fp32
/// master weights, cosine warm-up; a checkpoint every N steps written atomically; the same output
/// folder again resumes from the last checkpoint and continues exactly (the data order is a
/// function of seed and epoch, dropout is reseeded per step).
/// </summary>
/// <remarks>
/// A sample whose answer is entirely cut by the context (a long prompt plus the image's
/// <see cref="LlavaConfig.ImageTokenCount"/> positions reaching <see cref="LlavaConfig.ModelMaxLength"/>; see
/// <see cref="AnswerFit"/>) has every label ignored. LLaVA (haotian-liu/LLaVA c121f04) keeps such samples: its
/// <c>prepare_inputs_labels_for_multimodal</c> cuts embeddings and labels to <c>tokenizer_model_max_length</c> and
/// filters nothing; they add nothing to a batch's loss, and a batch made only of them gives the mean cross-entropy
/// over zero tokens of the transformers it pins (4.37.2: NaN, unguarded; our loss, clamped, gives 0), so a data set
/// of them "trains" to the end having learned nothing. Here they are skipped before their images are read and counted (<see cref="TrainingResult.SamplesWithoutAnswer"/>,
/// <see cref="TrainingStepMetrics.SamplesWithoutAnswer"/>, report.json's <c>samples_without_answer</c>), the first
/// one recorded with its numbers; and when no sample of the data has an answer token left the job fails before
/// the first step with <see cref="TrainingStoppedException"/> saying how long the prompt is and how long the context.
/// </remarks>
public sealed class LlavaTrainer
{
    private const string CheckpointsFolder = "checkpoints";
    private const string LatestFile = "latest";
    private readonly LlavaPipeline pipeline;
    private readonly TrainingSettings settings;

    /// <summary>Creates a trainer; nothing runs until <see cref="Run"/>.</summary>
    public LlavaTrainer(LlavaPipeline pipeline, TrainingSettings settings)
    {
        ArgumentNullException.ThrowIfNull(pipeline);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        this.pipeline = pipeline;
        this.settings = settings;
    }

    /// <summary>Runs (or resumes) the job; <paramref name="onStep"/> hears every step.</summary>
    /// <exception cref="TrainingStoppedException">Three non-finite steps in a row, or no usable sample.</exception>
    /// <exception cref="OperationCanceledException">Cancelled; the last checkpoint stays.</exception>
    public TrainingResult Run(Action<TrainingStepMetrics>? onStep = null, CancellationToken cancellationToken = default)
    {
        var model = pipeline.Model;
        Directory.CreateDirectory(settings.OutputDirectory);
        var sources = settings.Sources.Select(s => LlavaDataIndex.Build(s.DataPath, s.ImageFolder)).ToList();
        var weights = settings.Sources.Select(s => s.Weight).ToList();
        var epochSize = TrainingOrder.EpochSize(sources, weights);
        if (epochSize == 0)
        {
            throw new TrainingStoppedException("The data mixture has no samples.");
        }
        var stepsPerEpoch = (epochSize + settings.GlobalBatchSize - 1) / settings.GlobalBatchSize;
        var totalSteps = Math.Min(settings.MaxSteps ?? int.MaxValue, stepsPerEpoch * settings.Epochs);
        var schedule = LearningRateSchedule.CosineWithWarmupRatio(settings.LearningRate, totalSteps, settings.WarmupRatio);
        var template = settings.Stage == TrainingStage.Pretrain ? ConversationTemplate.Plain : ConversationTemplate.VicunaV1;
        RequireSomeAnswer(sources, template);

        LlavaLoraSet? lora = null;
        var checkpointing = model.GradientCheckpointing;
        model.GradientCheckpointing = settings.GradientCheckpointing;
        try
        {
            var groups = Trainables(model, ref lora);
            using var optimizer = new MasterWeightAdamW(groups);
            var state = TryResume(model, lora, optimizer);
            var aspect = settings.ImageAspect ?? (settings.Stage == TrainingStage.Pretrain ? ImageAspectMode.Crop : ImageAspectMode.Pad);
            using var loader = new MicroBatchLoader(pipeline, sources, weights, settings, template, aspect, state.Epoch, state.Cursor);
            var skipped = new List<string>(state.Skipped);
            var losses = new List<double>(state.Losses);
            var log = Path.Combine(settings.OutputDirectory, "trainer_log.jsonl");
            var watch = Stopwatch.StartNew();
            var startStep = state.Step;
            var nonFinite = 0;
            var truncated = 0;
            var withoutAnswer = state.WithoutAnswer;
            long trainedSamples = 0;
            for (var step = state.Step; step < totalSteps; step++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var span = TrainingTelemetry.ActivitySource.StartActivity("train step");
                var began = watch.Elapsed;
                // Dropout draws from the global generator: reseeded per step, so a resumed job draws the same masks.
                manual_seed(settings.Seed + (1_000_003L * (step + 1)));
                double loss = 0;
                var samples = 0;
                long tokens = 0;
                var microBatches = 0;
                for (var m = 0; m < settings.AccumulationSteps; m++)
                {
                    var batch = loader.Next();
                    if (batch is null)
                    {
                        break;
                    }
                    foreach (var s in batch.Skipped)
                    {
                        skipped.Add(s);
                        TrainingTelemetry.Skipped.Add(1);
                    }
                    foreach (var cut in batch.WithoutAnswer)
                    {
                        TrainingTelemetry.Skipped.Add(1);
                        // Counted once per sample: as the first epoch reads it (later epochs read the same samples).
                        if (batch.Epoch > 0)
                        {
                            continue;
                        }
                        if (withoutAnswer++ == 0)
                        {
                            skipped.Add($"{cut.Source}: sample '{cut.Id}': no answer token is left after truncation to the context: {cut.Fit.Describe()}; samples like it are skipped and counted in samples_without_answer.");
                        }
                    }
                    if (batch.Sequences.Count == 0)
                    {
                        // Only an epoch's tail can come back empty (every sample left skipped or cut): take the
                        // next micro-batch instead, so an empty tail neither shortens the step nor ends the job.
                        m--;
                        continue;
                    }
                    using var scope = NewDisposeScope();
                    using var pixels = batch.Pixels is null ? null : tensor(batch.Pixels, [batch.ImageCount, 3, pipeline.Images.Height, pipeline.Images.Width]);
                    using var output = model.Forward(batch.Sequences, pixels);
                    // transformers' Trainer divides each micro-batch loss by the accumulation steps.
                    output.Loss!.Over(settings.AccumulationSteps).backward();
                    loss += output.Loss!.item<float>() / settings.AccumulationSteps;
                    samples += batch.Sequences.Count;
                    tokens += output.Batch.Lengths.Sum();
                    truncated += output.Batch.Truncated;
                    microBatches++;
                }
                if (microBatches == 0)
                {
                    totalSteps = step;
                    break;
                }
                var rate = schedule.At(step);
                double norm = double.NaN;
                var skip = !double.IsFinite(loss) || !optimizer.GradientsAreFinite();
                if (skip)
                {
                    nonFinite++;
                    skipped.Add($"step {step + 1}: update skipped, non-finite loss or gradient (loss {loss})");
                    optimizer.ZeroGrad();
                    if (nonFinite >= 3)
                    {
                        throw new TrainingStoppedException($"Stopped at step {step + 1}: three steps in a row had a non-finite loss or gradient (last loss {loss}); the last checkpoint is kept.");
                    }
                }
                else
                {
                    nonFinite = 0;
                    norm = optimizer.ClipGradientNorm(settings.MaxGradNorm);
                    optimizer.Step(rate);
                    optimizer.ZeroGrad();
                }
                losses.Add(loss);
                trainedSamples += samples;
                var elapsed = (watch.Elapsed - began).TotalSeconds;
                var done = step + 1;
                var perStep = watch.Elapsed.TotalSeconds / (done - startStep);
                var metrics = new TrainingStepMetrics(done, totalSteps, loss, rate, norm, samples, tokens,
                    samples / Math.Max(elapsed, 1e-9), tokens / Math.Max(elapsed, 1e-9), TimeSpan.FromSeconds(perStep * (totalSteps - done)), skip, withoutAnswer);
                Record(metrics, span, log);
                onStep?.Invoke(metrics);
                if (settings.SaveEvery > 0 && done % settings.SaveEvery == 0 && done < totalSteps)
                {
                    SaveCheckpoint(model, lora, optimizer, new TrainerState(done, loader.Epoch, loader.Cursor, losses, skipped, withoutAnswer));
                }
            }
            SaveCheckpoint(model, lora, optimizer, new TrainerState(losses.Count, loader.Epoch, loader.Cursor, losses, skipped, withoutAnswer));
            var run = new TrainingRunSummary(watch.Elapsed.TotalSeconds, losses.Count - startStep, trainedSamples, truncated, withoutAnswer);
            var modelDirectory = WriteOutputs(model, lora, losses, skipped, run);
            return new TrainingResult(losses.Count, modelDirectory, losses, skipped, truncated, withoutAnswer);
        }
        finally
        {
            lora?.Dispose();
            model.GradientCheckpointing = checkpointing;
        }
    }

    private List<ParameterGroup> Trainables(LlavaModel model, ref LlavaLoraSet? lora)
    {
        var named = model.named_parameters().ToList();
        foreach (var (_, parameter) in named)
        {
            parameter.requires_grad = false;
        }
        var projector = named.Where(p => p.name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)).Select(p => (Tensor)p.parameter).ToList();
        projector.ForEach(p => p.requires_grad = true);
        var projectorScale = (settings.ProjectorLearningRate ?? settings.LearningRate) / settings.LearningRate;
        if (settings.Stage == TrainingStage.Pretrain)
        {
            return [new ParameterGroup("projector", projector)];
        }
        if (settings.LoraRank is { } rank)
        {
            lora = LlavaLora.Attach(model, rank, settings.LoraAlpha, dropout: settings.LoraDropout, seed: settings.Seed);
            lora.Training = true;
            return [new ParameterGroup("lora", [.. lora.Parameters()]), new ParameterGroup("projector", projector, projectorScale)];
        }
        var llm = named.Where(p => p.name.StartsWith("language_model.", StringComparison.Ordinal)).Select(p => (Tensor)p.parameter).ToList();
        llm.ForEach(p => p.requires_grad = true);
        return [new ParameterGroup("language_model", llm, 1.0, settings.WeightDecay), new ParameterGroup("projector", projector, projectorScale, settings.WeightDecay)];
    }

    private static void Record(TrainingStepMetrics metrics, Activity? span, string log)
    {
        TrainingTelemetry.Loss.Record(metrics.Loss);
        TrainingTelemetry.LearningRate.Record(metrics.LearningRate);
        TrainingTelemetry.Samples.Add(metrics.Samples);
        TrainingTelemetry.Tokens.Add(metrics.Tokens);
        TrainingTelemetry.StepDuration.Record(metrics.Samples / Math.Max(metrics.SamplesPerSecond, 1e-12));
        span?.SetTag("step", metrics.Step);
        span?.SetTag("loss", metrics.Loss);
        span?.SetTag("lr", metrics.LearningRate);
        var line = new JsonObject
        {
            ["step"] = metrics.Step,
            ["loss"] = double.IsFinite(metrics.Loss) ? metrics.Loss : null,
            ["lr"] = metrics.LearningRate,
            ["grad_norm"] = double.IsFinite(metrics.GradientNorm) ? metrics.GradientNorm : null,
            ["samples_per_s"] = metrics.SamplesPerSecond,
            ["tokens_per_s"] = metrics.TokensPerSecond,
            ["skipped_update"] = metrics.SkippedUpdate,
        };
        File.AppendAllText(log, line.ToJsonString() + "\n");
    }

    private sealed record TrainerState(int Step, int Epoch, int Cursor, IReadOnlyList<double> Losses, IReadOnlyList<string> Skipped, int WithoutAnswer);

    /// <summary>
    /// Fails before any step when no sample of the mixture keeps an answer token after truncation. Reads the
    /// samples in file order (text only, no image) and stops at the first one that keeps one, so a sound data set
    /// costs one sample here; refused and unreadable samples are left to the loader, which records them.
    /// </summary>
    private void RequireSomeAnswer(IReadOnlyList<LlavaDataIndex> sources, ConversationTemplate template)
    {
        var cut = 0;
        CutSample? first = null;
        foreach (var source in sources)
        {
            for (var i = 0; i < source.Count; i++)
            {
                LlavaConversation sample;
                try
                {
                    sample = source.Read(i);
                }
                catch (InvalidDataException)
                {
                    continue;
                }
                var prepared = pipeline.Prompts.Encode(sample, template);
                if (prepared.IsRejected)
                {
                    continue;
                }
                var fit = AnswerFit.Measure(prepared.InputIds, prepared.Labels, pipeline.Model.Config);
                if (fit.HasAnswer)
                {
                    return;
                }
                cut++;
                first ??= new CutSample(prepared.Id, source.Path, fit);
            }
        }
        if (first is not null)
        {
            var fit = first.Fit;
            throw new TrainingStoppedException(string.Create(CultureInfo.InvariantCulture,
                $"Every one of {cut} samples has its answer cut by the {fit.ContextLength}-token context (prompt needs {fit.PromptPositions} tokens, the image counted as {pipeline.Model.Config.ImageTokenCount}; first: sample '{first.Id}' of {first.Source}); use a shorter prompt or a model with a longer context. Nothing was trained."));
        }
    }

    private string CheckpointRoot => Path.Combine(settings.OutputDirectory, CheckpointsFolder);

    private TrainerState TryResume(LlavaModel model, LlavaLoraSet? lora, MasterWeightAdamW optimizer)
    {
        var latest = Path.Combine(CheckpointRoot, LatestFile);
        if (!File.Exists(latest))
        {
            return new TrainerState(0, 0, 0, [], [], 0);
        }
        var folder = Path.Combine(CheckpointRoot, File.ReadAllText(latest).Trim());
        var stateJson = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "trainer_state.json")))!.AsObject();
        using (var trainables = new TensorDictionary(Safetensors.LoadStateDict(Path.Combine(folder, "trainable.safetensors"))))
        using (no_grad())
        {
            foreach (var (name, parameter) in TrainableTensors(model, lora))
            {
                if (!trainables.Items.TryGetValue(name, out var saved) || !saved.shape.SequenceEqual(parameter.shape))
                {
                    throw new InvalidDataException($"{folder}: trainable tensor {name} is missing or has another shape; the checkpoint is of another configuration.");
                }
                parameter.copy_(saved);
            }
        }
        using (var optimizerState = new TensorDictionary(Safetensors.LoadStateDict(Path.Combine(folder, "optimizer.safetensors"))))
        {
            optimizer.LoadState(optimizerState.Items, stateJson["optimizer_steps"]!.GetValue<long>());
        }
        // Trainer logs past the checkpoint belong to steps that will be run again.
        var step = stateJson["step"]!.GetValue<int>();
        var log = Path.Combine(settings.OutputDirectory, "trainer_log.jsonl");
        if (File.Exists(log))
        {
            var kept = File.ReadLines(log).Take(step).ToList();
            File.WriteAllLines(log, kept);
        }
        return new TrainerState(
            step,
            stateJson["epoch"]!.GetValue<int>(),
            stateJson["cursor"]!.GetValue<int>(),
            [.. stateJson["losses"]!.AsArray().Select(l => l is null ? double.NaN : l.GetValue<double>())],
            [.. stateJson["skipped"]!.AsArray().Select(s => s!.GetValue<string>())],
            stateJson["samples_without_answer"]?.GetValue<int>() ?? 0);
    }

    private void SaveCheckpoint(LlavaModel model, LlavaLoraSet? lora, MasterWeightAdamW optimizer, TrainerState state)
    {
        using var span = TrainingTelemetry.ActivitySource.StartActivity("checkpoint");
        var name = string.Create(CultureInfo.InvariantCulture, $"step-{state.Step:D8}");
        var folder = Path.Combine(CheckpointRoot, name);
        var temporary = folder + ".tmp";
        if (Directory.Exists(temporary))
        {
            Directory.Delete(temporary, recursive: true);
        }
        Directory.CreateDirectory(temporary);
        SafetensorsWriter.Write(Path.Combine(temporary, "trainable.safetensors"), [.. TrainableTensors(model, lora)], ScalarType.Float32);
        SafetensorsWriter.Write(Path.Combine(temporary, "optimizer.safetensors"), optimizer.StateTensors(), ScalarType.Float32);
        var json = new JsonObject
        {
            ["step"] = state.Step,
            ["epoch"] = state.Epoch,
            ["cursor"] = state.Cursor,
            ["optimizer_steps"] = optimizer.Steps,
            ["seed"] = settings.Seed,
            ["losses"] = new JsonArray([.. state.Losses.Select(l => double.IsFinite(l) ? JsonValue.Create(l) : null)]),
            ["skipped"] = new JsonArray([.. state.Skipped.Select(s => JsonValue.Create(s))]),
            ["samples_without_answer"] = state.WithoutAnswer,
        };
        File.WriteAllText(Path.Combine(temporary, "trainer_state.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
        Directory.Move(temporary, folder);
        var latest = Path.Combine(CheckpointRoot, LatestFile);
        File.WriteAllText(latest + ".tmp", name);
        File.Move(latest + ".tmp", latest, overwrite: true);
        // Older checkpoints are superseded; keep the newest only (they hold full optimizer state).
        foreach (var old in Directory.GetDirectories(CheckpointRoot, "step-*").Where(d => Path.GetFileName(d) != name && !d.EndsWith(".tmp", StringComparison.Ordinal)))
        {
            Directory.Delete(old, recursive: true);
        }
    }

    private static IEnumerable<(string Name, Tensor Tensor)> TrainableTensors(LlavaModel model, LlavaLoraSet? lora)
    {
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (parameter.requires_grad)
            {
                yield return (name, parameter);
            }
        }
        if (lora is not null)
        {
            foreach (var (name, adapter) in lora.Adapters.OrderBy(a => a.Key, StringComparer.Ordinal))
            {
                yield return ($"lora.{name}.A", adapter.A);
                yield return ($"lora.{name}.B", adapter.B);
            }
        }
    }

    private string WriteOutputs(LlavaModel model, LlavaLoraSet? lora, IReadOnlyList<double> losses, IReadOnlyList<string> skipped, TrainingRunSummary run)
    {
        var output = settings.OutputDirectory;
        if (settings.Stage == TrainingStage.Pretrain)
        {
            LlavaCheckpointWriter.SaveProjector(model, Path.Combine(output, "mm_projector.bin"));
        }
        if (lora is not null)
        {
            var adapter = Path.Combine(output, "adapter");
            LlavaLora.Save(lora, adapter, pipeline.Folder.Directory);
            LlavaLora.Merge(lora);
        }
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
        TrainingReport.Write(output, settings, losses, skipped, run);
        return modelDirectory;
    }

    /// <summary>Owns a loaded state dictionary's tensors.</summary>
    private sealed class TensorDictionary(Dictionary<string, Tensor> items) : IDisposable
    {
        public IReadOnlyDictionary<string, Tensor> Items => items;

        public void Dispose()
        {
            foreach (var t in items.Values)
            {
                t.Dispose();
            }
        }
    }
}
