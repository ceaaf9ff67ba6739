using System.Diagnostics;
using SynthVlm.Selection;
using Xunit.Abstractions;

namespace SynthVlm.Selection.Tests;

public sealed class TopKSelectorTests(ITestOutputHelper output)
{
    private static List<Candidate<int>> RandomCandidates(int n, int seed, int distinctScores)
    {
        var rng = new Random(seed);
        // Few distinct scores force many ties, which must be broken by id then variant.
        return Enumerable.Range(0, n)
            .Select(i => new Candidate<int>($"c{rng.Next(n * 4):D7}-{i}", rng.Next(3), rng.Next(distinctScores) / (double)distinctScores, i))
            .ToList();
    }

    private static List<Candidate<int>> SortedReference(IEnumerable<Candidate<int>> all, int k) =>
        all.OrderByDescending(c => c.Score).ThenBy(c => c.CaptionId, StringComparer.Ordinal).ThenBy(c => c.Variant).Take(k).ToList();

    [Theory]
    [InlineData(1000, 0, 1, 10)]
    [InlineData(1000, 1, 2, 10)]
    [InlineData(1000, 50, 3, 7)]
    [InlineData(1000, 999, 4, 1000)]
    [InlineData(1000, 1000, 5, 3)]
    [InlineData(10, 50, 6, 2)]
    [InlineData(0, 5, 7, 2)]
    public void Keeps_exactly_the_k_best_in_rank_order_with_ties_broken_by_id_then_variant(int n, int k, int seed, int distinct)
    {
        var all = RandomCandidates(n, seed, distinct);
        var selector = new TopKSelector<int>(k);
        foreach (var c in all)
        {
            selector.Add(c);
        }
        var expected = SortedReference(all, k);
        selector.ToRankedArray().Select(c => c.Item).Should().Equal(expected.Select(c => c.Item));
        selector.Seen.Should().Be(n);
    }

    [Fact]
    public void The_result_does_not_depend_on_arrival_order()
    {
        var all = RandomCandidates(5000, 11, 20);
        var first = new TopKSelector<int>(300);
        var second = new TopKSelector<int>(300);
        foreach (var c in all)
        {
            first.Add(c);
        }
        foreach (var c in all.AsEnumerable().Reverse())
        {
            second.Add(c);
        }
        first.ToRankedArray().Should().Equal(second.ToRankedArray());
    }

    [Fact]
    public void A_nan_score_is_refused_with_the_caption_named()
    {
        var selector = new TopKSelector<int>(3);
        var act = () => selector.Add(new Candidate<int>("cap-7", 1, double.NaN, 0));
        act.Should().Throw<ArgumentException>().WithMessage("*cap-7*variant 1*NaN*");
    }

    // The bound: a million scored items through selection with memory bounded by K, not
    // by the pool. Items are made on the fly (as the service streams them from the score files),
    // so what is measured is the selector's own footprint.
    [Fact]
    public void A_million_items_pass_through_with_memory_bounded_by_k()
    {
        const int n = 1_000_000;
        const int k = 10_000;
        var rng = new Random(42);
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        var before = GC.GetTotalMemory(forceFullCollection: true);
        var selector = new TopKSelector<long>(k);
        var peakAboveBaseline = 0L;
        var sw = Stopwatch.StartNew();
        var scores = new double[n];
        for (var i = 0; i < n; i++)
        {
            var score = Math.Round(rng.NextDouble(), 4);
            scores[i] = score;
            selector.Add(new Candidate<long>(string.Create(System.Globalization.CultureInfo.InvariantCulture, $"id{i:D7}"), i % 2, score, i));
            if ((i & 0xFFFF) == 0)
            {
                peakAboveBaseline = Math.Max(peakAboveBaseline, GC.GetTotalMemory(forceFullCollection: true) - before - (n * sizeof(double)));
            }
        }
        sw.Stop();
        peakAboveBaseline = Math.Max(peakAboveBaseline, GC.GetTotalMemory(forceFullCollection: true) - before - (n * sizeof(double)));
        var kept = selector.ToRankedArray();
        output.WriteLine($"1,000,000 items, k = {k}: {sw.Elapsed.TotalMilliseconds:0} ms, live memory above baseline at most {peakAboveBaseline / 1024.0 / 1024.0:0.00} MiB");

        kept.Should().HaveCount(k);
        // Exact: the k-th best score is the k-th largest of all scores, and everything kept is >= it.
        Array.Sort(scores);
        var kth = scores[n - k];
        kept[^1].Score.Should().Be(kth);
        kept.Should().OnlyContain(c => c.Score >= kth);
        // O(k): the heap (k × ~40 B) plus the kept ids; 1M items would be ~60 MiB.
        peakAboveBaseline.Should().BeLessThan(4L * 1024 * 1024);
    }
}
