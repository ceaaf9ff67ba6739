using System.Collections.Concurrent;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// MM-Vet against the official evaluator: Fixtures/mmvet/expected.json is what make_reference.py
/// got by running yuweihao/MM-Vet's mm-vet_evaluator.py (and LLaVA's converter) on the committed
/// inputs with the grader replies of replies.json; here a stub grader replays the same replies.
/// Tolerance 1e-9: both sides do the same float64 operations in the same order, so they agree
/// exactly; the margin only guards against a JSON round trip of the last digit.
/// </summary>
public sealed class MmVetBenchmarkTests : IDisposable
{
    private const double Tolerance = 1e-9;
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "mmvet");
    private static readonly JsonElement Expected = LoadJson(Path.Combine(Fixtures, "expected.json"));
    private static readonly JsonElement Replies = LoadJson(Path.Combine(Fixtures, "replies.json"));
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-mmvet-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void The_grader_prompt_is_the_official_text_byte_for_byte()
    {
        var first = MmVetBenchmark.ReadMetadata(Fixtures)[0];
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        MmVetGrader.Question(first.Question, first.Answer, answers.ById["0"].Text).Should().Be(Expected.GetProperty("prompt").GetString());
        MmVetGrader.RetrySuffix.Should().Be(Expected.GetProperty("retry_suffix").GetString());
        MmVetGrader.Prompt.Should().StartWith("Compare the ground truth and prediction from AI models").And.EndWith("| 1.0\n");
    }

    [Theory]
    [InlineData(null, "full")]
    [InlineData(MmVetBenchmark.BardSetVariant, "bard_set")]
    public async Task Two_runs_match_the_official_evaluator(string? variant, string key)
    {
        var grader = new ReplayGrader(Fixtures);
        var benchmark = new MmVetBenchmark { Runs = 2 };
        var scoring = new BenchmarkScoring(Fixtures, AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl")), variant, grader);

        var grades = await benchmark.GradeAsync(scoring).WithTimeout();
        var result = await benchmark.ScoreAsync(new BenchmarkScoring(Fixtures, scoring.Answers, variant, new ReplayGrader(Fixtures))).WithTimeout();

        var expected = Expected.GetProperty(key);
        SameGrades(grades, expected.GetProperty("grades"));
        SameCalls(grader, expected.GetProperty("calls"));
        SameTable(result.Metrics["capabilities"]!, expected.GetProperty("capabilities"));
        SameTable(result.Metrics["capability_integration"]!, expected.GetProperty("capability_integration"));
        SameTable(result.Metrics["unrounded"]!["capabilities"]!, expected.GetProperty("unrounded").GetProperty("capabilities"));
        SameTable(result.Metrics["unrounded"]!["capability_integration"]!, expected.GetProperty("unrounded").GetProperty("capability_integration"));
        result.Metrics["total"]!.GetValue<double>().Should().Be(expected.GetProperty("capabilities").GetProperty("total").GetDouble());
        result.Benchmark.Should().Be("mmvet");
        result.Variant.Should().Be(variant);
        result.Metrics["grader"]!.GetValue<string>().Should().Be("replay");
        result.Questions.Should().Be(expected.GetProperty("grades").EnumerateObject().Count());
        result.Notes.Should().Contain(n => n.Contains("gave no score", StringComparison.Ordinal));
        if (variant is null)
        {
            result.Notes.Should().Contain(n => n.StartsWith("1 answer(s) are for questions not in", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Every_grader_reply_parses_as_the_official_float_parse_does()
    {
        foreach (var c in Expected.GetProperty("parse_cases").EnumerateArray())
        {
            var reply = c.GetProperty("reply").GetString()!;
            var grader = new QueueGrader([reply, "0.123", "0.123", "0.123", "0.123", "0.123"]);

            var grade = await MmVetGrader.GradeAsync(grader, "q", "a", "p").WithTimeout();

            var because = $"the reply is {JsonSerializer.Serialize(reply)}";
            if (c.GetProperty("score").ValueKind == JsonValueKind.String)
            {
                double.IsNaN(grade.Score).Should().BeTrue(because);
            }
            else
            {
                var score = c.GetProperty("score").GetDouble();
                grade.Score.Should().Be(score, because);
                double.IsNegative(grade.Score).Should().Be(double.IsNegative(score), because);
            }
            grade.Content.Should().Be(c.GetProperty("content").GetString(), because);
            grade.Calls.Should().Be(c.GetProperty("calls").GetInt32(), because);
        }
    }

    [Fact]
    public async Task A_grader_that_never_scores_is_asked_six_times_at_rising_temperatures_and_the_grade_is_zero()
    {
        var grader = new QueueGrader(["a", "b", "c", "d", "e", "f"]);

        var grade = await MmVetGrader.GradeAsync(grader, "What?", "x<AND>y", "pred").WithTimeout();

        grade.Should().Be(new MmVetGrade(0.0, "f", 6, GaveUp: true));
        grader.Requests.Select(r => r.Temperature).Should().Equal(0.0, 0.0, 0.5, 1.0, 1.5, 2.0);
        grader.Requests.Should().OnlyContain(r => r.MaxTokens == 3 && r.Messages.Count == 1 && r.Messages[0].Role == "user");
        grader.Requests.Select(r => r.Seed).Should().Equal(null, null, 0, 0, 0, 0);
        grader.Requests[0].Messages[0].Text.Should().EndWith("\nWhat? | x <AND> y | pred | ");
        grader.Requests.Skip(1).Should().OnlyContain(r => r.Messages[0].Text.EndsWith("| pred | " + MmVetGrader.RetrySuffix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_answer_scores_zero_without_a_grader_call_and_a_malformed_line_is_reported()
    {
        File.Copy(Path.Combine(Fixtures, "mm-vet.json"), Path.Combine(_dir, "mm-vet.json"));
        var lines = File.ReadAllLines(Path.Combine(Fixtures, "answers.jsonl"))
            .Where(l => !l.StartsWith("{\"question_id\": 5,", StringComparison.Ordinal))
            .Prepend("{\"question_id\": 1, \"text\": ")
            .ToList();
        File.WriteAllLines(Path.Combine(_dir, "answers.jsonl"), lines);
        var grader = new ReplayGrader(Fixtures);

        var result = await new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(_dir, AnswerFile.Read(Path.Combine(_dir, "answers.jsonl")), null, grader)).WithTimeout();

        grader.CallsFor("v1_5").Should().BeEmpty();
        result.Problems.Should().ContainSingle().Which.Line.Should().Be(1);
        result.Scored.Should().Be(11);
        result.Questions.Should().Be(12);
        result.Notes.Should().Contain(n => n.StartsWith("1 question(s) had no answer", StringComparison.Ordinal) && n.Contains("v1_5", StringComparison.Ordinal));
        var run0 = Expected.GetProperty("full").GetProperty("grades").EnumerateObject()
            .Where(p => p.Name != "v1_5").Sum(p => p.Value.GetProperty("score")[0].GetDouble());
        result.Metrics["unrounded"]!["capabilities"]!["total"]!.GetValue<double>().Should().BeApproximately(run0 / 12 * 100, Tolerance);
    }

    [Fact]
    public async Task The_converted_results_json_scores_like_the_jsonl()
    {
        var results = new JsonObject();
        foreach (var answer in AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl")).Answers)
        {
            results[MmVetBenchmark.MmVetId(answer.QuestionId)] = answer.Text;
        }
        var path = Path.Combine(_dir, "model.json");
        await File.WriteAllTextAsync(path, results.ToJsonString());

        var result = await new MmVetBenchmark { Runs = 2 }.ScoreAsync(new BenchmarkScoring(Fixtures, MmVetBenchmark.ReadResults(path), null, new ReplayGrader(Fixtures))).WithTimeout();

        SameTable(result.Metrics["unrounded"]!["capabilities"]!, Expected.GetProperty("full").GetProperty("unrounded").GetProperty("capabilities"));
    }

    [Fact]
    public async Task Through_the_http_client_and_a_fake_server_the_result_is_the_same_and_a_rerun_sends_nothing()
    {
        var replay = new ReplayGrader(Fixtures);
        await using var server = new FakeChatServer(r =>
            FakeChatReply.Answer(replay.CompleteAsync(new ChatRequest([ChatMessage.User(r.LastText)], r.Temperature ?? -1, r.MaxTokens ?? -1)).Result.Text));
        var options = new OpenAiChatOptions { Endpoint = server.BaseUri, Model = MmVetGrader.DefaultModel, ApiKey = "x", CacheFile = Path.Combine(_dir, "grades.jsonl") };
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));
        JsonNode first;
        using (var client = new OpenAiChatClient(options))
        {
            first = (await new MmVetBenchmark { Runs = 2 }.ScoreAsync(new BenchmarkScoring(Fixtures, answers, null, client)).WithTimeout()).Metrics;
        }
        var sent = server.RequestCount;
        using (var client = new OpenAiChatClient(options))
        {
            var again = (await new MmVetBenchmark { Runs = 2 }.ScoreAsync(new BenchmarkScoring(Fixtures, answers, null, client)).WithTimeout()).Metrics;
            JsonNode.DeepEquals(again["unrounded"], first["unrounded"]).Should().BeTrue();
        }

        SameTable(first["unrounded"]!["capabilities"]!, Expected.GetProperty("full").GetProperty("unrounded").GetProperty("capabilities"));
        SameTable(first["capability_integration"]!, Expected.GetProperty("full").GetProperty("capability_integration"));
        sent.Should().Be(Expected.GetProperty("full").GetProperty("calls").GetArrayLength());
        server.RequestCount.Should().Be(sent);
        server.Requests.Should().OnlyContain(r => r.Model == MmVetGrader.DefaultModel && r.MaxTokens == 3);
        // Run 0 is the official request (no seed) but for retries above temperature 0 (seed 0);
        // run 1 carries seed 1 so that it is its own cached draw.
        server.Requests.Where(r => r.Temperature == 0).Select(r => r.Seed).Distinct().Should().BeEquivalentTo(new long?[] { null, 1 });
        server.Requests.Where(r => r.Temperature > 0).Select(r => r.Seed).Distinct().Should().Equal(0L); // the fixture's run 1 never retries above 0
    }

    [Fact]
    public async Task A_nan_grade_makes_the_sums_it_enters_null_with_a_note()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "mm-vet.json"), """
            {"v1_0": {"imagename": "a.png", "capability": ["rec"], "question": "q0", "answer": "a"},
             "v1_1": {"imagename": "b.png", "capability": ["ocr"], "question": "q1", "answer": "b"}}
            """);
        await File.WriteAllTextAsync(Path.Combine(_dir, "answers.jsonl"), "{\"question_id\": 0, \"text\": \"x\"}\n{\"question_id\": 1, \"text\": \"y\"}\n");
        var grader = new FuncGrader(r => r.Messages[0].Text.Contains("\nq0 |", StringComparison.Ordinal) ? "nan" : "0.5");

        var result = await new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(_dir, AnswerFile.Read(Path.Combine(_dir, "answers.jsonl")), null, grader)).WithTimeout();

        var caps = result.Metrics["capabilities"]!;
        caps["rec"].Should().BeNull();
        caps["total"].Should().BeNull();
        caps["ocr"]!.GetValue<double>().Should().Be(50.0);
        result.Notes.Should().Contain(n => n.Contains("NaN for v1_0", StringComparison.Ordinal));
        result.MetricsJson().Should().Contain("\"total\":null");
    }

    [Fact]
    public async Task Without_a_grader_or_with_an_unknown_variant_scoring_is_refused()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));

        var noJudge = () => new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(Fixtures, answers));
        var badVariant = () => new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(Fixtures, answers, "vlmevalkit", new QueueGrader([])));

        (await noJudge.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("grader");
        (await badVariant.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("vlmevalkit").And.Contain("bard_set").And.Contain("lmms-eval");
    }

    [Fact]
    public async Task A_grader_failure_names_the_question()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixtures, "answers.jsonl"));
        var grader = new FuncGrader(_ => throw new ChatModelException("http 401 Unauthorized: bad key"));

        var act = () => new MmVetBenchmark { GradingParallelism = 1 }.ScoreAsync(new BenchmarkScoring(Fixtures, answers, null, grader));

        (await act.Should().ThrowAsync<ChatModelException>()).Which.Message.Should().Contain("MM-Vet question v1_0").And.Contain("bad key");
    }

    [Theory]
    [InlineData("""{"v1_0": {"imagename": "a.png", "capability": "rec", "question": "q", "answer": "a"}}""", "v1_0: no \"capability\" array")]
    [InlineData("""{"v1_0": {"imagename": "a.png", "capability": ["rec"], "answer": "a"}}""", "v1_0: no \"question\" string")]
    [InlineData("""["v1_0"]""", "found a JSON Array")]
    [InlineData("""{"v1_0": """, "not JSON")]
    public void A_malformed_metadata_file_is_a_format_error_naming_file_and_problem(string json, string problem)
    {
        var path = Path.Combine(_dir, "mm-vet.json");
        File.WriteAllText(path, json);

        var act = () => MmVetBenchmark.ReadMetadata(_dir);

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should()
            .StartWith(path + ": expected MM-Vet metadata").And.Contain(problem);
    }

    [Fact]
    public void Questions_come_from_llava_question_file_or_else_the_metadata_and_the_registry_knows_mmvet()
    {
        var fromMetadata = new MmVetBenchmark().ReadQuestions(Fixtures).ToList();
        File.Copy(Path.Combine(Fixtures, "mm-vet.json"), Path.Combine(_dir, "mm-vet.json"));
        File.WriteAllText(Path.Combine(_dir, MmVetBenchmark.QuestionFileName), "{\"question_id\": 0, \"image\": \"v1_0.png\", \"text\": \"Can you explain this meme?\"}\n");
        var fromLlava = new MmVetBenchmark().ReadQuestions(_dir).ToList();

        fromMetadata.Should().HaveCount(12);
        fromMetadata[0].Should().Be(new BenchmarkQuestion("v1_0", "Can you explain this meme?", Path.Combine(Fixtures, "images", "v1_0.png"), 1024));
        fromLlava.Should().ContainSingle().Which.Id.Should().Be("0");
        BenchmarkRegistry.Get("MMVET").Should().BeOfType<MmVetBenchmark>();
        MmVetBenchmark.CombinationName(["math", "spat", "ocr", "zeta", "alpha"]).Should().Be("ocr_spat_math_alpha_zeta");
        MmVetBenchmark.MmVetId("17").Should().Be("v1_17");
        MmVetBenchmark.MmVetId("v1_17").Should().Be("v1_17");
    }

    [Theory]
    // Values from round(np.float64(x), d) under NumPy 1.24; Python's round(x, d) gives 0.1, 0.2, 2.67, 48.1, 0.3, 1.0.
    [InlineData(0.15, 1, 0.2)]
    [InlineData(0.25, 1, 0.2)]
    [InlineData(2.675, 2, 2.68)]
    [InlineData(48.125, 1, 48.1)]
    [InlineData(0.35, 1, 0.4)]
    [InlineData(1.005, 2, 1.0)]
    public void Numpy_round_is_scale_round_half_even_scale_back(double x, int digits, double expected)
    {
        MmVetNumPy.Round(x, digits).Should().Be(expected);
    }

    private static void SameGrades(IReadOnlyDictionary<string, IReadOnlyList<MmVetGrade>> grades, JsonElement expected)
    {
        grades.Keys.Should().BeEquivalentTo(expected.EnumerateObject().Select(p => p.Name));
        foreach (var p in expected.EnumerateObject())
        {
            var scores = p.Value.GetProperty("score").EnumerateArray().Select(s => s.GetDouble()).ToList();
            var contents = p.Value.GetProperty("content").EnumerateArray().Select(s => s.GetString()).ToList();
            grades[p.Name].Select(g => g.Score).Should().Equal(scores, (a, b) => Math.Abs(a - b) <= Tolerance, p.Name);
            grades[p.Name].Select(g => g.Content).Should().Equal(contents, p.Name);
        }
    }

    private static void SameCalls(ReplayGrader grader, JsonElement calls)
    {
        foreach (var group in calls.EnumerateArray().GroupBy(c => c.GetProperty("id").GetString()!))
        {
            grader.CallsFor(group.Key).Should().Equal(group.Select(c => (
                c.GetProperty("temperature").GetDouble(),
                c.GetProperty("max_tokens").GetInt32(),
                c.GetProperty("prompt_sha256").GetString()!)), group.Key);
        }
    }

    private static void SameTable(JsonNode actual, JsonElement expected)
    {
        var table = actual.AsObject();
        table.Select(p => p.Key).Should().BeEquivalentTo(expected.EnumerateObject().Select(p => p.Name));
        foreach (var p in expected.EnumerateObject())
        {
            if (p.Name == "runs")
            {
                table["runs"]!.AsArray().Select(v => v!.GetValue<double>()).Should()
                    .Equal(p.Value.EnumerateArray().Select(v => v.GetDouble()), (a, b) => Math.Abs(a - b) <= Tolerance);
            }
            else
            {
                table[p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
            }
        }
    }

    private static JsonElement LoadJson(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return document.RootElement.Clone();
    }

    /// <summary>Replays replies.json: per question (found by the prompt's last line), replies in call order.</summary>
    private sealed class ReplayGrader : IChatModel
    {
        private readonly Dictionary<string, string> _lines = [];
        private readonly Dictionary<string, Queue<string>> _queues = [];
        private readonly ConcurrentDictionary<string, ConcurrentQueue<(double, int, string)>> _calls = new();
        private readonly Lock _lock = new();

        public ReplayGrader(string fixtures)
        {
            var answers = AnswerFile.Read(Path.Combine(fixtures, "answers.jsonl"));
            foreach (var item in MmVetBenchmark.ReadMetadata(fixtures))
            {
                var prediction = answers.ById.TryGetValue(item.Id[3..], out var a) ? a.Text : "\u0000none";
                _lines[item.Id] = MmVetGrader.Question(item.Question, item.Answer, prediction)[MmVetGrader.Prompt.Length..];
            }
            foreach (var p in Replies.EnumerateObject())
            {
                _queues[p.Name] = new Queue<string>(p.Value.EnumerateArray().Select(v => v.GetString()!));
            }
        }

        public string ModelName => "replay";

        public IReadOnlyList<(double Temperature, int MaxTokens, string Sha256)> CallsFor(string id) =>
            _calls.TryGetValue(id, out var q) ? [.. q] : [];

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            var text = request.Messages[^1].Text;
            var basis = text.EndsWith(MmVetGrader.RetrySuffix, StringComparison.Ordinal) ? text[..^MmVetGrader.RetrySuffix.Length] : text;
            var id = _lines.Single(p => basis.EndsWith(p.Value, StringComparison.Ordinal)).Key;
            string reply;
            lock (_lock)
            {
                reply = _queues[id].Count > 0 ? _queues[id].Dequeue() : throw new InvalidOperationException($"no reply left for {id}");
            }
            var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
            _calls.GetOrAdd(id, _ => new ConcurrentQueue<(double, int, string)>()).Enqueue((request.Temperature, request.MaxTokens, sha));
            return Task.FromResult(new ChatReply(reply));
        }
    }

    private sealed class QueueGrader(IEnumerable<string> replies) : IChatModel
    {
        private readonly Queue<string> _replies = new(replies);

        public List<ChatRequest> Requests { get; } = [];

        public string ModelName => "queue";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            Requests.Add(request);
            return Task.FromResult(new ChatReply(_replies.Dequeue()));
        }
    }

    private sealed class FuncGrader(Func<ChatRequest, string> reply) : IChatModel
    {
        public string ModelName => "func";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default) =>
            Task.FromResult(new ChatReply(reply(request)));
    }
}
