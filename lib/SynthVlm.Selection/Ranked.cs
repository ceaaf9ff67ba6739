namespace SynthVlm.Selection;

/// <summary>
/// The order of selection: a higher score first; equal scores by caption id (ordinal, ascending),
/// then by variant (ascending), so the outcome never depends on arrival order or on which replica
/// scored what.
/// </summary>
public static class Ranked
{
    /// <summary>Negative when candidate A ranks before candidate B.</summary>
    public static int Compare(double scoreA, string captionIdA, int variantA, double scoreB, string captionIdB, int variantB)
    {
        // NaN never reaches here (scores are checked), and -0.0 == 0.0 ranks by id like any tie.
        var byScore = scoreB.CompareTo(scoreA);
        if (byScore != 0)
        {
            return byScore;
        }
        var byId = string.CompareOrdinal(captionIdA, captionIdB);
        return byId != 0 ? byId : variantA.CompareTo(variantB);
    }
}

/// <summary>One scored variant of a caption, as selection sees it.</summary>
/// <typeparam name="T">What travels with it (the full record).</typeparam>
/// <param name="CaptionId">The caption id (unique in a run).</param>
/// <param name="Variant">The variant number.</param>
/// <param name="Score">The ranking score (weighted, or CLIPScore alone).</param>
/// <param name="Item">The record.</param>
public readonly record struct Candidate<T>(string CaptionId, int Variant, double Score, T Item)
{
    /// <summary>Negative when this ranks before <paramref name="other"/>.</summary>
    public int CompareTo(in Candidate<T> other) => Ranked.Compare(Score, CaptionId, Variant, other.Score, other.CaptionId, other.Variant);
}
