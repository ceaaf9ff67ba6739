using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Training;

/// <summary>A group of parameters sharing a learning-rate multiplier and weight decay.</summary>
/// <param name="Name">Name for logs and checkpoints ("projector", "lora").</param>
/// <param name="Parameters">The trainable parameters.</param>
/// <param name="LearningRateScale">Multiplier on the schedule's rate (LLaVA's separate projector lr = projector lr / lr).</param>
/// <param name="WeightDecay">Decoupled weight decay (AdamW); LLaVA uses 0.</param>
public sealed record ParameterGroup(string Name, IReadOnlyList<Tensor> Parameters, double LearningRateScale = 1.0, double WeightDecay = 0.0);

/// <summary>
/// AdamW whose state is float32 whatever the parameters' dtype: for bf16/fp16 parameters it keeps
/// an fp32 master copy, updates that and writes it back rounded, and its moments are fp32 too
/// (TorchSharp 0.107 has no autocast/GradScaler, and its AdamW keeps moments in the parameter's
/// dtype). For fp32 parameters the master is the parameter itself. The update is torch.optim.AdamW's
/// (non-fused, non-amsgrad): p ← p·(1 − lr·wd); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
/// p ← p − (lr / (1−β₁ᵗ)) · m / (√v / √(1−β₂ᵗ) + ε).
/// </summary>
public sealed class MasterWeightAdamW : IDisposable
{
    private readonly List<Slot> slots = [];

    /// <summary>Creates the optimizer over <paramref name="groups"/>.</summary>
    public MasterWeightAdamW(IReadOnlyList<ParameterGroup> groups, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8)
    {
        ArgumentNullException.ThrowIfNull(groups);
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
        Groups = groups;
        using var noGrad = no_grad();
        foreach (var group in groups)
        {
            foreach (var parameter in group.Parameters)
            {
                var master = parameter.dtype == ScalarType.Float32 ? null : parameter.detach().to_type(ScalarType.Float32).DetachFromDisposeScope();
                slots.Add(new Slot(group, parameter, master,
                    zeros(parameter.shape, ScalarType.Float32, parameter.device).DetachFromDisposeScope(),
                    zeros(parameter.shape, ScalarType.Float32, parameter.device).DetachFromDisposeScope()));
            }
        }
    }

    /// <summary>The parameter groups.</summary>
    public IReadOnlyList<ParameterGroup> Groups { get; }

    /// <summary>β₁.</summary>
    public double Beta1 { get; }

    /// <summary>β₂.</summary>
    public double Beta2 { get; }

    /// <summary>ε.</summary>
    public double Epsilon { get; }

    /// <summary>Updates taken so far.</summary>
    public long Steps { get; private set; }

    /// <summary>
    /// Scales every gradient so their global L2 norm is at most <paramref name="maxNorm"/>
    /// (torch.nn.utils.clip_grad_norm_: coefficient min(1, max / (norm + 1e-6))); returns the norm before clipping.
    /// </summary>
    public double ClipGradientNorm(double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var grads = slots.Select(s => s.Parameter.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0)
        {
            return 0;
        }
        var norms = stack(grads.Select(g => g.to_type(ScalarType.Float32).norm()).ToList());
        var total = norms.norm();
        var coefficient = total.Plus(1e-6).reciprocal().Times(maxNorm).ClampMax(1.0);
        foreach (var g in grads)
        {
            g.mul_(coefficient.to_type(g.dtype));
        }
        return total.item<float>();
    }

