using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Statistics;

namespace SynthVlm.Evaluation;

/// <summary>One side of a comparison: a LLaVA pre-training JSON and the folder its <c>image</c> paths are relative to.</summary>
/// <param name="Name">The name results use (e.g. "synthvlm", "coco-original").</param>
/// <param name="JsonPath">The LLaVA JSON: an array of <c>{"id", "image", "conversations": [{"from": "human"…}, {"from": "gpt", "value": caption}]}</c>.</param>
/// <param name="ImageFolder">The folder the items' <c>image</c> paths are relative to.</param>
public sealed record ComparisonDataset(string Name, string JsonPath, string ImageFolder);

/// <summary>How <see cref="DatasetComparison"/> samples and asks.</summary>
public sealed record DatasetComparisonOptions
{
    /// <summary>Items compared: a seeded sample of this many ids present in both datasets (all of them when fewer). Default 200.</summary>
    public int SampleSize { get; init; } = 200;

    /// <summary>The sample's seed (<see cref="DatasetComparison.Sample"/>). Default 0.</summary>
    public ulong Seed { get; init; }

    /// <summary>Items judged at the same time (two calls each). Default 8.</summary>
    public int Parallelism { get; init; } = 8;

    /// <summary>The judge's <c>max_tokens</c>; the answer is one word. Default 8.</summary>
    public int MaxTokens { get; init; } = 8;
}

/// <summary>What the judge said in one order.</summary>
public enum JudgeChoice
{
    /// <summary>No usable answer (garbage, a failed call, or not asked because an input was bad).</summary>
    Invalid,

    /// <summary>The pair shown first is better.</summary>
    First,

    /// <summary>The pair shown second is better.</summary>
    Second,

    /// <summary>Neither is better.</summary>
    Tie,
}

/// <summary>One item's outcome, from dataset A's side.</summary>
public enum ComparisonOutcome
{
    /// <summary>A's pair was preferred in both orders.</summary>
    Win,

    /// <summary>The two orders disagree, or the judge said tie in either.</summary>
    Tie,

    /// <summary>B's pair was preferred in both orders.</summary>
    Loss,

    /// <summary>An input was bad (image missing) or a verdict unusable; not in the rates' denominator, counted apart.</summary>
    Failed,
}

/// <summary>One compared item.</summary>
/// <param name="Id">The id both datasets share.</param>
/// <param name="AFirst">The verdict with A's pair shown first.</param>
/// <param name="BFirst">The verdict with B's pair shown first.</param>
/// <param name="Outcome">The combined outcome for A.</param>
/// <param name="ReplyAFirst">The judge's raw reply with A first (null when not asked).</param>
/// <param name="ReplyBFirst">The judge's raw reply with B first (null when not asked).</param>
/// <param name="Failure">Why the item failed, or null.</param>
public sealed record PairComparison(string Id, JudgeChoice AFirst, JudgeChoice BFirst, ComparisonOutcome Outcome, string? ReplyAFirst, string? ReplyBFirst, string? Failure);

/// <summary>
/// SynthVLM's Table 2 as a measurement: a VLM judge compares image–caption pairs of two datasets
/// (e.g. SynthVlm's generated images with their captions against the same captions' original
/// images) on a seeded sample of the ids they share.
/// </summary>
/// <remarks>
/// <para>
/// Each item is asked twice with the positions swapped, A's pair first then B's pair first, with
/// the versioned prompt <see cref="PromptVersion"/> (both images in one user message, first pair's
/// image first). A verdict is "1", "2" or "tie" (<see cref="ParseVerdict"/>). The item is a win for
/// A only when both orders prefer A, a loss only when both prefer B, and a tie otherwise (the orders
/// disagree, or either said tie): a judge that always picks the first position produces ties, not
/// wins, so order bias cancels. An item whose image is missing, whose call failed after the
/// client's retries, or whose reply is garbage in either order is <see cref="ComparisonOutcome.Failed"/>:
/// recorded with its reason, counted, and left out of the rates' denominator.
/// </para>
/// <para>
/// Rates are win/tie/loss over the judged items with 95 % Wilson score intervals
/// (<see cref="Wilson"/>, z = 1.959963984540054), which stay inside [0, 1] and behave at 0 or n
/// successes where the normal interval does not. Also reported: how often a non-tie verdict
/// picked the first position (0.5 for an unbiased judge).
/// </para>
/// </remarks>
public sealed class DatasetComparison
{
    /// <summary>The prompt's version, recorded with every result and part of every cache key (it is in the text).</summary>
    public const string PromptVersion = "synthvlm-table2-pairwise-v1";

    /// <summary>z for a two-sided 95 % interval: Φ⁻¹(0.975).</summary>
    public const double Z95 = 1.959963984540054;

