using SynthVlm.Vlm.Images;

namespace SynthVlm.Vlm.Training;

/// <summary>LLaVA-1.5's two stages.</summary>
public enum TrainingStage
{
    /// <summary>Stage 1 (pretrain.sh): projector only, <c>plain</c> template, centre-cropped images.</summary>
    Pretrain,

    /// <summary>Stage 2 (finetune.sh / finetune_lora.sh): <c>vicuna_v1</c>, padded images, LoRA or the full LLM.</summary>
    Finetune,

    /// <summary>DPO on preference pairs (<see cref="DpoPairsTrainer"/>; the job's <see cref="TrainingJobRequest.Dpo"/>).</summary>
    Dpo,
}

/// <summary>One LLaVA data file with its image folder and its share of the mixture.</summary>
/// <param name="DataPath">A LLaVA JSON (array of {id, image?, conversations}).</param>
/// <param name="ImageFolder">The folder its image paths are relative to.</param>
/// <param name="Weight">Samples drawn per epoch = round(count × weight) (1 = every sample once; 2 = twice; 0.5 = half, a different half each epoch).</param>
public sealed record TrainingDataSource(string DataPath, string ImageFolder, double Weight = 1.0);

/// <summary>
/// A training job's settings. <see cref="Pretrain"/> and <see cref="Finetune"/> give LLaVA-1.5's
/// script defaults (pretrain.sh, finetune.sh, finetune_lora.sh); every value can be changed.
/// </summary>
public sealed record TrainingSettings
{
    /// <summary>The stage.</summary>
    public required TrainingStage Stage { get; init; }

    /// <summary>The data mixture.</summary>
    public required IReadOnlyList<TrainingDataSource> Sources { get; init; }

    /// <summary>Where checkpoints, the final model and the report go (the same folder again resumes).</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>Passes over the mixture (LLaVA: 1).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Stop after this many optimizer steps (null: the epochs decide).</summary>
    public int? MaxSteps { get; init; }

    /// <summary>Samples per optimizer step (LLaVA: 256 stage 1, 128 stage 2); a multiple of <see cref="MicroBatchSize"/>.</summary>
    public int GlobalBatchSize { get; init; } = 256;

    /// <summary>Samples per forward/backward (gradient accumulation = global / micro).</summary>
    public int MicroBatchSize { get; init; } = 8;

    /// <summary>Peak learning rate (LLaVA: 1e-3 stage 1, 2e-5 full stage 2, 2e-4 LoRA).</summary>
    public double LearningRate { get; init; } = 1e-3;

    /// <summary>The projector's own rate in stage 2 (LLaVA's mm_projector_lr: 2e-5 with LoRA); null = <see cref="LearningRate"/>.</summary>
    public double? ProjectorLearningRate { get; init; }

    /// <summary>Warm-up share of the steps (0.03).</summary>
    public double WarmupRatio { get; init; } = 0.03;

    /// <summary>AdamW weight decay (0).</summary>
    public double WeightDecay { get; init; }

    /// <summary>Gradient clipping norm (1.0).</summary>
    public double MaxGradNorm { get; init; } = 1.0;

    /// <summary>Seed of the data order, the projector's initialisation and dropout.</summary>
    public int Seed { get; init; } = 42;

    /// <summary>A checkpoint every this many steps (0: only at the end).</summary>
    public int SaveEvery { get; init; } = 500;

    /// <summary>Stage 2 with LoRA: its rank (LLaVA: 128); null trains the full LLM.</summary>
    public int? LoraRank { get; init; }

    /// <summary>LoRA alpha (LLaVA: 256).</summary>
    public double LoraAlpha { get; init; } = 256;

    /// <summary>LoRA dropout (LLaVA: 0.05).</summary>
    public double LoraDropout { get; init; } = 0.05;

    /// <summary>Recompute each decoder block in backward instead of keeping its activations.</summary>
    public bool GradientCheckpointing { get; init; } = true;

    /// <summary>Images: the stage's LLaVA default (crop for stage 1, pad for stage 2) unless set.</summary>
    public ImageAspectMode? ImageAspect { get; init; }

    /// <summary>LLaVA's group_by_modality_length (stage 2): micro-batches of one modality, similar lengths.</summary>
    public bool GroupByModalityLength { get; init; }

    /// <summary>Threads decoding and preprocessing images (the queue ahead of the model holds two micro-batches).</summary>
    public int DataWorkers { get; init; } = 4;

    /// <summary>Gradient accumulation steps.</summary>
    public int AccumulationSteps => GlobalBatchSize / MicroBatchSize;

