namespace SynthVlm.Vlm.Training;

/// <summary>The DPO losses, as TRL's <c>loss_type</c> names them.</summary>
public enum DpoLossType
{
    /// <summary>
    /// <c>sigmoid</c>, the DPO paper's loss with cDPO's label smoothing ε:
    /// −logσ(β·l)·(1−ε) − logσ(−β·l)·ε, l the policy's minus the reference's chosen-over-rejected log-ratio.
    /// </summary>
    Sigmoid,

    /// <summary>
    /// <c>ipo</c>, the IPO paper's (l − 1/(2β))², where (TRL's quirk) every log-prob, the policy's and the
    /// reference's, is first averaged over its response tokens instead of summed — so for IPO the rewards and
    /// <c>logps/*</c> metrics are per-token averages too. Label smoothing does not apply.
    /// </summary>
    Ipo,

    /// <summary>
    /// <c>robust</c>, robust DPO's unbiased loss under label noise ε:
    /// (−logσ(β·l)·(1−ε) + logσ(−β·l)·ε) / (1 − 2ε), ε in [0, 0.5).
    /// </summary>
    Robust,
}

/// <summary>
/// How the DPO objective scores a batch of preference pairs (TRL's <c>DPOConfig</c> fields <c>beta</c>,
/// <c>loss_type</c> and <c>label_smoothing</c>).
/// </summary>
/// <param name="Beta">β, the strength of the tie to the reference model (TRL's default 0.1); IPO's τ.</param>
/// <param name="LossType">Which loss.</param>
/// <param name="LabelSmoothing">ε, the assumed share of flipped preferences (sigmoid: [0, 0.5]; robust: [0, 0.5); IPO: 0).</param>
public sealed record DpoOptions(double Beta = 0.1, DpoLossType LossType = DpoLossType.Sigmoid, double LabelSmoothing = 0)
{
    /// <summary>Checks the values; the message names the field, the value and the range.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A value is out of its range.</exception>
    public void Validate()
    {
        if (!double.IsFinite(Beta) || Beta <= 0)
        {
            throw new ArgumentOutOfRangeException(nameof(Beta), Beta, $"DPO beta must be a positive number; found {Beta}.");
        }
        if (!Enum.IsDefined(LossType))
        {
            throw new ArgumentOutOfRangeException(nameof(LossType), LossType, $"DPO loss type {(int)LossType} is not one of sigmoid, ipo, robust.");
        }
        var (low, high, highOpen) = LossType switch
        {
            DpoLossType.Robust => (0.0, 0.5, true),
            DpoLossType.Ipo => (0.0, 0.0, false),
            _ => (0.0, 0.5, false),
        };
        if (!double.IsFinite(LabelSmoothing) || LabelSmoothing < low || LabelSmoothing > high || (highOpen && LabelSmoothing >= high))
        {
            var range = LossType == DpoLossType.Ipo ? "0 (IPO has no label smoothing)" : $"[{low}, {high}{(highOpen ? ")" : "]")}";
            throw new ArgumentOutOfRangeException(nameof(LabelSmoothing), LabelSmoothing, $"DPO label smoothing for the {TrlName(LossType)} loss must be in {range}; found {LabelSmoothing}.");
        }
    }

    /// <summary>TRL's <c>loss_type</c> string for <paramref name="lossType"/>.</summary>
    public static string TrlName(DpoLossType lossType) => lossType switch
    {
        DpoLossType.Sigmoid => "sigmoid",
        DpoLossType.Ipo => "ipo",
        DpoLossType.Robust => "robust",
        _ => throw new ArgumentOutOfRangeException(nameof(lossType), lossType, "Not a DPO loss type."),
    };
}
