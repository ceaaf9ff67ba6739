namespace SynthVlm.Selection;

/// <summary>
/// Reduces a stream of scored variants, grouped by caption (all variants of a caption adjacent),
/// to the best variant of each caption, in one pass with memory for one caption.
/// </summary>
public static class BestVariant
{
    /// <summary>The best candidate of each run of equal caption ids, in input order.</summary>
    /// <exception cref="ArgumentException">A caption's variants are not adjacent (it reappears after another caption).</exception>
    public static IEnumerable<Candidate<T>> PerCaption<T>(IEnumerable<Candidate<T>> variantsGroupedByCaption)
    {
        ArgumentNullException.ThrowIfNull(variantsGroupedByCaption);
        return Iterate(variantsGroupedByCaption);

        static IEnumerable<Candidate<T>> Iterate(IEnumerable<Candidate<T>> source)
        {
            Candidate<T> best = default;
            var has = false;
            string? previous = null;
            foreach (var c in source)
            {
                if (has && c.CaptionId == best.CaptionId)
                {
                    if (c.CompareTo(best) < 0)
                    {
                        best = c;
                    }
                    continue;
                }
                if (has)
                {
                    // Only the caption before is remembered (memory for one caption): this catches a, b, a.
                    if (c.CaptionId == previous)
                    {
                        throw new ArgumentException($"caption '{c.CaptionId}' appears again after another caption: variants must be grouped by caption.", nameof(variantsGroupedByCaption));
                    }
                    yield return best;
                    previous = best.CaptionId;
                }
                best = c;
                has = true;
            }
            if (has)
            {
                yield return best;
            }
        }
    }
}
