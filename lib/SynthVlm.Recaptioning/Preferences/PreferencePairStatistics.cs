using System.Globalization;
using System.Text.Json.Nodes;

namespace SynthVlm.Recaptioning.Preferences;

/// <summary>
/// What <see cref="PreferencePairBuilder"/> saw and kept: every candidate pair lands in exactly one
/// count (tie, below margin, identical captions, outside the length band, over the per-image cap,
/// or kept), so a round with no valid pair can say why.
/// </summary>
public sealed class PreferencePairStatistics
{
    /// <summary>Images seen.</summary>
    public int Images { get; internal set; }

    /// <summary>Images that gave at least one pair.</summary>
    public int ImagesWithPairs { get; internal set; }

    /// <summary>Samples seen (judged or not).</summary>
    public int Samples { get; internal set; }

    /// <summary>Samples left out because their caption was unjudged.</summary>
    public int UnjudgedSamples { get; internal set; }

    /// <summary>Samples the captioner failed to produce.</summary>
    public int FailedSamples { get; internal set; }

    /// <summary>Candidate pairs: two judged samples of the same image.</summary>
    public int Candidates { get; internal set; }

    /// <summary>Candidates with equal rejected-claim counts.</summary>
    public int Ties { get; internal set; }

    /// <summary>Candidates whose counts differ by less than the margin (never when the margin is 1).</summary>
    public int BelowMargin { get; internal set; }

    /// <summary>Candidates whose two captions are the same text (after trimming).</summary>
    public int IdenticalCaptions { get; internal set; }

    /// <summary>Candidates outside the length band.</summary>
    public int OutsideLengthBand { get; internal set; }

    /// <summary>Valid candidates beyond the per-image cap.</summary>
    public int OverCap { get; internal set; }

    /// <summary>Pairs kept.</summary>
    public int Pairs { get; internal set; }

    /// <summary>Kept pairs whose chosen caption has fewer words than the rejected one.</summary>
    public int ChosenShorter { get; internal set; }

    /// <summary>Kept pairs whose chosen caption has more words.</summary>
    public int ChosenLonger { get; internal set; }

    /// <summary>Kept pairs with captions of equal word counts.</summary>
    public int SameLength => Pairs - ChosenShorter - ChosenLonger;

    /// <summary>Words of the kept pairs' chosen captions, summed.</summary>
    public long ChosenWords { get; internal set; }

    /// <summary>Words of the kept pairs' rejected captions, summed.</summary>
    public long RejectedWords { get; internal set; }

    /// <summary>Whether at least one pair was kept; when false, the round must not train (see <see cref="Describe"/>).</summary>
    public bool HasValidPair => Pairs > 0;

    /// <summary>The options the pairs were built with.</summary>
    public PreferencePairOptions Options { get; internal set; } = new();

    /// <summary>One line: pairs kept and the length balance, or "no valid pair" with every reason counted.</summary>
    public string Describe()
    {
        var dropped = string.Create(CultureInfo.InvariantCulture,
            $"{Candidates} candidate pairs from {Images} images: {Ties} ties, {BelowMargin} below margin {Options.Margin}, {IdenticalCaptions} identical captions, " +
            $"{OutsideLengthBand} outside length ratio {Options.MaxLengthRatio}, {OverCap} over the cap of {Options.MaxPairsPerImage} per image; " +
            $"{UnjudgedSamples} of {Samples} samples unjudged, {FailedSamples} not produced");
        if (!HasValidPair)
        {
            return "no valid pair: " + dropped;
        }
        return string.Create(CultureInfo.InvariantCulture,
            $"{Pairs} pairs from {ImagesWithPairs} images (chosen shorter {ChosenShorter}, longer {ChosenLonger}, same length {SameLength}; " +
            $"mean words chosen {(double)ChosenWords / Pairs:F1}, rejected {(double)RejectedWords / Pairs:F1}); ") + dropped;
    }

    /// <summary>The counts as JSON (snake_case names), with <c>has_valid_pair</c> and the <c>summary</c> line.</summary>
    public JsonObject ToJson() => new()
    {
        ["has_valid_pair"] = HasValidPair,
        ["pairs"] = Pairs,
        ["images"] = Images,
        ["images_with_pairs"] = ImagesWithPairs,
        ["samples"] = Samples,
        ["unjudged_samples"] = UnjudgedSamples,
        ["failed_samples"] = FailedSamples,
        ["candidates"] = Candidates,
        ["ties"] = Ties,
        ["below_margin"] = BelowMargin,
        ["identical_captions"] = IdenticalCaptions,
        ["outside_length_band"] = OutsideLengthBand,
        ["over_cap"] = OverCap,
        ["chosen_shorter"] = ChosenShorter,
        ["chosen_longer"] = ChosenLonger,
        ["same_length"] = SameLength,
        ["mean_chosen_words"] = Pairs == 0 ? null : (double)ChosenWords / Pairs,
        ["mean_rejected_words"] = Pairs == 0 ? null : (double)RejectedWords / Pairs,
        ["margin"] = Options.Margin,
        ["max_length_ratio"] = double.IsPositiveInfinity(Options.MaxLengthRatio) ? null : Options.MaxLengthRatio,
        ["max_pairs_per_image"] = Options.MaxPairsPerImage,
        ["score"] = "rejected-claim count (fewer is better)",
        ["summary"] = Describe(),
    };
}
