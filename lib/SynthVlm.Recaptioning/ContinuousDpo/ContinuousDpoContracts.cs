using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Recaptioning.Preferences;

namespace SynthVlm.Recaptioning.ContinuousDpo;

/// <summary>Opens a captioner for a checkpoint (e.g. the in-process LLaVA of a model folder).</summary>
public interface ICaptionerFactory
{
    /// <summary>
    /// A captioner answering with <paramref name="checkpoint"/>. The caller disposes it when it is
    /// <see cref="IDisposable"/> (the orchestrator does so before training, to free the model's memory).
    /// </summary>
    IChatModel Open(string checkpoint);
}

/// <summary>Trains a checkpoint on a preference-pairs file (DPO) into a new full checkpoint.</summary>
public interface IPreferenceTrainer
{
    /// <summary>
    /// DPO of <paramref name="checkpoint"/> (the policy and the reference) on <paramref name="pairsPath"/> (JSONL as
    /// <see cref="PreferencePairBuilder.WriteAsync"/> writes it), written under <paramref name="outputDirectory"/>.
    /// </summary>
    Task<PreferenceTrainingResult> TrainAsync(string checkpoint, string pairsPath, string outputDirectory, CancellationToken cancellationToken = default);
}

/// <summary>What a preference-training run produced.</summary>
/// <param name="Checkpoint">The new full checkpoint: the next round's policy and reference.</param>
/// <param name="Summary">The run's summary for rounds.json (steps, pairs trained and skipped, DPO metrics).</param>
public sealed record PreferenceTrainingResult(string Checkpoint, JsonObject Summary);

/// <summary>How <see cref="ContinuousDpoRunner"/> runs. Validated when the runner is created.</summary>
public sealed record ContinuousDpoOptions
{
    /// <summary>The output folder: round-0/ … round-K/, rounds.json and rate.svg; the same folder again resumes.</summary>
    public required string OutputDirectory { get; init; }

    /// <summary>The captioning prompt (the user text; the image comes first), used for sampling, DPO and held-out captions.</summary>
    public required string Prompt { get; init; }

    /// <summary>Rounds K (2).</summary>
    public int Rounds { get; init; } = 2;

    /// <summary>How captions are sampled for pairs; round k uses seeds <c>BaseSeed + k·<see cref="RoundSeedStride"/> + s</c>.</summary>
    public PreferenceSamplingOptions Sampling { get; init; } = new();

    /// <summary>How pairs are chosen.</summary>
    public PreferencePairOptions Pairs { get; init; } = new();

    /// <summary>Seeds of one round are this far from the previous round's (1000), so every round draws new samples.</summary>
    public int RoundSeedStride { get; init; } = 1000;

    /// <summary>Most tokens per held-out caption (greedy; default: the sampling's <see cref="PreferenceSamplingOptions.MaxTokens"/>).</summary>
    public int? HeldOutMaxTokens { get; init; }

    /// <summary>Held-out captions requested at once (8).</summary>
    public int HeldOutInFlight { get; init; } = 8;

    /// <summary>
    /// The trainer's settings (β, loss, steps, learning rate, LoRA, ...) as the trainer's caller knows them: recorded in
    /// every round and compared on a rerun, so a finished round is reused only under the same settings. Null: not compared.
    /// </summary>
    public JsonObject? TrainerSettings { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> or <see cref="ArgumentException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        const string Name = nameof(ContinuousDpoOptions);
        ArgumentException.ThrowIfNullOrWhiteSpace(OutputDirectory);
        if (string.IsNullOrWhiteSpace(Prompt))
        {
            throw new ArgumentException($"{Name}.{nameof(Prompt)} must not be empty.", nameof(Prompt));
        }
        foreach (var (value, name) in new[] { (Rounds, nameof(Rounds)), (RoundSeedStride, nameof(RoundSeedStride)), (HeldOutInFlight, nameof(HeldOutInFlight)), (HeldOutMaxTokens ?? 1, nameof(HeldOutMaxTokens)) })
        {
            if (value < 1)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{Name}.{name} must be at least 1; found {value}.");
            }
        }
        Sampling.Validate();
        Pairs.Validate();
    }
}
