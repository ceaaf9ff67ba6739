using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Training;

/// <summary>A DPO batch scored: the loss to back-propagate, TRL's metrics and each pair's scores.</summary>
public sealed class DpoOutput : IDisposable
{
    internal DpoOutput(Tensor loss, DpoMetrics metrics, IReadOnlyList<DpoPairScore> pairs, long positions, int truncated)
    {
        Loss = loss;
        Metrics = metrics;
        Pairs = pairs;
        Positions = positions;
        Truncated = truncated;
    }

    /// <summary>The mean per-pair loss, a float32 scalar with the policy's graph (call backward on it).</summary>
    public Tensor Loss { get; }

    /// <summary>The batch's metrics, as TRL logs them.</summary>
    public DpoMetrics Metrics { get; }

    /// <summary>Per-pair scores, in the batch's order.</summary>
    public IReadOnlyList<DpoPairScore> Pairs { get; }

    /// <summary>Sequence positions the policy's forward pass ran over (both sides, images included).</summary>
    public long Positions { get; }

    /// <summary>Sequences (of 2 per pair) cut to the model's context; their tail was not scored.</summary>
    public int Truncated { get; }

    /// <summary>Frees the loss tensor (and with it the graph).</summary>
    public void Dispose() => Loss.Dispose();
}

/// <summary>
/// The DPO objective on a <see cref="LlavaModel"/>, with the definitions of TRL's classic DPOTrainer
/// (huggingface/trl v0.28.0, <c>concatenated_forward</c>, <c>dpo_loss</c>, <c>get_batch_loss_metrics</c>):
/// <list type="bullet">
/// <item>chosen and rejected go through the model in one concatenated batch (all chosen, then all rejected),
/// each side prompt + response with the prompt masked; each image is given once and used by both sides;</item>
/// <item>a response's log-prob is the sum over its tokens (those left after truncation) of the log-softmax of
/// the previous position's logits at the token; for IPO it is divided by the response's token count, for the
/// policy and the reference alike (TRL's quirk: IPO's rewards and <c>logps/*</c> are per-token averages);</item>
/// <item>l = (π_c − π_r) − (ref_c − ref_r) and the loss of <see cref="DpoLossType"/>, averaged over pairs;</item>
/// <item>the reference: log-probs given with the batch (precomputed, in the same units), else a forward pass
/// without gradient through a separate reference model or, for a LoRA policy, the same model with its
/// adapters disabled (PEFT's <c>disable_adapter</c>, TRL's default for a PEFT model).</item>
/// </list>
/// Disabling the adapters restores only the LoRA'd layers: a projector trained alongside keeps its current
/// weights in the reference (PEFT would use its original copy for <c>modules_to_save</c>); precompute the
/// reference log-probs before training when the projector is trained too.
/// TRL ≥ 1.0 (the rewritten trainer) differs: its sigmoid loss dropped label smoothing and its IPO divides
/// only inside the loss (rewards stay on summed log-probs); this class follows v0.28.0 on both.
/// </summary>
public sealed class DpoObjective
{
    private readonly LlavaModel policy;
    private readonly LlavaLoraSet? adapters;
    private readonly LlavaModel? referenceModel;

    /// <summary>
    /// Creates the objective for <paramref name="policy"/>. Give <paramref name="adapters"/> (the policy's LoRA)
    /// or <paramref name="referenceModel"/> to compute reference log-probs; with neither, every batch needs
    /// precomputed ones.
    /// </summary>
    public DpoObjective(LlavaModel policy, DpoOptions options, LlavaLoraSet? adapters = null, LlavaModel? referenceModel = null)
    {
        ArgumentNullException.ThrowIfNull(policy);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        if (adapters is not null && referenceModel is not null)
        {
            throw new ArgumentException("Give the reference either as the policy's LoRA adapters (disabled for the reference) or as a reference model, not both.", nameof(referenceModel));
        }
        if (referenceModel is not null && referenceModel.Config.Text.VocabSize != policy.Config.Text.VocabSize)
        {
            throw new ArgumentException($"The reference model's vocabulary ({referenceModel.Config.Text.VocabSize}) differs from the policy's ({policy.Config.Text.VocabSize}).", nameof(referenceModel));
        }
        this.policy = policy;
        this.adapters = adapters;
        this.referenceModel = referenceModel;
        Options = options;
    }

    /// <summary>β, the loss type and label smoothing.</summary>
    public DpoOptions Options { get; }

    /// <summary>Whether the objective can compute reference log-probs itself (adapters or a reference model given).</summary>
    public bool HasReference => adapters is not null || referenceModel is not null;

    /// <summary>The batch the model sees for <paramref name="pairs"/>: every chosen side, then every rejected side (TRL's order).</summary>
    public static IReadOnlyList<LlavaSequence> Concatenate(IReadOnlyList<DpoPair> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        return [.. pairs.Select(p => p.Chosen), .. pairs.Select(p => p.Rejected)];
    }

