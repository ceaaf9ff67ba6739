using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// MMBench's "lmms-eval" variant against lmms-eval's MMBench task code: Fixtures/mmbench/make_reference_lmms_eval.py ran
/// lmms-eval's mmbench_process_results and mmbench_aggregate_dev_results_eval on the official fixture's TSV and answers,
/// with the judge replies of judge_replies_lmms_eval.json (API failures, empty replies, unreadable replies, and three
/// seeded random fallbacks); a fake judge replays them here.
/// </summary>
public sealed class MmBenchLmmsEvalVariantTests : IDisposable
{
    private readonly string _fixture = LlavaFixtures.Folder("mmbench");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-mmbench-lmms-").FullName;

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_mmbench_evals()
    {
        var expected = Expected;
        var judge = new ReplayJudge(Path.Combine(_fixture, "judge_replies_lmms_eval.json"));
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new MmBenchBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, MmBenchBenchmark.LmmsEvalVariant, judge)).WithTimeout();

        foreach (var (key, value) in expected["metrics"]!.AsObject())
        {
            LlavaFixtures.ShouldMatch(result.Metrics[key], value, key);
        }
        judge.Prompts.Should().Equal(expected["judge_prompts"]!.AsArray().Select(p => p!.GetValue<string>()));
        judge.Requests.Should().OnlyContain(r => r.Temperature == 0 && r.MaxTokens == MmBenchBenchmark.LmmsEvalJudgeMaxTokens && r.Seed == null && r.Messages.Count == 1);
        expected["judge_requests"]![0]!.GetValue<string>().Should().Contain(MmBenchBenchmark.LmmsEvalDefaultJudge);
        result.Variant.Should().Be("lmms-eval");
        result.Scored.Should().Be(9);
        result.Metrics["judge"]!.GetValue<string>().Should().Be("replay");
        result.Problems.Should().Contain(p => p.Problem.Contains("999", StringComparison.Ordinal));
        result.Notes.Should().Contain(n => n.Contains("had no answer", StringComparison.Ordinal) && n.Contains("empty text", StringComparison.Ordinal));
        result.Notes.Should().Contain(n => n.Contains($"called {judge.Prompts.Count} times", StringComparison.Ordinal) && n.Contains("3 times no letter", StringComparison.Ordinal));
    }

    [Fact]
    public void Answers_are_read_as_lmms_eval_can_infer_reads_them()
    {
        foreach (var c in Expected["infer"]!.AsArray().Select(c => c!.AsArray()))
        {
            var choices = c[1]!.AsObject().Select(p => new KeyValuePair<char, string>(p.Key[0], p.Value!.GetValue<string>())).ToList();
            var letter = MmBenchBenchmark.InferLmmsEval(c[0]!.GetValue<string>(), choices);
            letter?.ToString().Should().Be(c[2]?.GetValue<string>(), c[0]!.ToJsonString());
            if (letter is null)
            {
                c[2].Should().BeNull(c[0]!.ToJsonString());
            }
        }
    }

    [Fact]
    public async Task The_static_variant_equals_lmms_eval_static_evaluation_and_asks_no_judge()
    {
        var judge = new ReplayJudge(Path.Combine(_fixture, "judge_replies_lmms_eval.json"));
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new MmBenchBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, MmBenchBenchmark.LmmsEvalStaticVariant, judge)).WithTimeout();

        foreach (var (key, value) in Expected["static_metrics"]!.AsObject())
        {
            LlavaFixtures.ShouldMatch(result.Metrics[key], value, key);
        }
        judge.Prompts.Should().BeEmpty();
        result.Variant.Should().Be("lmms-eval-static");
        result.Notes.Should().Contain(n => n.Contains("mcq_extract", StringComparison.Ordinal));
    }

    [Fact]
    public void Unread_answers_are_extracted_as_lmms_eval_mcq_extract_does()
    {
        foreach (var c in Expected["extract"]!.AsArray().Select(c => c!.AsArray()))
        {
            var choices = c[1]!.AsArray().Select(x => x!.GetValue<string>()[0]).ToList();
            MmBenchBenchmark.ExtractMcqLmmsEval(c[0]!.GetValue<string>(), choices).Should().Be(c[2]!.GetValue<string>(), c.ToJsonString());
        }
    }

    [Fact]
    public void The_fallback_draws_equal_python_random_seeded_with_2680()
    {
        var random = new PythonRandom(MmBenchBenchmark.LmmsEvalSeed);

        var draws = Enumerable.Range(0, 20).Select(_ => random.RandInt(0, 4)).ToList();

        draws.Should().Equal(Expected["draws"]!.AsArray().Select(d => d!.GetValue<int>()));
    }

    [Fact]
    public async Task Without_a_judge_an_unread_row_is_named_and_unknown_variants_are_refused()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var noJudge = () => new MmBenchBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, MmBenchBenchmark.LmmsEvalVariant));
        var unknown = () => new MmBenchBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "vlmevalkit"));

        (await noJudge.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("index 1000003").And.Contain(MmBenchBenchmark.LmmsEvalDefaultJudge);
        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("vlmevalkit").And.Contain("lmms-eval");
        new MmBenchBenchmark().Variants.Should().Equal("lmms-eval", "lmms-eval-static");
    }

    [Fact]
    public async Task Letters_only_need_no_judge_and_a_missing_option_column_is_the_option_nan()
    {
        var tsv = Path.Combine(_dir, "mmbench_dev_20230712.tsv");
        await File.WriteAllLinesAsync(tsv, ["index\tquestion\thint\tA\tB\tC\tanswer\tcategory\tl2-category\timage", "1\tWhat?\tnan\tyes\tno\tmaybe\tA\tc1\tl1\tx", "2\tWhy?\tnan\tup\tdown\tleft\tB\tc2\tl1\tx"]);
        var answersPath = Path.Combine(_dir, "answers.jsonl");
        await File.WriteAllLinesAsync(answersPath, ["{\"question_id\": 1, \"text\": \" A \"}", "{\"question_id\": 2, \"text\": \"It is NaN\"}"]);

        var result = await new MmBenchBenchmark().ScoreAsync(new BenchmarkScoring(_dir, AnswerFile.Read(answersPath), MmBenchBenchmark.LmmsEvalVariant));

        // "It is NaN" contains the text of option D, "nan" (the column the TSV lacks), so it reads as D: wrong.
        result.Metrics["Overall"]!.GetValue<double>().Should().Be(0.5);
        result.Metrics["category_acc"]!["c2"]!.GetValue<double>().Should().Be(0.0);
        result.Metrics["l2_category_acc"]!["l1"]!.GetValue<double>().Should().Be(0.5);
    }

    /// <summary>Replays judge_replies_lmms_eval.json by the prediction in the prompt: the n-th ask gets the n-th reply, then the last.</summary>
    private sealed class ReplayJudge(string path) : IChatModel
    {
        private readonly Dictionary<string, List<string>> _replies = JsonNode.Parse(File.ReadAllText(path))!.AsObject()
            .ToDictionary(p => p.Key, p => p.Value!.AsArray().Select(v => v!.GetValue<string>()).ToList(), StringComparer.Ordinal);

        private readonly Dictionary<string, int> _asked = new(StringComparer.Ordinal);

        public string ModelName => "replay";

        public List<string> Prompts { get; } = [];

        public List<ChatRequest> Requests { get; } = [];

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            var prompt = request.Messages[^1].Text;
            Prompts.Add(prompt);
            Requests.Add(request);
            const string Before = "\nAnswer: ", After = "\nYour output: ";
            var start = prompt.LastIndexOf(Before, StringComparison.Ordinal) + Before.Length;
            var key = prompt[start..^After.Length];
            var n = _asked.GetValueOrDefault(key);
            _asked[key] = n + 1;
            var replies = _replies[key];
            var reply = replies[Math.Min(n, replies.Count - 1)];
            return reply == "!error" ? throw new ChatModelException("stub API failure") : Task.FromResult(new ChatReply(reply));
        }
    }
}
