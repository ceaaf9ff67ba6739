using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation;

/// <summary>A dataset comparison's counts, rates with 95 % Wilson intervals, and every item's verdicts.</summary>
public sealed class DatasetComparisonResult
{
    /// <summary>Creates the result from the items' comparisons.</summary>
    public DatasetComparisonResult(string datasetA, string datasetB, string judge, ulong seed, int sharedIds, IReadOnlyList<PairComparison> comparisons, IReadOnlyList<InputProblem> problems)
    {
        ArgumentNullException.ThrowIfNull(comparisons);
        DatasetA = datasetA;
        DatasetB = datasetB;
        Judge = judge;
        Seed = seed;
        SharedIds = sharedIds;
        Comparisons = comparisons;
        Problems = problems ?? [];
        Wins = comparisons.Count(c => c.Outcome == ComparisonOutcome.Win);
        Ties = comparisons.Count(c => c.Outcome == ComparisonOutcome.Tie);
        Losses = comparisons.Count(c => c.Outcome == ComparisonOutcome.Loss);
        Failed = comparisons.Count(c => c.Outcome == ComparisonOutcome.Failed);
        var verdicts = comparisons.SelectMany(c => new[] { c.AFirst, c.BFirst }).Where(v => v is JudgeChoice.First or JudgeChoice.Second).ToList();
        PositionOneVerdicts = verdicts.Count(v => v == JudgeChoice.First);
        PositionVerdicts = verdicts.Count;
    }

    /// <summary>Dataset A's name (wins are A's).</summary>
    public string DatasetA { get; }

    /// <summary>Dataset B's name.</summary>
    public string DatasetB { get; }

    /// <summary>The judge model.</summary>
    public string Judge { get; }

    /// <summary>The sample's seed.</summary>
    public ulong Seed { get; }

    /// <summary>Ids present in both datasets (the population sampled).</summary>
    public int SharedIds { get; }

    /// <summary>Every sampled item, in sample order.</summary>
    public IReadOnlyList<PairComparison> Comparisons { get; }

    /// <summary>Dataset items that could not be read (skipped before sampling).</summary>
    public IReadOnlyList<InputProblem> Problems { get; }

    /// <summary>Items A won (both orders).</summary>
    public int Wins { get; }

    /// <summary>Items tied (orders disagree or a tie verdict).</summary>
    public int Ties { get; }

    /// <summary>Items A lost (both orders).</summary>
    public int Losses { get; }

    /// <summary>Items that failed (bad input, failed call, garbage verdict).</summary>
    public int Failed { get; }

    /// <summary>Items with a usable outcome: the rates' denominator.</summary>
    public int Judged => Wins + Ties + Losses;

    /// <summary>Non-tie verdicts that picked the first position.</summary>
    public int PositionOneVerdicts { get; }

    /// <summary>Non-tie verdicts.</summary>
    public int PositionVerdicts { get; }

    /// <summary>The share of <paramref name="count"/> in <see cref="Judged"/> (0 when nothing was judged).</summary>
    public double Rate(int count) => Judged == 0 ? 0 : (double)count / Judged;

    /// <summary>The whole result as JSON (what <c>synthvlm eval compare</c> writes).</summary>
    public JsonObject ToJson()
    {
        JsonObject Share(int k, int n)
        {
            var (low, high) = DatasetComparison.Wilson(k, n);
            return new JsonObject { ["count"] = k, ["rate"] = n == 0 ? 0 : (double)k / n, ["wilson95"] = new JsonArray(low, high) };
        }
        var items = new JsonArray();
        foreach (var c in Comparisons)
        {
            items.Add(new JsonObject
            {
                ["id"] = c.Id,
                ["a_first"] = c.AFirst.ToString().ToLowerInvariant(),
                ["b_first"] = c.BFirst.ToString().ToLowerInvariant(),
                ["outcome"] = c.Outcome.ToString().ToLowerInvariant(),
                ["reply_a_first"] = c.ReplyAFirst,
                ["reply_b_first"] = c.ReplyBFirst,
                ["failure"] = c.Failure,
            });
        }
        var problems = new JsonArray();
        foreach (var p in Problems)
        {
            problems.Add(p.ToString());
        }
        return new JsonObject
        {
            ["prompt"] = DatasetComparison.PromptVersion,
            ["judge"] = Judge,
            ["dataset_a"] = DatasetA,
            ["dataset_b"] = DatasetB,
            ["seed"] = Seed,
            ["shared_ids"] = SharedIds,
            ["sampled"] = Comparisons.Count,
            ["judged"] = Judged,
            ["failed"] = Failed,
            ["interval"] = "Wilson score, 95 % (z = 1.959963984540054), over judged items",
            ["win"] = Share(Wins, Judged),
            ["tie"] = Share(Ties, Judged),
            ["loss"] = Share(Losses, Judged),
            ["first_position"] = Share(PositionOneVerdicts, PositionVerdicts),
            ["comparisons"] = items,
            ["problems"] = problems,
        };
    }
}
