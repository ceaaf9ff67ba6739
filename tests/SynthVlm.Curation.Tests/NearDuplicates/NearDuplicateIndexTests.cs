using SynthVlm.Curation.NearDuplicates;

namespace SynthVlm.Curation.Tests.NearDuplicates;

public class NearDuplicateIndexTests
{
    private static readonly string[] Vocabulary =
    [
        "a", "dog", "cat", "runs", "on", "the", "beach", "under", "blue", "sky", "with", "red", "ball", "near", "old",
        "wooden", "house", "tall", "green", "trees", "while", "children", "play", "in", "park", "bright", "sunny", "day",
        "small", "boat", "lake", "mountain", "behind", "city", "street", "at", "night", "lights", "car", "bicycle",
    ];

    private static string RandomCaption(Random random, int words) =>
        string.Join(' ', Enumerable.Range(0, words).Select(_ => Vocabulary[random.Next(Vocabulary.Length)]));

    private static double ExactJaccard(ulong[] a, ulong[] b)
    {
        var union = a.Union(b).Count();
        return (double)a.Intersect(b).Count() / union;
    }

    [Fact]
    public void Default_banding_is_chosen_for_threshold_0_7_and_uses_at_most_256_values()
    {
        var hasher = new MinHasher();
        (hasher.Bands * hasher.Rows).Should().BeLessThanOrEqualTo(256);
        // The S-curve's steepest point (1/b)^(1/r) must sit near the threshold for the choice to make sense.
        var knee = Math.Pow(1.0 / hasher.Bands, 1.0 / hasher.Rows);
        knee.Should().BeInRange(0.55, 0.8);
        LshBanding.CollisionProbability(0.9, hasher.Bands, hasher.Rows).Should().BeGreaterThan(0.99);
        LshBanding.CollisionProbability(0.3, hasher.Bands, hasher.Rows).Should().BeLessThan(0.01);
    }

    [Fact]
    public void Identical_texts_after_lowercasing_and_spacing_are_duplicates_of_the_first()
    {
        var index = new NearDuplicateIndex();
        index.TryAdd("a", "A brown dog runs along the wet sand of a quiet beach", out _).Should().BeTrue();
        index.TryAdd("b", "a brown DOG runs  along the wet sand\tof a quiet beach", out var of).Should().BeFalse();
        of.Should().Be("a");
        index.KeptCount.Should().Be(1);
    }

    [Fact]
    public void A_one_word_edit_of_a_long_caption_is_a_near_duplicate()
    {
        var random = new Random(7);
        var original = RandomCaption(random, 60).Split(' ');
        var edited = (string[])original.Clone();
        edited[30] = "zebra";
        var hasher = new MinHasher();
        // 56 shingles each, 5 touched by the edit: exact Jaccard 51/61 ≈ 0.84, above 0.7.
        ExactJaccard(hasher.ShingleHashes(string.Join(' ', original)), hasher.ShingleHashes(string.Join(' ', edited))).Should().BeGreaterThan(0.8);
        var index = new NearDuplicateIndex();
        index.TryAdd("orig", string.Join(' ', original), out _).Should().BeTrue();
        index.TryAdd("edit", string.Join(' ', edited), out var of).Should().BeFalse();
        of.Should().Be("orig");
    }

    [Fact]
    public void Unrelated_captions_are_all_kept()
    {
        var random = new Random(11);
        var index = new NearDuplicateIndex();
        for (var i = 0; i < 500; i++)
        {
            index.TryAdd($"c{i}", RandomCaption(random, 20), out var of).Should().BeTrue($"caption {i} shares no 5-word run with others (matched {of})");
        }
        index.KeptCount.Should().Be(500);
    }

    [Fact]
    public void Jaccard_estimates_match_exact_jaccard_of_random_shingle_sets()
    {
        // With 256 permutations the estimate is a binomial proportion: its standard deviation is at
        // most sqrt(0.25/256) ≈ 0.031, so 0.125 is four standard deviations; the mean error over 200
        // pairs has σ ≈ 0.0022 and must stay under 0.01.
        var hasher = new MinHasher();
        var random = new Random(3);
        var sigA = new uint[hasher.Permutations];
        var sigB = new uint[hasher.Permutations];
        var errors = new List<double>();
        for (var trial = 0; trial < 200; trial++)
        {
            var shared = random.Next(0, 200);
            var onlyA = random.Next(1, 100);
            var onlyB = random.Next(1, 100);
            var a = new List<ulong>();
            var b = new List<ulong>();
            for (var i = 0; i < shared; i++)
            {
                var h = (ulong)random.NextInt64();
                a.Add(h);
                b.Add(h);
            }
            a.AddRange(Enumerable.Range(0, onlyA).Select(_ => (ulong)random.NextInt64()));
            b.AddRange(Enumerable.Range(0, onlyB).Select(_ => (ulong)random.NextInt64()));
            var exact = (double)shared / (shared + onlyA + onlyB);
            hasher.Signature([.. a], sigA);
            hasher.Signature([.. b], sigB);
            var estimate = MinHasher.EstimateJaccard(sigA, sigB);
            Math.Abs(estimate - exact).Should().BeLessThan(0.125, $"trial {trial}: exact {exact}");
            errors.Add(estimate - exact);
        }
        Math.Abs(errors.Average()).Should().BeLessThan(0.01);
    }

    [Fact]
    public void Signatures_depend_only_on_text_and_seed()
    {
        const string text = "Two horses graze in a misty meadow at dawn beside a fence";
        var first = new uint[256];
        var second = new uint[256];
        new MinHasher().Signature(text, first);
        new MinHasher(new MinHashSettings()).Signature(text, second);
        second.Should().Equal(first);
        // Pinned values: a change here changes which captions every past run dropped.
        first[..4].Should().Equal(PinnedPrefix);
        new MinHasher(new MinHashSettings { Seed = 1 }).Signature(text, second);
        second.Should().NotEqual(first);
    }

    private static readonly uint[] PinnedPrefix = [848242486, 616833044, 687210261, 213595531];

    [Fact]
    public void Short_and_empty_texts_are_one_shingle()
    {
        var hasher = new MinHasher();
        hasher.ShingleHashes("two words").Should().HaveCount(1);
        hasher.ShingleHashes("").Should().HaveCount(1);
        hasher.ShingleHashes("one two three four five six").Should().HaveCount(2);
        var index = new NearDuplicateIndex();
        index.TryAdd("x", "a cat", out _).Should().BeTrue();
        index.TryAdd("y", "a dog", out _).Should().BeTrue();
    }

    [Fact]
    public void Bad_settings_name_the_field()
    {
        FluentActions.Invoking(() => new NearDuplicateIndex(new MinHashSettings { Threshold = 1.5 }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be(nameof(MinHashSettings.Threshold));
        FluentActions.Invoking(() => new MinHasher(new MinHashSettings { Bands = 30, Rows = 10 }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be(nameof(MinHashSettings.Bands));
        FluentActions.Invoking(() => new MinHasher(new MinHashSettings { WindowSize = 0 }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be(nameof(MinHashSettings.WindowSize));
    }
}