    /// <summary>Whether every gradient is finite (a step with a NaN/Inf gradient should be skipped).</summary>
    public bool GradientsAreFinite()
    {
        using var scope = NewDisposeScope();
        foreach (var slot in slots)
        {
            if (slot.Parameter.grad is { } g && !g.isfinite().all().item<bool>())
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>Applies one AdamW update with <paramref name="learningRate"/> (times each group's scale).</summary>
    public void Step(double learningRate)
    {
        Steps++;
        var correction1 = 1 - Math.Pow(Beta1, Steps);
        var correction2 = 1 - Math.Pow(Beta2, Steps);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        foreach (var slot in slots)
        {
            if (slot.Parameter.grad is not { } grad)
            {
                continue;
            }
            var lr = learningRate * slot.Group.LearningRateScale;
            var target = slot.Master ?? slot.Parameter;
            var g = grad.to_type(ScalarType.Float32);
            if (slot.Group.WeightDecay != 0)
            {
                target.TimesInPlace(1 - (lr * slot.Group.WeightDecay));
            }
            slot.FirstMoment.TimesInPlace(Beta1).PlusInPlace(g, 1 - Beta1);
            slot.SecondMoment.TimesInPlace(Beta2).AddProductInPlace(g, g, 1 - Beta2);
            var denominator = slot.SecondMoment.sqrt().OverInPlace(Math.Sqrt(correction2)).PlusInPlace(Epsilon);
            target.AddQuotientInPlace(slot.FirstMoment, denominator, -lr / correction1);
            if (slot.Master is not null)
            {
                slot.Parameter.copy_(slot.Master);
            }
        }
    }

    /// <summary>Sets every gradient to null (freed), as zero_grad(set_to_none=True).</summary>
    public void ZeroGrad()
    {
        foreach (var slot in slots)
        {
            if (slot.Parameter.grad is { } g)
            {
                g.Dispose();
                slot.Parameter.grad = null;
            }
        }
    }

    /// <summary>
    /// The optimizer's state as named fp32 tensors for a checkpoint: per parameter (group index,
    /// position in the group) its first and second moment and, for low-precision parameters, the
    /// master copy. Restore with <see cref="LoadState"/> on an optimizer built with the same groups.
    /// </summary>
    public IReadOnlyList<(string Key, Tensor Tensor)> StateTensors()
    {
        var result = new List<(string, Tensor)>();
        foreach (var (slot, key) in Keys())
        {
            result.Add((key + ".exp_avg", slot.FirstMoment));
            result.Add((key + ".exp_avg_sq", slot.SecondMoment));
            if (slot.Master is not null)
            {
                result.Add((key + ".master", slot.Master));
            }
        }
        return result;
    }

    /// <summary>Restores what <see cref="StateTensors"/> saved, and the step count.</summary>
    /// <exception cref="InvalidDataException">A tensor is missing or has another shape (the checkpoint is of other groups).</exception>
    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long steps)
    {
        ArgumentNullException.ThrowIfNull(state);
        using var noGrad = no_grad();
        foreach (var (slot, key) in Keys())
        {
            Copy(key + ".exp_avg", slot.FirstMoment);
            Copy(key + ".exp_avg_sq", slot.SecondMoment);
            if (slot.Master is not null)
            {
                Copy(key + ".master", slot.Master);
                slot.Parameter.copy_(slot.Master);
            }
        }
        Steps = steps;

        void Copy(string key, Tensor target)
        {
            if (!state.TryGetValue(key, out var source) || !source.shape.SequenceEqual(target.shape))
            {
                throw new InvalidDataException($"optimizer state {key}: {(source is null ? "missing" : $"shape [{string.Join(", ", source.shape)}], expected [{string.Join(", ", target.shape)}]")}.");
            }
            target.copy_(source);
        }
    }

    private IEnumerable<(Slot Slot, string Key)> Keys()
    {
        var position = new Dictionary<ParameterGroup, int>();
        foreach (var slot in slots)
        {
            var g = Groups.ToList().IndexOf(slot.Group);
            position[slot.Group] = position.GetValueOrDefault(slot.Group) + 1;
            yield return (slot, $"{g}.{slot.Group.Name}.{position[slot.Group] - 1}");
        }
    }

    /// <summary>Frees the master weights and moments.</summary>
    public void Dispose()
    {
        foreach (var slot in slots)
        {
            slot.Master?.Dispose();
            slot.FirstMoment.Dispose();
            slot.SecondMoment.Dispose();
        }
        slots.Clear();
    }

    private sealed record Slot(ParameterGroup Group, Tensor Parameter, Tensor? Master, Tensor FirstMoment, Tensor SecondMoment);
}
