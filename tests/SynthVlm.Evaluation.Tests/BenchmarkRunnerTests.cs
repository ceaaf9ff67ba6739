using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// The runner over a small exact-match benchmark written here: answers in LLaVA's format, a bound on
/// questions in flight, a resumed run asks only what is missing (after cutting a torn line), and a
/// missing image or a model failure is recorded and left unanswered.
/// </summary>
public sealed class BenchmarkRunnerTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-runner-");

    [Fact]
    public async Task Answers_are_written_in_llava_format_scored_and_a_resumed_run_asks_only_the_missing_questions()
    {
        var bench = new ExactMatchBenchmark(_dir.FullName, 12);
        var model = new EchoModel();
        var output = Path.Combine(_dir.FullName, "out");

        var first = await new BenchmarkRunner(model, new BenchmarkRunOptions(Concurrency: 3)).RunAsync(bench, bench.Folder, output);

        first.Asked.Should().Be(12);
        first.Failures.Should().ContainSingle().Which.Problem.Should().Be($"question 7: image {Path.Combine(bench.Folder, "missing.png")} does not exist");
        model.MaxInFlight.Should().BeLessThanOrEqualTo(3);
        var lines = File.ReadAllLines(first.AnswersPath);
        lines.Should().HaveCount(11);
        Ids(first.AnswersPath).Should().Equal([0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11], "answers are written in question order although even questions finish later");
        var line = JsonNode.Parse(lines.Single(l => l.Contains("\"question_id\":3,", StringComparison.Ordinal)))!.AsObject();
        line["prompt"]!.GetValue<string>().Should().Be("Say 3.");
        line["text"]!.GetValue<string>().Should().Be("3");
        line["model_id"]!.GetValue<string>().Should().Be("echo");
        line["round_id"]!.GetValue<string>().Should().Be("0");
        first.Metrics!.Metrics["accuracy"]!.GetValue<double>().Should().Be(11 / 12.0);
        var metrics = JsonNode.Parse(await File.ReadAllTextAsync(first.MetricsPath!))!;
        metrics["model"]!.GetValue<string>().Should().Be("echo");
        metrics["unanswered"]!.AsArray().Should().ContainSingle();

        // A killed run leaves a torn line; the rerun cuts it and asks it again, plus the question that failed.
        File.WriteAllLines(first.AnswersPath, lines.Take(9));
        File.AppendAllText(first.AnswersPath, "{\"question_id\": 11, \"te");
        File.Copy(Path.Combine(bench.Folder, "0.png"), Path.Combine(bench.Folder, "missing.png"));
        model.Asked.Clear();

        var second = await new BenchmarkRunner(model).RunAsync(bench, bench.Folder, output);

        second.Reused.Should().Be(9);
        second.Asked.Should().Be(3);
        model.Asked.Should().HaveCount(3).And.Contain("7");
        second.Failures.Should().BeEmpty();
        second.Metrics!.Metrics["accuracy"]!.GetValue<double>().Should().Be(1.0);
        File.ReadAllLines(second.AnswersPath).Should().HaveCount(12).And.OnlyContain(l => JsonDocument.Parse(l, default).RootElement.ValueKind == JsonValueKind.Object);
        Ids(second.AnswersPath).Should().Equal(Enumerable.Range(0, 12), "a resumed run puts the file back in question order");
    }

    [Fact]
    public async Task A_model_failure_is_recorded_with_the_question_and_the_rest_are_answered()
    {
        var bench = new ExactMatchBenchmark(_dir.FullName, 4);
        var model = new EchoModel { FailOn = "2" };

        var result = await new BenchmarkRunner(model).RunAsync(bench, bench.Folder, Path.Combine(_dir.FullName, "out"));

        result.Failures.Select(f => f.Problem).Should().Equal("question 2: echo: refused 2");
        File.ReadAllLines(result.AnswersPath).Should().HaveCount(3);
        result.Metrics!.Metrics["accuracy"]!.GetValue<double>().Should().Be(0.75, "the unanswered question counts as wrong");
    }

    [Fact]
    public async Task A_VQAv2_run_on_test_dev_writes_the_upload_for_every_test_question_beside_the_answers()
    {
        // The fixture's question files, with stand-in image files (the model here does not read them).
        var bench = Path.Combine(_dir.FullName, "vqav2");
        Directory.CreateDirectory(Path.Combine(bench, "test2015"));
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "vqav2")))
        {
            File.Copy(file, Path.Combine(bench, Path.GetFileName(file)));
        }
        foreach (var line in File.ReadLines(Path.Combine(bench, Benchmarks.Vqav2Benchmark.TestDevQuestionFile)))
        {
            File.WriteAllBytes(Path.Combine(bench, "test2015", JsonNode.Parse(line)!["image"]!.GetValue<string>()), [1]);
        }

        var result = await new BenchmarkRunner(new ConstantModel("Two.")).RunAsync(new Benchmarks.Vqav2Benchmark(), bench, Path.Combine(_dir.FullName, "out"));

        var upload = Path.Combine(Path.GetDirectoryName(result.AnswersPath)!, "submission_vqav2_test-dev2015.json");
        var rows = JsonNode.Parse(await File.ReadAllTextAsync(upload))!.AsArray();
        rows.Should().HaveCount(File.ReadLines(Path.Combine(bench, Benchmarks.Vqav2Benchmark.TestQuestionFile)).Count(), "every test question, as LLaVA's converter writes it");
        rows.Where(r => r!["answer"]!.GetValue<string>() == "2").Should().HaveCount(File.ReadAllLines(result.AnswersPath).Length, "test-dev answers go through the EvalAI processing");
        JsonNode.Parse(await File.ReadAllTextAsync(result.MetricsPath!))!["submission"]!.AsArray().Should().ContainSingle();
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);

    /// <summary>Answers every question with the same text.</summary>
    private sealed class ConstantModel(string text) : IChatModel
    {
        public string ModelName => "constant";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default) => Task.FromResult(new ChatReply(text));
    }

    private static List<int> Ids(string answers) =>
        [.. File.ReadAllLines(answers).Select(l => JsonNode.Parse(l)!["question_id"]!.GetValue<int>())];

    /// <summary>Question i asks "Say i." about i.png (question 7's image is missing.png); accuracy is exact match over all questions.</summary>
    private sealed class ExactMatchBenchmark : IBenchmark
    {
        public ExactMatchBenchmark(string root, int count)
        {
            Folder = Path.Combine(root, "bench");
            Directory.CreateDirectory(Folder);
            Count = count;
            for (var i = 0; i < count; i++)
            {
                File.WriteAllBytes(Path.Combine(Folder, $"{i}.png"), [1, 2, 3]);
            }
        }

        public string Folder { get; }

        public int Count { get; }

        public string Name => "exact";

        public string DisplayName => "Exact";

        public IReadOnlyList<string> Variants => [];

        public string ExpectedLayout => "i.png";

        public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory) =>
            Enumerable.Range(0, Count).Select(i => new BenchmarkQuestion(
                i.ToString(System.Globalization.CultureInfo.InvariantCulture), $"Say {i}.", Path.Combine(directory, i == 7 ? "missing.png" : $"{i}.png"))
            {
                AnswerFields = new Dictionary<string, string> { ["round_id"] = "0" },
            });

        public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
        {
            var right = Enumerable.Range(0, Count).Count(i => scoring.Answers.ById.TryGetValue(i.ToString(System.Globalization.CultureInfo.InvariantCulture), out var a) && a.Text == i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return Task.FromResult(new BenchmarkMetrics(Name, new JsonObject { ["accuracy"] = right / (double)Count }, scoring.Answers.Answers.Count, Count, scoring.Answers.Problems));
        }
    }

    /// <summary>Answers the number in "Say N." after yielding, and records the most requests it held at once.</summary>
    private sealed class EchoModel : IChatModel
    {
        private int _inFlight;

        public string ModelName => "echo";

        public string? FailOn { get; init; }

        public int MaxInFlight { get; private set; }

        public System.Collections.Concurrent.ConcurrentBag<string> Asked { get; } = [];

        public async Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            var now = Interlocked.Increment(ref _inFlight);
            lock (Asked)
            {
                MaxInFlight = Math.Max(MaxInFlight, now);
            }
            try
            {
                var text = request.Messages[^1].Text;
                var number = text["Say ".Length..^1];
                // Even questions take longer, so answers finish out of order.
                for (var i = 0; i < (int.Parse(number, System.Globalization.CultureInfo.InvariantCulture) % 2 == 0 ? 20 : 1); i++)
                {
                    await Task.Yield();
                }
                Asked.Add(number);
                request.Messages[^1].ImagePaths.Should().ContainSingle();
                return number == FailOn ? throw new ChatModelException($"echo: refused {number}") : new ChatReply(number);
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }
}
