using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm.Training;
using ProtoStage = SynthVlm.Protos.V1.TrainingStage;
using VlmStage = SynthVlm.Vlm.Training.TrainingStage;

namespace SynthVlm.TrainingService;

/// <summary>A request that cannot be trained on; the message starts with the proto field at fault.</summary>
public sealed class TrainingRequestException : Exception
{
    /// <summary>Creates the exception for <paramref name="field"/> (e.g. hyperparameters.learning_rate).</summary>
    public TrainingRequestException(string field, string problem)
        : base($"{field}: {problem}")
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingRequestException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingRequestException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public TrainingRequestException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// The wire forms: a <see cref="SubmitTrainingRequest"/> becomes a <see cref="TrainingJobRequest"/>
/// (paths resolved against the data folder, the stage's LLaVA defaults overridden by the set
/// hyperparameters), a <see cref="TrainingJobStatus"/> a <see cref="TrainingJob"/> or a
/// <see cref="TrainingProgress"/>.
/// </summary>
public static class TrainingRequests
{
    /// <summary>
    /// Resolves a path: absolute paths are taken as given (normalised); relative ones are relative
    /// to <paramref name="dataDirectory"/> and may not leave it ("../x" is refused).
    /// </summary>
    /// <exception cref="TrainingRequestException">A relative path leaves the data folder.</exception>
    public static string ResolvePath(string path, string dataDirectory, string field) =>
        DataPaths.ResolveUnder(path, dataDirectory, out var problem) ?? throw new TrainingRequestException(field, problem!);

    /// <summary>The job request of <paramref name="request"/>; the settings are not validated yet (the manager does).</summary>
    /// <param name="request">The wire request.</param>
    /// <param name="dataDirectory">Relative paths are resolved against it.</param>
    /// <param name="defaultOutput">The output folder when the request names none.</param>
    /// <exception cref="TrainingRequestException">A field is missing or wrong, or a dataset is a caption pool (use the overload that returns them).</exception>
    public static TrainingJobRequest ToJobRequest(SubmitTrainingRequest request, string dataDirectory, Func<string> defaultOutput)
    {
        var job = ToJobRequest(request, dataDirectory, defaultOutput, out var pools);
        return pools.Count == 0 ? job : throw new TrainingRequestException($"datasets[{pools[0].Index}].format", "caption pools are converted by the service's Submit; this conversion takes LLaVA datasets only.");
    }

