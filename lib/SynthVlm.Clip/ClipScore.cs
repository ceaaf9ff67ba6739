namespace SynthVlm.Clip;

/// <summary>CLIPScore from a cosine similarity.</summary>
public static class ClipScore
{
    /// <summary>The text prefix SynthVLM's scoring code puts before every caption.</summary>
    public const string SynthVlmPrefix = "A photo depicts ";

    /// <summary>Hessel et al.'s rescaling weight (CLIPScore = 2.5 · max(cos, 0)).</summary>
    public const double HesselWeight = 2.5;

    /// <summary><paramref name="weight"/> · max(<paramref name="cosine"/>, 0); SynthVLM stores weight 1.</summary>
    public static double FromCosine(double cosine, double weight = 1.0) => weight * Math.Max(cosine, 0);
}