    /// <summary>
    /// The reference's log-probs for <paramref name="pairs"/> (no gradient), in the objective's units: TRL's
    /// <c>precompute_ref_log_probs</c>, to store with the pairs and pass to <see cref="Compute"/>.
    /// </summary>
    /// <param name="pairs">The pairs.</param>
    /// <param name="pixelValues">[N, 3, S, S], one image per pair whose prompt has an image marker, in order; or null.</param>
    /// <exception cref="InvalidOperationException">The objective has no reference (neither adapters nor a reference model).</exception>
    /// <exception cref="DpoPairException">A pair cannot be scored.</exception>
    public IReadOnlyList<DpoReferenceLogps> ReferenceLogps(IReadOnlyList<DpoPair> pairs, Tensor? pixelValues)
    {
        CheckBatch(pairs, pixelValues);
        using var scope = NewDisposeScope();
        var values = ComputeReference(pairs, pixelValues).Values;
        return [.. pairs.Select((_, i) => new DpoReferenceLogps(values[i], values[pairs.Count + i]))];
    }

    /// <summary>
    /// Scores a batch: the policy's forward pass with gradient, the reference's log-probs (given, else
    /// computed), the loss and the metrics. Call <c>Loss.backward()</c> on the result.
    /// </summary>
    /// <param name="pairs">The pairs (at least one).</param>
    /// <param name="pixelValues">[N, 3, S, S], one image per pair whose prompt has an image marker, in order; or null.</param>
    /// <param name="reference">Precomputed reference log-probs, one per pair in the objective's units; null to compute them.</param>
    /// <exception cref="DpoPairException">A pair cannot be scored (empty response, fully truncated responses, ...).</exception>
    /// <exception cref="ArgumentException">The reference count or the image count does not match the pairs.</exception>
    /// <exception cref="InvalidOperationException">No reference given and none to compute it with.</exception>
    public DpoOutput Compute(IReadOnlyList<DpoPair> pairs, Tensor? pixelValues, IReadOnlyList<DpoReferenceLogps>? reference = null)
    {
        CheckBatch(pairs, pixelValues);
        var n = pairs.Count;
        if (reference is not null && reference.Count != n)
        {
            throw new ArgumentException($"{reference.Count} precomputed reference log-probs were given for {n} pairs.", nameof(reference));
        }
        for (var i = 0; reference is not null && i < n; i++)
        {
            if (reference[i] is not { } r || !double.IsFinite(r.Chosen) || !double.IsFinite(r.Rejected))
            {
                throw new DpoPairException(pairs[i].Id, $"the precomputed reference log-probs ({reference[i]?.Chosen}, {reference[i]?.Rejected}) are missing or not finite.");
            }
        }

        using var scope = NewDisposeScope();
        double[] referenceValues;
        if (reference is null)
        {
            referenceValues = ComputeReference(pairs, pixelValues).Values;
        }
        else
        {
            referenceValues = [.. reference.Select(r => r.Chosen), .. reference.Select(r => r.Rejected)];
        }
        var scored = Score(policy, pairs, pixelValues);
        var logps = scored.Logps;
        var referenceTensor = tensor(referenceValues.Select(v => (float)v).ToArray(), ScalarType.Float32, logps.device);
        var chosen = logps.narrow(0, 0, n);
        var rejected = logps.narrow(0, n, n);
        var referenceChosen = referenceTensor.narrow(0, 0, n);
        var referenceRejected = referenceTensor.narrow(0, n, n);
        var logits = chosen.Minus(rejected).Minus(referenceChosen.Minus(referenceRejected));
        var losses = Losses(logits);
        var loss = losses.mean();

        double[] chosenRewards, rejectedRewards, perPairLoss, policyValues;
        using (no_grad())
        {
            chosenRewards = Values(chosen.detach().Minus(referenceChosen).Times(Options.Beta));
            rejectedRewards = Values(rejected.detach().Minus(referenceRejected).Times(Options.Beta));
            perPairLoss = Values(losses.detach());
            policyValues = Values(logps.detach());
        }
        var metrics = new DpoMetrics(
            Loss: Values(loss.detach())[0],
            RewardsChosen: chosenRewards.Average(),
            RewardsRejected: rejectedRewards.Average(),
            RewardsAccuracies: chosenRewards.Zip(rejectedRewards, (c, r) => c > r ? 1.0 : 0.0).Average(),
            RewardsMargins: chosenRewards.Zip(rejectedRewards, (c, r) => c - r).Average(),
            LogpsChosen: policyValues.Take(n).Average(),
            LogpsRejected: policyValues.Skip(n).Average(),
            LogitsChosen: scored.LogitSums.Take(n).Sum() / Math.Max(1, scored.Counts.Take(n).Sum()),
            LogitsRejected: scored.LogitSums.Skip(n).Sum() / Math.Max(1, scored.Counts.Skip(n).Sum()));
        var scores = pairs.Select((p, i) => new DpoPairScore(
            p.Id, policyValues[i], policyValues[n + i], new DpoReferenceLogps(referenceValues[i], referenceValues[n + i]),
            chosenRewards[i], rejectedRewards[i], perPairLoss[i], scored.Counts[i], scored.Counts[n + i])).ToList();
        return new DpoOutput(loss.MoveToOuterDisposeScope(), metrics, scores, scored.Positions, scored.Truncated);
    }