    /// <summary>
    /// The job request of <paramref name="request"/> (settings not validated yet) and its caption-pool datasets still to
    /// convert: the job's source of each is a stand-in (the pool itself) until <see cref="CaptionPoolDatasets"/> replaces it.
    /// </summary>
    /// <param name="request">The wire request.</param>
    /// <param name="dataDirectory">Relative paths are resolved against it.</param>
    /// <param name="defaultOutput">The output folder when the request names none.</param>
    /// <param name="captionPools">The TRAINING_DATASET_FORMAT_CAPTION_POOL datasets, in request order.</param>
    /// <exception cref="TrainingRequestException">A field is missing or wrong.</exception>
    public static TrainingJobRequest ToJobRequest(SubmitTrainingRequest request, string dataDirectory, Func<string> defaultOutput, out IReadOnlyList<CaptionPoolDataset> captionPools)
    {
        captionPools = [];
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(defaultOutput);
        var stage = request.Stage switch
        {
            ProtoStage.Pretrain => VlmStage.Pretrain,
            ProtoStage.Finetune => VlmStage.Finetune,
            ProtoStage.Dpo => VlmStage.Dpo,
            _ => throw new TrainingRequestException("stage", $"{request.Stage} is not TRAINING_STAGE_PRETRAIN, TRAINING_STAGE_FINETUNE or TRAINING_STAGE_DPO."),
        };
        if (stage == VlmStage.Dpo)
        {
            return ToDpoJobRequest(request, dataDirectory, defaultOutput);
        }
        if (request.Datasets.Count == 0)
        {
            throw new TrainingRequestException("datasets", "at least one dataset is needed.");
        }
        var sources = new List<TrainingDataSource>();
        var pools = new List<CaptionPoolDataset>();
        for (var i = 0; i < request.Datasets.Count; i++)
        {
            var field = $"datasets[{i}].path";
            var dataset = request.Datasets[i];
            var isPool = dataset.Format switch
            {
                TrainingDatasetFormat.Unspecified or TrainingDatasetFormat.LlavaJson => false,
                TrainingDatasetFormat.CaptionPool => true,
                _ => throw new TrainingRequestException($"datasets[{i}].format", $"{(int)dataset.Format} is not TRAINING_DATASET_FORMAT_LLAVA_JSON (1) or TRAINING_DATASET_FORMAT_CAPTION_POOL (2)."),
            };
            if (string.IsNullOrWhiteSpace(dataset.Path))
            {
                throw new TrainingRequestException(field, isPool ? "a caption pool file (or imagefolder) is needed." : "a dataset folder or LLaVA JSON is needed.");
            }
            var weight = dataset.HasWeight ? dataset.Weight : 1.0;
            if (!(weight is > 0 and <= 1000 && double.IsFinite(weight)))
            {
                throw new TrainingRequestException($"datasets[{i}].weight", $"{weight} is outside (0, 1000].");
            }
            if (isPool)
            {
                var pool = CaptionPoolDatasets.Resolve(i, dataset, weight, dataDirectory);
                pools.Add(pool);
                sources.Add(pool.StandIn);
                continue;
            }
            foreach (var (name, value) in new[] { ("prompt", dataset.Prompt), ("prompt_text", dataset.PromptText), ("images_root", dataset.ImagesRoot) })
            {
                if (value.Length > 0)
                {
                    throw new TrainingRequestException($"datasets[{i}].{name}", "is for TRAINING_DATASET_FORMAT_CAPTION_POOL datasets only; a LLaVA JSON holds its own prompts and images.");
                }
            }
            try
            {
                sources.Add(TrainingDataSources.Resolve(ResolvePath(dataset.Path, dataDirectory, field), weight));
            }
            catch (ArgumentException e)
            {
                throw new TrainingRequestException(field, ArgumentMessages.Plain(e));
            }
        }
        string? Optional(string value, string field) => value is { Length: > 0 } ? ResolvePath(value, dataDirectory, field) : null;
        var baseModel = new TrainingBaseModel(Optional(request.ModelDir, "model_dir"), Optional(request.VisionDir, "vision_dir"), Optional(request.LlmDir, "llm_dir"), Optional(request.ProjectorPath, "projector_path"));
        var output = request.OutputDir is { Length: > 0 } o ? ResolvePath(o, dataDirectory, "output_dir") : defaultOutput();
        var h = request.Hyperparameters ?? new TrainingHyperparameters();
        if (h.Full && stage == VlmStage.Pretrain)
        {
            throw new TrainingRequestException("hyperparameters.full", "full fine-tuning is a stage-2 option; stage 1 trains the projector.");
        }
        var settings = stage == VlmStage.Pretrain ? TrainingSettings.Pretrain(sources, output) : TrainingSettings.Finetune(sources, output, lora: !h.Full);
        settings = settings with
        {
            Epochs = h.HasEpochs ? h.Epochs : settings.Epochs,
            MaxSteps = h.HasMaxSteps ? h.MaxSteps : settings.MaxSteps,
            GlobalBatchSize = h.HasGlobalBatchSize ? h.GlobalBatchSize : settings.GlobalBatchSize,
            MicroBatchSize = h.HasMicroBatchSize ? h.MicroBatchSize : Math.Min(settings.MicroBatchSize, h.HasGlobalBatchSize ? Math.Max(1, h.GlobalBatchSize) : settings.GlobalBatchSize),
            LearningRate = h.HasLearningRate ? h.LearningRate : settings.LearningRate,
            ProjectorLearningRate = h.HasProjectorLearningRate ? h.ProjectorLearningRate : settings.ProjectorLearningRate,
            LoraRank = settings.LoraRank is null ? (h.HasLoraRank && stage == VlmStage.Pretrain ? h.LoraRank : null) : h.HasLoraRank ? h.LoraRank : settings.LoraRank,
            LoraAlpha = h.HasLoraAlpha ? h.LoraAlpha : settings.LoraAlpha,
            Seed = h.HasSeed ? h.Seed : settings.Seed,
            SaveEvery = h.HasSaveEvery ? h.SaveEvery : settings.SaveEvery,
            DataWorkers = h.HasDataWorkers ? h.DataWorkers : settings.DataWorkers,
            WarmupRatio = h.HasWarmupRatio ? h.WarmupRatio : settings.WarmupRatio,
            WeightDecay = h.HasWeightDecay ? h.WeightDecay : settings.WeightDecay,
        };
        captionPools = pools;
        return new TrainingJobRequest(settings, baseModel, request.Run is { Length: > 0 } run ? run : null);
    }

