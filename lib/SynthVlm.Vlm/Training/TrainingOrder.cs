namespace SynthVlm.Vlm.Training;

/// <summary>One sample of the mixture: which source and which sample of it.</summary>
/// <param name="Source">Index into the mixture's sources.</param>
/// <param name="Index">Sample index within that source's file.</param>
public readonly record struct SampleRef(int Source, int Index);

/// <summary>
/// The order samples are trained in, a pure function of (seed, epoch), so a resumed job sees the
/// same samples in the same order: each source contributes round(count × weight) draws (whole
/// shuffled passes, then part of one), then the mixture is shuffled — or, with group-by-modality,
/// arranged as LLaVA's LengthGroupedSampler does for one device: image and text-only samples in
/// separate micro-batch groups, each group sorted longest first, the groups shuffled, the two
/// left-over groups last.
/// </summary>
public static class TrainingOrder
{
    /// <summary>Samples one epoch draws from the mixture.</summary>
    public static int EpochSize(IReadOnlyList<LlavaDataIndex> sources, IReadOnlyList<double> weights)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(weights);
        return sources.Select((s, i) => Draws(s.Count, weights[i])).Sum();
    }

    /// <summary>The order of epoch <paramref name="epoch"/>.</summary>
    public static SampleRef[] ForEpoch(IReadOnlyList<LlavaDataIndex> sources, IReadOnlyList<double> weights, int seed, int epoch, bool groupByModality, int microBatch)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(weights);
        var pool = new List<SampleRef>(EpochSize(sources, weights));
        for (var s = 0; s < sources.Count; s++)
        {
            var count = sources[s].Count;
            var draws = Draws(count, weights[s]);
            for (var pass = 0; draws > 0; pass++)
            {
                var permutation = Permutation(count, Seed(seed, epoch, s, pass));
                var take = Math.Min(draws, count);
                for (var i = 0; i < take; i++)
                {
                    pool.Add(new SampleRef(s, permutation[i]));
                }
                draws -= take;
            }
        }
        if (!groupByModality)
        {
            var order = Permutation(pool.Count, Seed(seed, epoch, -1, 0));
            return [.. order.Select(i => pool[i])];
        }
        return GroupByModality(sources, pool, microBatch, new Random(Seed(seed, epoch, -2, 0)));
    }

    private static SampleRef[] GroupByModality(IReadOnlyList<LlavaDataIndex> sources, List<SampleRef> pool, int microBatch, Random random)
    {
        int Length(SampleRef r) => sources[r.Source].ModalityLength(r.Index);
        List<SampleRef[]> Groups(List<SampleRef> items)
        {
            var shuffled = Shuffle(items, random);
            var groups = new List<SampleRef[]>();
            for (var i = 0; i < shuffled.Count; i += microBatch)
            {
                // Longest first within a group, by |length| (text-only lengths are negative).
                groups.Add([.. shuffled.Skip(i).Take(microBatch).OrderByDescending(r => Math.Abs(Length(r)))]);
            }
            return groups;
        }
        var image = Groups(pool.Where(r => Length(r) > 0).ToList());
        var text = Groups(pool.Where(r => Length(r) <= 0).ToList());
        var leftovers = new List<SampleRef>();
        if (image.Count > 0)
        {
            leftovers.AddRange(image[^1]);
            image.RemoveAt(image.Count - 1);
        }
        if (text.Count > 0)
        {
            leftovers.AddRange(text[^1]);
            text.RemoveAt(text.Count - 1);
        }
        var groups = Shuffle([.. image, .. text], random);
        var result = groups.SelectMany(g => g).ToList();
        result.AddRange(leftovers.OrderBy(r => r.Source).ThenBy(r => r.Index));
        return [.. result];
    }

    private static int Draws(int count, double weight) => (int)Math.Round(count * weight, MidpointRounding.AwayFromZero);

    // Not HashCode.Combine: it is randomised per process, and the order must be the same in every process.
    private static int Seed(int seed, int epoch, int source, int pass)
    {
        unchecked
        {
            var h = (uint)seed * 0x9E3779B1u;
            h ^= (uint)epoch * 0x85EBCA77u;
            h = (h << 13) | (h >> 19);
            h ^= (uint)source * 0xC2B2AE3Du;
            h = (h << 11) | (h >> 21);
            h ^= (uint)pass * 0x27D4EB2Fu;
            h ^= h >> 15;
            return (int)(h & 0x7FFFFFFF);
        }
    }

    private static int[] Permutation(int count, int seed)
    {
        var order = Enumerable.Range(0, count).ToArray();
        // System.Random with a seed is the same sequence on every platform and .NET version (its seeded algorithm is frozen).
        new Random(seed).Shuffle(order);
        return order;
    }

    private static List<T> Shuffle<T>(List<T> items, Random random)
    {
        var copy = items.ToArray();
        random.Shuffle(copy);
        return [.. copy];
    }
}