    private static readonly Regex VerdictPattern = new(@"^\W*(?:pair\s*)?(1|2|tie)\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));

    private readonly IChatModel _judge;
    private readonly DatasetComparisonOptions _options;

    /// <summary>Creates a comparison run with <paramref name="judge"/> (a VLM: it sees both images).</summary>
    public DatasetComparison(IChatModel judge, DatasetComparisonOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(judge);
        _judge = judge;
        _options = options ?? new DatasetComparisonOptions();
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.SampleSize, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.Parallelism, 1, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.MaxTokens, 1, nameof(options));
    }

    /// <summary>The question for one order; the first image goes with <paramref name="firstCaption"/>.</summary>
    public static string Prompt(string firstCaption, string secondCaption)
    {
        ArgumentNullException.ThrowIfNull(firstCaption);
        ArgumentNullException.ThrowIfNull(secondCaption);
        return $"""
            [{PromptVersion}]
            You are shown two image-caption pairs for vision-language pre-training. The first image belongs to Pair 1 and the second image to Pair 2.

            Pair 1 caption: "{firstCaption}"
            Pair 2 caption: "{secondCaption}"

            Which pair is better training data: the image is of good quality and the caption describes it accurately and in detail, with nothing that is not in the image? Answer with exactly one of: 1, 2, tie.
            """;
    }

    /// <summary>Reads a verdict: "1", "2" or "tie" at the start (case, surrounding punctuation and a leading "Pair" ignored); anything else is <see cref="JudgeChoice.Invalid"/>.</summary>
    public static JudgeChoice ParseVerdict(string? reply)
    {
        if (reply is null)
        {
            return JudgeChoice.Invalid;
        }
        var match = VerdictPattern.Match(reply.Trim());
        return !match.Success ? JudgeChoice.Invalid
            : match.Groups[1].Value switch
            {
                "1" => JudgeChoice.First,
                "2" => JudgeChoice.Second,
                _ => JudgeChoice.Tie,
            };
    }

    /// <summary>
    /// Combines the two orders' verdicts, as the judge gave them, into A's outcome: A-first "first"
    /// with B-first "second" is a win (A preferred in both), the reverse a loss, and any other pair
    /// of usable verdicts a tie (see the class remarks).
    /// </summary>
    public static ComparisonOutcome Combine(JudgeChoice aFirst, JudgeChoice bFirst) => (aFirst, bFirst) switch
    {
        (JudgeChoice.Invalid, _) or (_, JudgeChoice.Invalid) => ComparisonOutcome.Failed,
        (JudgeChoice.First, JudgeChoice.Second) => ComparisonOutcome.Win,
        (JudgeChoice.Second, JudgeChoice.First) => ComparisonOutcome.Loss,
        _ => ComparisonOutcome.Tie,
    };

    /// <summary>
    /// The Wilson score interval for <paramref name="successes"/> of <paramref name="n"/>:
    /// (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n); (0, 0) when n is 0.
    /// </summary>
    public static (double Low, double High) Wilson(int successes, int n, double z = Z95) => WilsonInterval.Compute(successes, n, z);

