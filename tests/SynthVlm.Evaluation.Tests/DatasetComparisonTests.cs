using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// Table 2's pairwise judge with stub judges: the swap logic, failures, and the Wilson intervals and
/// seeded sample against Fixtures/dataset_comparison/expected.json (make_reference.py, written
/// from the definitions). Tolerance 1e-12: the same closed form in float64 on both sides.
/// </summary>
public sealed class DatasetComparisonTests : IDisposable
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "dataset_comparison");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-compare-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Wilson_intervals_match_the_python_reference()
    {
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, "expected.json")));
        expected.RootElement.GetProperty("z").GetDouble().Should().BeApproximately(DatasetComparison.Z95, 1e-12);
        foreach (var c in expected.RootElement.GetProperty("wilson").EnumerateArray())
        {
            var (low, high) = DatasetComparison.Wilson(c.GetProperty("k").GetInt32(), c.GetProperty("n").GetInt32());
            low.Should().BeApproximately(c.GetProperty("low").GetDouble(), 1e-12, c.ToString());
            high.Should().BeApproximately(c.GetProperty("high").GetDouble(), 1e-12, c.ToString());
        }
        DatasetComparison.Wilson(0, 0).Should().Be((0.0, 0.0));
    }

    [Fact]
    public void The_seeded_sample_matches_the_python_reference()
    {
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, "expected.json")));
        foreach (var c in expected.RootElement.GetProperty("samples").EnumerateArray())
        {
            var ids = c.GetProperty("ids").EnumerateArray().Select(e => e.GetString()!).ToList();
            var sample = DatasetComparison.Sample(ids, c.GetProperty("size").GetInt32(), ulong.Parse(c.GetProperty("seed").GetString()!, System.Globalization.CultureInfo.InvariantCulture));
            sample.Should().Equal(c.GetProperty("sample").EnumerateArray().Select(e => e.GetString()), c.GetProperty("seed").GetString());
        }
    }

    [Theory]
    [InlineData("1", "2", ComparisonOutcome.Win)]
    [InlineData("2", "1", ComparisonOutcome.Loss)]
    [InlineData("1", "1", ComparisonOutcome.Tie)] // always the first position: bias, not a preference
    [InlineData("2", "2", ComparisonOutcome.Tie)]
    [InlineData("tie", "2", ComparisonOutcome.Tie)]
    [InlineData("Pair 1.", "**2**", ComparisonOutcome.Win)]
    [InlineData("TIE", "tie", ComparisonOutcome.Tie)]
    [InlineData("1", "I cannot decide", ComparisonOutcome.Failed)]
    [InlineData("", "2", ComparisonOutcome.Failed)]
    [InlineData("12", "2", ComparisonOutcome.Failed)]
    public void The_two_orders_combine_into_one_outcome_for_a(string aFirstReply, string bFirstReply, ComparisonOutcome expected)
    {
        var aFirst = DatasetComparison.ParseVerdict(aFirstReply);
        var bFirst = DatasetComparison.ParseVerdict(bFirstReply);
        DatasetComparison.Combine(aFirst, bFirst).Should().Be(expected);
    }

    [Fact]
    public async Task A_judge_that_prefers_a_wins_in_both_orders_and_a_position_biased_judge_only_ties()
    {
        var (a, b) = WriteDatasets(count: 6);
        var prefersA = new ImageJudge(r => r.FirstImage.Contains("/a/", StringComparison.Ordinal) ? "1" : "2");
        var alwaysFirst = new ImageJudge(_ => "1");

        var preferred = await new DatasetComparison(prefersA, new DatasetComparisonOptions { SampleSize = 4, Seed = 9 }).CompareAsync(a, b).WithTimeout();
        var biased = await new DatasetComparison(alwaysFirst, new DatasetComparisonOptions { SampleSize = 4, Seed = 9 }).CompareAsync(a, b).WithTimeout();

        (preferred.Wins, preferred.Ties, preferred.Losses, preferred.Failed).Should().Be((4, 0, 0, 0));
        (biased.Wins, biased.Ties, biased.Losses, biased.Failed).Should().Be((0, 4, 0, 0));
        biased.PositionOneVerdicts.Should().Be(8);
        preferred.Comparisons.Select(c => c.Id).Should().Equal(DatasetComparison.Sample(Enumerable.Range(0, 6).Select(i => $"item-{i}"), 4, 9));
        // Each item asked twice, positions swapped: A's image first, then B's image first.
        prefersA.Requests.Should().HaveCount(8);
        foreach (var id in preferred.Comparisons.Select(c => c.Id))
        {
            var asked = prefersA.Requests.Where(r => r.FirstImage.EndsWith("/" + id + ".png", StringComparison.Ordinal)).ToList();
            asked.Select(r => r.FirstImage.Contains("/a/", StringComparison.Ordinal)).Should().BeEquivalentTo([true, false]);
            asked.Should().OnlyContain(r => r.Text.Contains(DatasetComparison.PromptVersion, StringComparison.Ordinal) && r.Temperature == 0);
            asked.Single(r => r.FirstImage.Contains("/a/", StringComparison.Ordinal)).Text.Should().Contain($"Pair 1 caption: \"caption A of {id}\"");
        }
    }

    [Fact]
    public async Task A_missing_image_garbage_and_a_failed_call_are_counted_failures_and_the_rest_is_scored()
    {
        var (a, b) = WriteDatasets(count: 5);
        File.Delete(Path.Combine(_dir, "b", "item-1.png"));
        var judge = new ImageJudge(r =>
            r.FirstImage.EndsWith("item-2.png", StringComparison.Ordinal) ? "Both are lovely pictures."
            : r.FirstImage.EndsWith("item-3.png", StringComparison.Ordinal) ? throw new ChatModelException("judge: http 500 after retries")
            : r.FirstImage.Contains("/b/", StringComparison.Ordinal) ? "1" : "2");

        var result = await new DatasetComparison(judge, new DatasetComparisonOptions { SampleSize = 5 }).CompareAsync(a, b).WithTimeout();

        (result.Wins, result.Ties, result.Losses, result.Failed, result.Judged).Should().Be((0, 0, 2, 3, 2));
        var byId = result.Comparisons.ToDictionary(c => c.Id);
        byId["item-1"].Failure.Should().Contain("image not found").And.Contain(Path.Combine(_dir, "b", "item-1.png"));
        judge.Requests.Should().NotContain(r => r.FirstImage.EndsWith("item-1.png", StringComparison.Ordinal));
        byId["item-2"].Failure.Should().Contain("not 1, 2 or tie").And.Contain("Both are lovely");
        byId["item-2"].ReplyAFirst.Should().Be("Both are lovely pictures.");
        byId["item-3"].Failure.Should().Contain("judge failed").And.Contain("http 500");
        var json = result.ToJson();
        json["failed"]!.GetValue<int>().Should().Be(3);
        json["loss"]!["count"]!.GetValue<int>().Should().Be(2);
        json["loss"]!["rate"]!.GetValue<double>().Should().Be(1.0);
        var (low, high) = DatasetComparison.Wilson(2, 2);
        json["loss"]!["wilson95"]!.AsArray().Select(v => v!.GetValue<double>()).Should().Equal(low, high);
        json["win"]!["wilson95"]!.AsArray().Select(v => v!.GetValue<double>()).Should().Equal(DatasetComparison.Wilson(0, 2).Low, DatasetComparison.Wilson(0, 2).High);
        json["comparisons"]!.AsArray().Should().HaveCount(5);
    }

    [Fact]
    public async Task Unreadable_datasets_are_format_errors_and_bad_items_are_reported()
    {
        var (a, b) = WriteDatasets(count: 3);
        var withBadItem = JsonNode.Parse(File.ReadAllText(a.JsonPath))!.AsArray();
        withBadItem.Add(new JsonObject { ["id"] = "broken", ["image"] = "x.png" });
        File.WriteAllText(a.JsonPath, withBadItem.ToJsonString());
        var notArray = Path.Combine(_dir, "object.json");
        File.WriteAllText(notArray, "{}");
        var judge = new ImageJudge(_ => "tie");

        var result = await new DatasetComparison(judge).CompareAsync(a, b).WithTimeout();
        var wrong = () => new DatasetComparison(judge).CompareAsync(a with { JsonPath = notArray }, b);
        var disjoint = () => new DatasetComparison(judge).CompareAsync(a, b with { JsonPath = WriteJson("other.json", [("zzz", "zzz.png", "c")]) });

        result.Problems.Should().ContainSingle().Which.Should().Be(new InputProblem(a.JsonPath, 4, "item 4: expected {\"id\", \"image\", \"conversations\"} with a \"gpt\" turn"));
        result.Ties.Should().Be(3);
        (await wrong.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should().Be($"{notArray}: expected a LLaVA JSON array of {{\"id\", \"image\", \"conversations\": [{{\"from\", \"value\"}}…]}} (found a JSON Object).");
        (await disjoint.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("share no id");
    }

    private (ComparisonDataset A, ComparisonDataset B) WriteDatasets(int count)
    {
        foreach (var side in new[] { "a", "b" })
        {
            Directory.CreateDirectory(Path.Combine(_dir, side));
            for (var i = 0; i < count; i++)
            {
                File.WriteAllBytes(Path.Combine(_dir, side, $"item-{i}.png"), [0x89, 0x50, 0x4E, 0x47, (byte)i]);
            }
        }
        var a = WriteJson("a.json", [.. Enumerable.Range(0, count).Select(i => ($"item-{i}", $"item-{i}.png", $"caption A of item-{i}"))]);
        var b = WriteJson("b.json", [.. Enumerable.Range(0, count).Select(i => ($"item-{i}", $"item-{i}.png", $"caption B of item-{i}"))]);
        return (new ComparisonDataset("synthvlm", a, Path.Combine(_dir, "a")), new ComparisonDataset("original", b, Path.Combine(_dir, "b")));
    }

    private string WriteJson(string name, (string Id, string Image, string Caption)[] items)
    {
        var array = new JsonArray();
        foreach (var (id, image, caption) in items)
        {
            array.Add(new JsonObject
            {
                ["id"] = id,
                ["image"] = image,
                ["conversations"] = new JsonArray(
                    new JsonObject { ["from"] = "human", ["value"] = "Describe the image briefly.\n<image>" },
                    new JsonObject { ["from"] = "gpt", ["value"] = caption }),
            });
        }
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, array.ToJsonString());
        return path;
    }

    private sealed record Seen(string FirstImage, string SecondImage, string Text, double Temperature);

    private sealed class ImageJudge(Func<Seen, string> reply) : IChatModel
    {
        private readonly ConcurrentQueue<Seen> _requests = new();

        public IReadOnlyList<Seen> Requests => [.. _requests];

        public string ModelName => "stub-judge";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            var message = request.Messages.Single();
            var seen = new Seen(message.ImagePaths![0], message.ImagePaths[1], message.Text, request.Temperature);
            _requests.Enqueue(seen);
            return Task.FromResult(new ChatReply(reply(seen)));
        }
    }
}