    /// <summary>A TRAINING_STAGE_DPO request: model_dir, preference_pairs and the DPO settings over DpoPairsTrainer's defaults.</summary>
    private static TrainingJobRequest ToDpoJobRequest(SubmitTrainingRequest request, string dataDirectory, Func<string> defaultOutput)
    {
        if (request.Datasets.Count > 0)
        {
            throw new TrainingRequestException("datasets", "TRAINING_STAGE_DPO trains on preference_pairs, not datasets.");
        }
        if (string.IsNullOrWhiteSpace(request.ModelDir))
        {
            throw new TrainingRequestException("model_dir", "TRAINING_STAGE_DPO needs the policy's model folder (it is also the reference).");
        }
        if (string.IsNullOrWhiteSpace(request.PreferencePairs))
        {
            throw new TrainingRequestException("preference_pairs", "TRAINING_STAGE_DPO needs a preference-pairs JSONL.");
        }
        var pairs = ResolvePath(request.PreferencePairs, dataDirectory, "preference_pairs");
        if (!File.Exists(pairs))
        {
            throw new TrainingRequestException("preference_pairs", $"{pairs} does not exist.");
        }
        var output = request.OutputDir is { Length: > 0 } o ? ResolvePath(o, dataDirectory, "output_dir") : defaultOutput();
        var h = request.Hyperparameters ?? new TrainingHyperparameters();
        var d = request.Dpo ?? new DpoHyperparameters();
        var defaults = new DpoPairsTrainingOptions { OutputDirectory = output };
        var loss = d.LossType switch
        {
            "" or "sigmoid" => DpoLossType.Sigmoid,
            "ipo" => DpoLossType.Ipo,
            "robust" => DpoLossType.Robust,
            _ => throw new TrainingRequestException("dpo.loss_type", $"'{d.LossType}' is not sigmoid, ipo or robust."),
        };
        var options = defaults with
        {
            Dpo = defaults.Dpo with
            {
                Beta = d.HasBeta ? d.Beta : defaults.Dpo.Beta,
                LossType = loss,
                LabelSmoothing = d.HasLabelSmoothing ? d.LabelSmoothing : defaults.Dpo.LabelSmoothing,
            },
            Epochs = h.HasEpochs ? h.Epochs : defaults.Epochs,
            MaxSteps = h.HasMaxSteps ? h.MaxSteps : defaults.MaxSteps,
            PairsPerStep = h.HasGlobalBatchSize ? h.GlobalBatchSize : defaults.PairsPerStep,
            MicroBatchSize = h.HasMicroBatchSize ? h.MicroBatchSize : defaults.MicroBatchSize,
            LearningRate = h.HasLearningRate ? h.LearningRate : defaults.LearningRate,
            LoraRank = h.HasLoraRank ? h.LoraRank : defaults.LoraRank,
            LoraAlpha = h.HasLoraAlpha ? h.LoraAlpha : defaults.LoraAlpha,
            Seed = h.HasSeed ? h.Seed : defaults.Seed,
        };
        try
        {
            options.Validate();
        }
        catch (ArgumentException e)
        {
            throw new TrainingRequestException(e.ParamName switch
            {
                nameof(DpoOptions.Beta) => "dpo.beta",
                nameof(DpoOptions.LabelSmoothing) => "dpo.label_smoothing",
                nameof(DpoPairsTrainingOptions.PairsPerStep) => "hyperparameters.global_batch_size",
                nameof(DpoPairsTrainingOptions.MicroBatchSize) => "hyperparameters.micro_batch_size",
                nameof(DpoPairsTrainingOptions.LearningRate) => "hyperparameters.learning_rate",
                nameof(DpoPairsTrainingOptions.LoraRank) => "hyperparameters.lora_rank",
                nameof(DpoPairsTrainingOptions.Epochs) => "hyperparameters.epochs",
                nameof(DpoPairsTrainingOptions.MaxSteps) => "hyperparameters.max_steps",
                _ => "dpo",
            }, ArgumentMessages.Plain(e));
        }
        var settings = TrainingSettings.Finetune([], output, lora: true) with { Stage = VlmStage.Dpo, Seed = options.Seed };
        var baseModel = new TrainingBaseModel(ResolvePath(request.ModelDir, dataDirectory, "model_dir"), null, null, null);
        return new TrainingJobRequest(settings, baseModel, request.Run is { Length: > 0 } run ? run : null, Dpo: new DpoJob(pairs, options));
    }