    /// <summary>
    /// The seeded sample: <paramref name="ids"/> sorted ordinally (UTF-16 code units), shuffled by
    /// Fisher–Yates from the last position down (j = SplitMix64(seed) mod (i + 1)), the first
    /// <paramref name="size"/> taken. The same ids and seed give the same sample on any machine.
    /// </summary>
    public static IReadOnlyList<string> Sample(IEnumerable<string> ids, int size, ulong seed)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var list = ids.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        var state = seed;
        for (var i = list.Length - 1; i > 0; i--)
        {
            var j = (int)(SplitMix64(ref state) % (ulong)(i + 1));
            (list[i], list[j]) = (list[j], list[i]);
        }
        return list.Take(Math.Max(0, size)).ToArray();
    }

    /// <summary>Compares A against B on the sample; never throws for a bad item (it is a counted failure), only for unreadable dataset files and cancellation.</summary>
    /// <exception cref="BenchmarkFormatException">A dataset JSON is missing or not a LLaVA JSON array.</exception>
    /// <exception cref="ArgumentException">The datasets share no id.</exception>
    public async Task<DatasetComparisonResult> CompareAsync(ComparisonDataset a, ComparisonDataset b, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var problems = new List<InputProblem>();
        var itemsA = ReadDataset(a, problems);
        var itemsB = ReadDataset(b, problems);
        var shared = itemsA.Keys.Where(itemsB.ContainsKey).ToList();
        if (shared.Count == 0)
        {
            throw new ArgumentException($"datasets {a.Name} ({a.JsonPath}) and {b.Name} ({b.JsonPath}) share no id; the comparison pairs items by id.", nameof(b));
        }
        var sample = Sample(shared, _options.SampleSize, _options.Seed);
        var results = new PairComparison[sample.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, sample.Count), new ParallelOptions { MaxDegreeOfParallelism = _options.Parallelism, CancellationToken = cancellationToken }, async (index, token) =>
        {
            var id = sample[index];
            results[index] = await CompareOneAsync(id, itemsA[id], itemsB[id], token).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return new DatasetComparisonResult(a.Name, b.Name, _judge.ModelName, _options.Seed, shared.Count, results, problems);
    }

    private async Task<PairComparison> CompareOneAsync(string id, Item a, Item b, CancellationToken cancellationToken)
    {
        var missing = new[] { a.ImagePath, b.ImagePath }.Where(p => !File.Exists(p)).ToList();
        if (missing.Count > 0)
        {
            return new PairComparison(id, JudgeChoice.Invalid, JudgeChoice.Invalid, ComparisonOutcome.Failed, null, null, $"image not found: {string.Join(", ", missing)}");
        }
        var (replyA, failureA) = await AskAsync(a, b, cancellationToken).ConfigureAwait(false);
        var (replyB, failureB) = await AskAsync(b, a, cancellationToken).ConfigureAwait(false);
        var aFirst = ParseVerdict(replyA);
        var bFirst = ParseVerdict(replyB);
        var outcome = Combine(aFirst, bFirst);
        string? failure = null;
        if (outcome == ComparisonOutcome.Failed)
        {
            failure = string.Join("; ", new[]
            {
                failureA ?? (aFirst == JudgeChoice.Invalid ? $"A-first reply is not 1, 2 or tie: {Excerpt(replyA)}" : null),
                failureB ?? (bFirst == JudgeChoice.Invalid ? $"B-first reply is not 1, 2 or tie: {Excerpt(replyB)}" : null),
            }.Where(s => s is not null));
        }
        return new PairComparison(id, aFirst, bFirst, outcome, replyA, replyB, failure);
    }

    private async Task<(string? Reply, string? Failure)> AskAsync(Item first, Item second, CancellationToken cancellationToken)
    {
        var request = new ChatRequest([ChatMessage.User(Prompt(first.Caption, second.Caption), first.ImagePath, second.ImagePath)], 0, _options.MaxTokens);
        try
        {
            return ((await _judge.CompleteAsync(request, cancellationToken).ConfigureAwait(false)).Text, null);
        }
        catch (ChatModelException e)
        {
            return (null, "judge failed: " + e.Message);
        }
    }

    private static string Excerpt(string? text) =>
        text is null ? "(none)" : JsonSerializer.Serialize(text.Length <= 80 ? text : text[..80] + "…");

    private static ulong SplitMix64(ref ulong state)
    {
        state += 0x9E3779B97F4A7C15UL;
        var z = state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    private static Dictionary<string, Item> ReadDataset(ComparisonDataset dataset, List<InputProblem> problems)
    {
        const string Expected = "a LLaVA JSON array of {\"id\", \"image\", \"conversations\": [{\"from\", \"value\"}…]}";
        var path = Path.GetFullPath(dataset.JsonPath);
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, Expected, "file not found");
        }
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(path, Expected, $"not JSON: {e.Message}");
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                throw BenchmarkFormatException.For(path, Expected, $"found a JSON {document.RootElement.ValueKind}");
            }
            var items = new Dictionary<string, Item>(StringComparer.Ordinal);
            var index = 0;
            foreach (var element in document.RootElement.EnumerateArray())
            {
                index++;
                if (ReadItem(dataset, element) is not { } parsed)
                {
                    problems.Add(new InputProblem(path, index, string.Create(CultureInfo.InvariantCulture, $"item {index}: expected {{\"id\", \"image\", \"conversations\"}} with a \"gpt\" turn")));
                    continue;
                }
                if (!items.TryAdd(parsed.Id, parsed.Item))
                {
                    problems.Add(new InputProblem(path, index, $"id {parsed.Id} appears again; the first is used"));
                }
            }
            return items;
        }
    }

    private static (string Id, Item Item)? ReadItem(ComparisonDataset dataset, JsonElement element)
    {
        if (element.ValueKind != JsonValueKind.Object
            || !element.TryGetProperty("id", out var idElement) || AnswerFile.IdText(idElement) is not { } id
            || !element.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.String
            || !element.TryGetProperty("conversations", out var turns) || turns.ValueKind != JsonValueKind.Array)
        {
            return null;
        }
        foreach (var turn in turns.EnumerateArray())
        {
            if (turn.ValueKind == JsonValueKind.Object
                && turn.TryGetProperty("from", out var from) && from.ValueKind == JsonValueKind.String && from.GetString() == "gpt"
                && turn.TryGetProperty("value", out var value) && value.ValueKind == JsonValueKind.String)
            {
                return (id, new Item(Path.GetFullPath(Path.Combine(dataset.ImageFolder, image.GetString()!)), value.GetString()!));
            }
        }
        return null;
    }

    private sealed record Item(string ImagePath, string Caption);
}
