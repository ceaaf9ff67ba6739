using SynthVlm.Hallucination.Claims;

namespace SynthVlm.Recaptioning.Preferences;

/// <summary>One sampled caption of an image with its judgement.</summary>
/// <param name="SampleId">The sample's id (unique within its image, e.g. <c>img7#s3</c>).</param>
/// <param name="Caption">The caption the captioner wrote.</param>
/// <param name="Judgement">Its claim-level judgement.</param>
/// <param name="Temperature">The sampling temperature.</param>
/// <param name="Seed">The sampling seed, or null.</param>
public sealed record PreferenceSample(string SampleId, string Caption, CaptionJudgement Judgement, double Temperature, int? Seed)
{
    /// <summary>The caption's length in whitespace-separated words (RLAIF-V's <c>len(text.split())</c>).</summary>
    public int Words => CountWords(Caption);

    /// <summary>Whitespace-separated words in <paramref name="text"/>.</summary>
    public static int CountWords(string text) =>
        (text ?? string.Empty).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
}

/// <summary>An image with its N judged samples, the unit <see cref="PreferencePairBuilder"/> pairs within.</summary>
/// <param name="ImageId">The image's id.</param>
/// <param name="ImagePath">The image file.</param>
/// <param name="Prompt">The captioning prompt every sample answered (the DPO prompt).</param>
/// <param name="Samples">The samples, in sampling order.</param>
/// <param name="FailedSamples">Samples the captioner did not return (call failed after retries), with their reasons.</param>
public sealed record PreferenceImage(string ImageId, string ImagePath, string Prompt, IReadOnlyList<PreferenceSample> Samples, IReadOnlyList<string>? FailedSamples = null);
