namespace SynthVlm.Vlm.Training;

/// <summary>The names TRL's DPOTrainer logs its metrics under, spelled once.</summary>
public static class DpoMetricNames
{
    /// <summary>Mean of the per-pair losses.</summary>
    public const string Loss = "loss";

    /// <summary>Mean of β·(policy − reference) log-prob of the chosen responses.</summary>
    public const string RewardsChosen = "rewards/chosen";

    /// <summary>Mean of β·(policy − reference) log-prob of the rejected responses.</summary>
    public const string RewardsRejected = "rewards/rejected";

    /// <summary>Share of pairs whose chosen reward is strictly above the rejected one.</summary>
    public const string RewardsAccuracies = "rewards/accuracies";

    /// <summary>Mean of chosen minus rejected reward.</summary>
    public const string RewardsMargins = "rewards/margins";

    /// <summary>Mean policy log-prob of the chosen responses.</summary>
    public const string LogpsChosen = "logps/chosen";

    /// <summary>Mean policy log-prob of the rejected responses.</summary>
    public const string LogpsRejected = "logps/rejected";

    /// <summary>Mean policy logit over the vocabulary and the chosen response tokens of the batch.</summary>
    public const string LogitsChosen = "logits/chosen";

    /// <summary>Mean policy logit over the vocabulary and the rejected response tokens of the batch.</summary>
    public const string LogitsRejected = "logits/rejected";
}

/// <summary>
/// What TRL's DPOTrainer logs for a batch (<see cref="DpoMetricNames"/>). Rewards are β·(policy − reference)
/// log-probs, detached; <c>logits/*</c> pool every (token, vocabulary entry) of the batch's chosen (rejected)
/// response positions, as TRL's <c>logits[mask].mean()</c> does, so a longer response weighs more.
/// </summary>
/// <param name="Loss">Mean per-pair loss.</param>
/// <param name="RewardsChosen">rewards/chosen.</param>
/// <param name="RewardsRejected">rewards/rejected.</param>
/// <param name="RewardsAccuracies">rewards/accuracies.</param>
/// <param name="RewardsMargins">rewards/margins.</param>
/// <param name="LogpsChosen">logps/chosen.</param>
/// <param name="LogpsRejected">logps/rejected.</param>
/// <param name="LogitsChosen">logits/chosen.</param>
/// <param name="LogitsRejected">logits/rejected.</param>
public sealed record DpoMetrics(
    double Loss, double RewardsChosen, double RewardsRejected, double RewardsAccuracies, double RewardsMargins,
    double LogpsChosen, double LogpsRejected, double LogitsChosen, double LogitsRejected)
{
    /// <summary>The metrics by TRL's names.</summary>
    public IReadOnlyDictionary<string, double> ToDictionary() => new Dictionary<string, double>(StringComparer.Ordinal)
    {
        [DpoMetricNames.Loss] = Loss,
        [DpoMetricNames.RewardsChosen] = RewardsChosen,
        [DpoMetricNames.RewardsRejected] = RewardsRejected,
        [DpoMetricNames.RewardsAccuracies] = RewardsAccuracies,
        [DpoMetricNames.RewardsMargins] = RewardsMargins,
        [DpoMetricNames.LogpsChosen] = LogpsChosen,
        [DpoMetricNames.LogpsRejected] = LogpsRejected,
        [DpoMetricNames.LogitsChosen] = LogitsChosen,
        [DpoMetricNames.LogitsRejected] = LogitsRejected,
    };
}

/// <summary>One pair's scores in a DPO batch (log-probs in the objective's units: per-token averages for IPO).</summary>
/// <param name="Id">The pair.</param>
/// <param name="ChosenLogps">Policy log-prob of the chosen response.</param>
/// <param name="RejectedLogps">Policy log-prob of the rejected response.</param>
/// <param name="Reference">The reference's log-probs used.</param>
/// <param name="ChosenReward">β·(policy − reference), chosen.</param>
/// <param name="RejectedReward">β·(policy − reference), rejected.</param>
/// <param name="Loss">The pair's loss.</param>
/// <param name="ChosenTokens">Chosen response tokens scored (after truncation).</param>
/// <param name="RejectedTokens">Rejected response tokens scored (after truncation).</param>
public sealed record DpoPairScore(
    string Id, double ChosenLogps, double RejectedLogps, DpoReferenceLogps Reference,
    double ChosenReward, double RejectedReward, double Loss, long ChosenTokens, long RejectedTokens);