    /// <summary>LLaVA-1.5 stage 1 (pretrain.sh): lr 1e-3, batch 256, 1 epoch, warm-up 3 %, cosine, no weight decay.</summary>
    public static TrainingSettings Pretrain(IReadOnlyList<TrainingDataSource> sources, string outputDirectory) => new()
    {
        Stage = TrainingStage.Pretrain,
        Sources = sources,
        OutputDirectory = outputDirectory,
        LearningRate = 1e-3,
        GlobalBatchSize = 256,
    };

    /// <summary>LLaVA-1.5 stage 2: finetune_lora.sh (r 128, α 256, lr 2e-4, projector 2e-5) or finetune.sh (lr 2e-5); batch 128, grouped by modality length.</summary>
    public static TrainingSettings Finetune(IReadOnlyList<TrainingDataSource> sources, string outputDirectory, bool lora = true) => new()
    {
        Stage = TrainingStage.Finetune,
        Sources = sources,
        OutputDirectory = outputDirectory,
        GlobalBatchSize = 128,
        LearningRate = lora ? 2e-4 : 2e-5,
        ProjectorLearningRate = lora ? 2e-5 : null,
        LoraRank = lora ? 128 : null,
        LoraAlpha = 256,
        GroupByModalityLength = true,
    };

    /// <summary>Checks every value; throws <see cref="ArgumentException"/> naming the field and what was wrong.</summary>
    public void Validate()
    {
        static void Require(bool ok, string field, string problem)
        {
            if (!ok)
            {
                throw new ArgumentException($"{field}: {problem}", field);
            }
        }
        Require(Sources is { Count: > 0 }, nameof(Sources), "at least one dataset is needed.");
        foreach (var source in Sources!)
        {
            Require(File.Exists(source.DataPath), nameof(Sources), $"data file {source.DataPath} not found.");
            Require(Directory.Exists(source.ImageFolder), nameof(Sources), $"image folder {source.ImageFolder} not found.");
            Require(source.Weight is > 0 and <= 1000 && double.IsFinite(source.Weight), nameof(Sources), $"weight {source.Weight} of {source.DataPath} must be in (0, 1000].");
        }
        Require(!string.IsNullOrWhiteSpace(OutputDirectory), nameof(OutputDirectory), "an output folder is needed.");
        Require(Epochs is >= 1 and <= 1000, nameof(Epochs), $"{Epochs} is outside 1..1000.");
        Require(MaxSteps is null or >= 1, nameof(MaxSteps), $"{MaxSteps} must be at least 1.");
        Require(MicroBatchSize is >= 1 and <= 4096, nameof(MicroBatchSize), $"{MicroBatchSize} is outside 1..4096.");
        Require(GlobalBatchSize >= MicroBatchSize && GlobalBatchSize % MicroBatchSize == 0, nameof(GlobalBatchSize), $"{GlobalBatchSize} must be a multiple of the micro-batch {MicroBatchSize}.");
        Require(LearningRate is > 0 and <= 1 && double.IsFinite(LearningRate), nameof(LearningRate), $"{LearningRate} is outside (0, 1].");
        Require(ProjectorLearningRate is null or (> 0 and <= 1), nameof(ProjectorLearningRate), $"{ProjectorLearningRate} is outside (0, 1].");
        Require(WarmupRatio is >= 0 and <= 1, nameof(WarmupRatio), $"{WarmupRatio} is outside [0, 1].");
        Require(WeightDecay is >= 0 and <= 1, nameof(WeightDecay), $"{WeightDecay} is outside [0, 1].");
        Require(MaxGradNorm > 0 && double.IsFinite(MaxGradNorm), nameof(MaxGradNorm), $"{MaxGradNorm} must be positive.");
        Require(SaveEvery >= 0, nameof(SaveEvery), $"{SaveEvery} must be 0 (only at the end) or positive.");
        Require(LoraRank is null or (>= 1 and <= 4096), nameof(LoraRank), $"{LoraRank} is outside 1..4096.");
        Require(LoraRank is null || Stage == TrainingStage.Finetune, nameof(LoraRank), "LoRA is a stage-2 option.");
        Require(LoraAlpha > 0, nameof(LoraAlpha), $"{LoraAlpha} must be positive.");
        Require(LoraDropout is >= 0 and < 1, nameof(LoraDropout), $"{LoraDropout} is outside [0, 1).");
        Require(DataWorkers is >= 1 and <= 256, nameof(DataWorkers), $"{DataWorkers} is outside 1..256.");
    }
}
