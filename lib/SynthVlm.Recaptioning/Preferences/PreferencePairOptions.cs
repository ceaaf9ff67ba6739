namespace SynthVlm.Recaptioning.Preferences;

/// <summary>How <see cref="PreferencePairBuilder"/> chooses pairs. Validated when the builder is created.</summary>
public sealed record PreferencePairOptions
{
    /// <summary>
    /// The least difference in rejected-claim counts for a pair (default 1, RLAIF-V's <c>diff=1</c>).
    /// Samples whose counts differ by less are not paired.
    /// </summary>
    public int Margin { get; init; } = 1;

    /// <summary>
    /// The length band: a pair is kept only when the longer caption has at most this many times the
    /// words of the shorter (default 1.5; <see cref="double.PositiveInfinity"/> turns it off).
    /// </summary>
    public double MaxLengthRatio { get; init; } = 1.5;

    /// <summary>The most pairs kept per image (default 2, RLAIF-V's <c>sample_num</c>).</summary>
    public int MaxPairsPerImage { get; init; } = 2;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first unusable option.</summary>
    public void Validate()
    {
        const string Name = nameof(PreferencePairOptions);
        if (Margin < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(Margin), Margin, $"{Name}.{nameof(Margin)} must be at least 1 (a tie is never a preference); found {Margin}.");
        }
        if (double.IsNaN(MaxLengthRatio) || MaxLengthRatio < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxLengthRatio), MaxLengthRatio, $"{Name}.{nameof(MaxLengthRatio)} must be 1 or more; found {MaxLengthRatio}.");
        }
        if (MaxPairsPerImage < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxPairsPerImage), MaxPairsPerImage, $"{Name}.{nameof(MaxPairsPerImage)} must be at least 1; found {MaxPairsPerImage}.");
        }
    }
}
