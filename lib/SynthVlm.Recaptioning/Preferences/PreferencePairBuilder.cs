namespace SynthVlm.Recaptioning.Preferences;

/// <summary>
/// Builds DPO preference pairs from each image's judged samples, image by image, keeping only
/// counts across images (memory does not grow with the number of images).
/// </summary>
/// <remarks>
/// <para>
/// <b>Score.</b> A sample's score is its rejected-claim count (<see cref="SynthVlm.Hallucination.Claims.CaptionJudgement.RejectedCount"/>;
/// fewer is better), as RLAIF-V scores a response (<c>utils/pair_construction.py</c>: correct
/// claims minus all claims). A normalised score (rejected / claims) was not used: it lets a long
/// caption with several errors beat a short one with one, rewarding verbosity, and it differs from
/// the recipe whose gains the method relies on. The raw count's own bias, towards short captions
/// that assert less, is handled by the length band below.
/// </para>
/// <para>
/// <b>Candidates.</b> Every two judged samples of an image (RLAIF-V pairs all combinations).
/// Unjudged samples take part in no pair (RLAIF-V skips responses whose judgements do not match
/// their facts). A candidate is dropped, in this order, when the scores are equal (a tie), differ
/// by less than <see cref="PreferencePairOptions.Margin"/>, the two captions are the same text
/// after trimming, or the longer caption has more than <see cref="PreferencePairOptions.MaxLengthRatio"/>
/// times the words of the shorter.
/// </para>
/// <para>
/// <b>Length balancing.</b> Two rules, both streamable. (1) The length band above: words are
/// counted as RLAIF-V counts them (<c>len(text.split())</c>), and the band is symmetric. RLAIF-V
/// instead drops pairs whose chosen answer is shorter than the rejected by more than a ratio it
/// searches over the whole pair set (<c>utils/get_pairs_filter_shorten.py</c>), which needs all
/// pairs in memory. (2) Within an image, candidates are ranked by score gap (largest first), then
/// by length ratio (closest first), then by sample order; up to
/// <see cref="PreferencePairOptions.MaxPairsPerImage"/> are taken, and while more pairs kept so far
/// have the chosen caption shorter than longer, the next one taken is the best-ranked candidate
/// whose chosen caption is not shorter (and the reverse), so across the set "chosen is shorter"
/// and "chosen is longer" stay as even as the candidates allow. RLAIF-V takes its per-image pairs
/// at random; this rule is deterministic, so a round is reproducible.
/// </para>
/// </remarks>
public sealed class PreferencePairBuilder
{
    private readonly PreferencePairOptions _options;
    private readonly PreferencePairStatistics _statistics;

    /// <summary>Creates a builder.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An option is unusable; the message names it.</exception>
    public PreferencePairBuilder(PreferencePairOptions? options = null)
    {
        _options = options ?? new PreferencePairOptions();
        _options.Validate();
        _statistics = new PreferencePairStatistics { Options = _options };
    }

    /// <summary>The counts so far, over every image added.</summary>
    public PreferencePairStatistics Statistics => _statistics;

    /// <summary>Adds one image's samples and returns the pairs kept for it (possibly none).</summary>
    public IReadOnlyList<PreferencePair> Add(PreferenceImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        ArgumentNullException.ThrowIfNull(image.Samples);
        var s = _statistics;
        s.Images++;
        s.Samples += image.Samples.Count;
        s.FailedSamples += image.FailedSamples?.Count ?? 0;
        var judged = new List<PreferenceSample>(image.Samples.Count);
        foreach (var sample in image.Samples)
        {
            if (sample.Judgement.IsJudged)
            {
                judged.Add(sample);
            }
            else
            {
                s.UnjudgedSamples++;
            }
        }

        var valid = new List<Candidate>();
        for (var i = 0; i < judged.Count; i++)
        {
            for (var j = i + 1; j < judged.Count; j++)
            {
                s.Candidates++;
                var (a, b) = (judged[i], judged[j]);
                var gap = Math.Abs(a.Judgement.RejectedCount - b.Judgement.RejectedCount);
                if (gap == 0)
                {
                    s.Ties++;
                    continue;
                }
                if (gap < _options.Margin)
                {
                    s.BelowMargin++;
                    continue;
                }
                if (string.Equals(a.Caption.Trim(), b.Caption.Trim(), StringComparison.Ordinal))
                {
                    s.IdenticalCaptions++;
                    continue;
                }
                var (chosen, rejected) = a.Judgement.RejectedCount < b.Judgement.RejectedCount ? (a, b) : (b, a);
                var ratio = LengthRatio(chosen.Words, rejected.Words);
                if (ratio > _options.MaxLengthRatio)
                {
                    s.OutsideLengthBand++;
                    continue;
                }
                valid.Add(new Candidate(chosen, rejected, gap, ratio, i, j));
            }
        }

        valid.Sort(static (x, y) =>
        {
            var c = y.Gap.CompareTo(x.Gap);
            if (c != 0)
            {
                return c;
            }
            c = x.Ratio.CompareTo(y.Ratio);
            return c != 0 ? c : x.I != y.I ? x.I.CompareTo(y.I) : x.J.CompareTo(y.J);
        });

        var pairs = new List<PreferencePair>();
        while (pairs.Count < _options.MaxPairsPerImage && valid.Count > 0)
        {
            var imbalance = s.ChosenShorter - s.ChosenLonger;
            var index = imbalance switch
            {
                > 0 => valid.FindIndex(c => c.Chosen.Words >= c.Rejected.Words),
                < 0 => valid.FindIndex(c => c.Chosen.Words <= c.Rejected.Words),
                _ => 0,
            };
            var pick = valid[index < 0 ? 0 : index];
            valid.Remove(pick);
            pairs.Add(new PreferencePair(image.ImageId, image.ImagePath, image.Prompt, pick.Chosen, pick.Rejected));
            s.Pairs++;
            s.ChosenWords += pick.Chosen.Words;
            s.RejectedWords += pick.Rejected.Words;
            if (pick.Chosen.Words < pick.Rejected.Words)
            {
                s.ChosenShorter++;
            }
            else if (pick.Chosen.Words > pick.Rejected.Words)
            {
                s.ChosenLonger++;
            }
        }
        s.OverCap += valid.Count;
        if (pairs.Count > 0)
        {
            s.ImagesWithPairs++;
        }
        return pairs;
    }

    /// <summary>
    /// Builds pairs for a stream of images, writing each pair to <paramref name="output"/> as a JSONL
    /// line (flushed per image), and returns the statistics; check
    /// <see cref="PreferencePairStatistics.HasValidPair"/> before training.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<PreferencePairStatistics> WriteAsync(IAsyncEnumerable<PreferenceImage> images, TextWriter output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(images);
        ArgumentNullException.ThrowIfNull(output);
        await foreach (var image in images.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            foreach (var pair in Add(image))
            {
                await output.WriteAsync(pair.ToJsonLine().AsMemory(), cancellationToken).ConfigureAwait(false);
                await output.WriteAsync("\n".AsMemory(), cancellationToken).ConfigureAwait(false);
            }
            await output.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        return _statistics;
    }

    // Longer over shorter; a zero-word caption against a non-empty one is infinitely far.
    private static double LengthRatio(int a, int b)
    {
        var (low, high) = a < b ? (a, b) : (b, a);
        return high == 0 ? 1 : low == 0 ? double.PositiveInfinity : (double)high / low;
    }

    private sealed record Candidate(PreferenceSample Chosen, PreferenceSample Rejected, int Gap, double Ratio, int I, int J);
}