    private Tensor Losses(Tensor logits)
    {
        var beta = Options.Beta;
        var epsilon = Options.LabelSmoothing;
        var scaled = logits.Times(beta);
        return Options.LossType switch
        {
            // −logσ(βl)(1−ε) − logσ(−βl)ε
            DpoLossType.Sigmoid => nn.functional.logsigmoid(scaled).Times(-(1 - epsilon)).Minus(nn.functional.logsigmoid(scaled.neg()).Times(epsilon)),
            // (l − 1/(2β))²
            DpoLossType.Ipo => logits.Plus(-1 / (2 * beta)).Power(2),
            // (−logσ(βl)(1−ε) + logσ(−βl)ε) / (1 − 2ε)
            _ => nn.functional.logsigmoid(scaled).Times(-(1 - epsilon)).Plus(nn.functional.logsigmoid(scaled.neg()).Times(epsilon)).Over(1 - (2 * epsilon)),
        };
    }

    private (double[] Values, long[] Counts) ComputeReference(IReadOnlyList<DpoPair> pairs, Tensor? pixelValues)
    {
        if (!HasReference)
        {
            throw new InvalidOperationException("No precomputed reference log-probs were given and the DPO objective has no reference to compute them (give the policy's LoRA adapters or a reference model).");
        }
        using var noGrad = no_grad();
        using var disabled = adapters?.Disable();
        var scored = Score(referenceModel ?? policy, pairs, pixelValues);
        return (Values(scored.Logps), scored.Counts);
    }

    private void CheckBatch(IReadOnlyList<DpoPair> pairs, Tensor? pixelValues)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        if (pairs.Count == 0)
        {
            throw new ArgumentException("The DPO batch has no pair.", nameof(pairs));
        }
        var ids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var pair in pairs)
        {
            ArgumentNullException.ThrowIfNull(pair, nameof(pairs));
            pair.Validate(policy.Config);
            if (!ids.Add(pair.Id))
            {
                throw new DpoPairException(pair.Id, "the id appears twice in the batch.");
            }
        }
        var withImage = pairs.Count(p => p.HasImage(policy.Config));
        var images = pixelValues is null ? 0 : pixelValues.shape[0];
        if (images != withImage)
        {
            throw new ArgumentException($"The DPO batch has {withImage} pairs with an image but {images} images were given.", nameof(pixelValues));
        }
    }

    /// <summary>One concatenated forward pass: per-side log-probs (with the model's graph when grad is on), token counts, logit sums.</summary>
    private Scored Score(LlavaModel model, IReadOnlyList<DpoPair> pairs, Tensor? pixelValues)
    {
        var n = pairs.Count;
        using var doubled = pixelValues is null ? null : cat([pixelValues, pixelValues], 0);
        using var output = model.Forward(Concatenate(pairs), doubled);
        long[] counts;
        double[] logitSums;
        using (no_grad())
        {
            counts = output.TokenCounts!.cpu().data<long>().ToArray();
            var length = output.Logits.shape[1];
            using var supervised = output.Batch.Labels!.narrow(1, 1, length - 1).NotEqualTo(LlavaConfig.IgnoreIndex);
            using var vocabularyMeans = output.Logits.narrow(1, 0, length - 1).mean([-1]);
            using var masked = vocabularyMeans.mul(supervised);
            using var sums = masked.sum(1);
            logitSums = Values(sums);
        }
        for (var row = 0; row < counts.Length; row++)
        {
            if (counts[row] == 0)
            {
                var pair = pairs[row % n];
                throw new DpoPairException(pair.Id, $"no {(row < n ? "chosen" : "rejected")} response token is left after truncation to the context of {model.Config.ModelMaxLength} positions.") { AnswerCut = true };
            }
        }
        var logps = output.TokenLossSums!.neg();
        if (Options.LossType == DpoLossType.Ipo)
        {
            logps = logps.div(output.TokenCounts!.to_type(logps.dtype));
        }
        return new Scored(logps, counts, logitSums, output.Batch.Lengths.Sum(), output.Batch.Truncated);
    }

    private static double[] Values(Tensor t)
    {
        using var d = t.detach().to_type(ScalarType.Float64).cpu();
        return d.data<double>().ToArray();
    }

    private sealed record Scored(Tensor Logps, long[] Counts, double[] LogitSums, long Positions, int Truncated);
}