    /// <summary>The proto field a <see cref="TrainingSettings"/> or <see cref="TrainingBaseModel"/> property comes from.</summary>
    public static string FieldOf(string? parameter) => parameter switch
    {
        nameof(TrainingSettings.Sources) => "datasets",
        nameof(TrainingSettings.OutputDirectory) => "output_dir",
        nameof(TrainingSettings.Epochs) => "hyperparameters.epochs",
        nameof(TrainingSettings.MaxSteps) => "hyperparameters.max_steps",
        nameof(TrainingSettings.GlobalBatchSize) => "hyperparameters.global_batch_size",
        nameof(TrainingSettings.MicroBatchSize) => "hyperparameters.micro_batch_size",
        nameof(TrainingSettings.LearningRate) => "hyperparameters.learning_rate",
        nameof(TrainingSettings.ProjectorLearningRate) => "hyperparameters.projector_learning_rate",
        nameof(TrainingSettings.WarmupRatio) => "hyperparameters.warmup_ratio",
        nameof(TrainingSettings.WeightDecay) => "hyperparameters.weight_decay",
        nameof(TrainingSettings.SaveEvery) => "hyperparameters.save_every",
        nameof(TrainingSettings.LoraRank) => "hyperparameters.lora_rank",
        nameof(TrainingSettings.LoraAlpha) => "hyperparameters.lora_alpha",
        nameof(TrainingSettings.DataWorkers) => "hyperparameters.data_workers",
        nameof(TrainingBaseModel.ModelDirectory) => "model_dir",
        nameof(DpoJob.PairsPath) => "preference_pairs",
        nameof(TrainingBaseModel.VisionDirectory) => "vision_dir",
        nameof(TrainingBaseModel.LanguageModelDirectory) => "llm_dir",
        nameof(TrainingBaseModel.ProjectorPath) => "projector_path",
        { Length: > 0 } other => other,
        _ => "request",
    };

    /// <summary>The wire state.</summary>
    public static TrainingState ToState(TrainingJobState state) => state switch
    {
        TrainingJobState.Queued => TrainingState.Queued,
        TrainingJobState.Running => TrainingState.Running,
        TrainingJobState.Succeeded => TrainingState.Succeeded,
        TrainingJobState.Failed => TrainingState.Failed,
        TrainingJobState.Cancelled => TrainingState.Cancelled,
        _ => TrainingState.Unspecified,
    };

    /// <summary>The wire progress of a status.</summary>
    public static TrainingProgress ToProgress(TrainingJobStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        var step = status.LastStep;
        return new TrainingProgress
        {
            JobId = status.Id,
            State = ToState(status.State),
            Step = step?.Step ?? 0,
            TotalSteps = step?.TotalSteps ?? 0,
            Loss = step?.Loss ?? double.NaN,
            LearningRate = step?.LearningRate ?? 0,
            SamplesPerS = step?.SamplesPerSecond ?? 0,
            TokensPerS = step?.TokensPerSecond ?? 0,
            EtaSeconds = status.IsFinal ? 0 : step?.Eta.TotalSeconds ?? 0,
            Message = status.Message,
            ModelDir = status.ModelDirectory ?? "",
        };
    }

    /// <summary>The wire job of a status.</summary>
    public static TrainingJob ToJob(TrainingJobStatus status)
    {
        ArgumentNullException.ThrowIfNull(status);
        return new TrainingJob
        {
            Id = status.Id,
            State = ToState(status.State),
            Stage = status.Stage switch { VlmStage.Pretrain => ProtoStage.Pretrain, VlmStage.Dpo => ProtoStage.Dpo, _ => ProtoStage.Finetune },
            OutputDir = status.OutputDirectory,
            Run = status.Run ?? "",
            SubmittedUnixMs = status.Submitted.ToUnixTimeMilliseconds(),
            Progress = ToProgress(status),
        };
    }
}
