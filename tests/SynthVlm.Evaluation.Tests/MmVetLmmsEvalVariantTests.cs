using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// MM-Vet's "lmms-eval" variant against lmms-eval's MM-Vet task code: Fixtures/mmvet/make_reference_lmms_eval.py ran
/// lmms-eval's mmvet_process_results and mmvet_aggregate_results on Fixtures/mmvet/lmms_eval with the grader replies of
/// replies.json (garbage, out-of-range values, NaN, empty replies and API failures); a fake grader replays them here.
/// </summary>
public sealed class MmVetLmmsEvalVariantTests
{
    private static readonly string Inputs = Path.Combine(LlavaFixtures.Folder("mmvet"), "lmms_eval");

    private static JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(LlavaFixtures.Folder("mmvet"), "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_mmvet_utils()
    {
        var expected = Expected;
        var grader = new ReplayGrader(expected);
        var answers = AnswerFile.Read(Path.Combine(Inputs, "answers.jsonl"));

        var result = await new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(Inputs, answers, MmVetBenchmark.LmmsEvalVariant, grader)).WithTimeout();

        LlavaFixtures.ShouldMatch(result.Metrics["total"], expected["total"]);
        LlavaFixtures.ShouldMatch(result.Metrics["capabilities"], expected["capabilities"]);
        LlavaFixtures.ShouldMatch(result.Metrics["capability_integration"], expected["capability_integration"]);
        foreach (var (id, score) in expected["scores"]!.AsObject())
        {
            result.Metrics["grades"]![id]!["score"]!.GetValue<double>().Should().Be(score!.GetValue<double>(), id);
        }
        foreach (var (id, temperatures) in expected["temperatures"]!.AsObject())
        {
            grader.Calls[id].Select(c => c.Temperature).Should().Equal(temperatures!.AsArray().Select(t => t!.GetValue<double>()), id);
            grader.Calls[id].Should().OnlyContain(c => c.MaxTokens == MmVetLmmsEvalGrader.MaxTokens && (c.Temperature > 0) == (c.Seed != null), id);
        }
        grader.Calls.Keys.Should().BeEquivalentTo(expected["temperatures"]!.AsObject().Select(p => p.Key));
        grader.Unused.Should().BeEmpty();
        MmVetLmmsEvalGrader.DefaultModel.Should().Be(expected["default_model"]!.GetValue<string>());
        result.Variant.Should().Be("lmms-eval");
        result.Questions.Should().Be(15);
        result.Metrics["grader"]!.GetValue<string>().Should().Be("replay");
        result.Notes.Should().Contain(n => n.StartsWith("1 question(s) had no answer", StringComparison.Ordinal) && n.Contains("v1_14", StringComparison.Ordinal));
        result.Notes.Should().Contain(n => n.Contains("v1_4, v1_7", StringComparison.Ordinal) && n.Contains("no usable score", StringComparison.Ordinal));
    }

    [Fact]
    public void The_prompt_is_lmms_eval_s_text_byte_for_byte()
    {
        var expected = Expected["prompts"]!.AsObject();
        var items = MmVetBenchmark.ReadMetadata(Inputs);
        var answers = AnswerFile.Read(Path.Combine(Inputs, "answers.jsonl"));
        foreach (var item in items)
        {
            var prediction = answers.All.LastOrDefault(a => MmVetBenchmark.MmVetId(a.QuestionId) == item.Id)?.Text ?? string.Empty;
            MmVetLmmsEvalGrader.Question(item.Question, item.Answer, prediction).Should().Be(expected[item.Id]!.GetValue<string>(), item.Id);
        }
        MmVetLmmsEvalGrader.Prompt.Should().Contain("\ngpt_query_prompt | Ground truth").And.NotBe(MmVetGrader.Prompt);
    }

    [Fact]
    public async Task Out_of_range_replies_forever_give_up_at_the_cap_and_unknown_variants_are_refused()
    {
        var grader = new ConstantGrader("5");

        var grade = await MmVetLmmsEvalGrader.GradeAsync(grader, "q", "a", "p").WithTimeout();

        grade.Should().Be(new MmVetGrade(0.0, "5", MmVetLmmsEvalGrader.MaxCalls, GaveUp: true));
        grader.Temperatures.Should().OnlyContain(t => t == 0.0);
        new MmVetBenchmark().Variants.Should().Equal("bard_set", "lmms-eval");
        var answers = AnswerFile.Read(Path.Combine(Inputs, "answers.jsonl"));
        var unknown = () => new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(Inputs, answers, "vlmevalkit", grader));
        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("vlmevalkit").And.Contain("lmms-eval");
        var noGrader = () => new MmVetBenchmark().ScoreAsync(new BenchmarkScoring(Inputs, answers, MmVetBenchmark.LmmsEvalVariant));
        (await noGrader.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain(MmVetLmmsEvalGrader.DefaultModel);
        var grades = () => new MmVetBenchmark().GradeAsync(new BenchmarkScoring(Inputs, answers, MmVetBenchmark.LmmsEvalVariant, grader));
        (await grades.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("ScoreAsync");
    }

    private sealed class ConstantGrader(string reply) : IChatModel
    {
        public ConcurrentQueue<double> Temperatures { get; } = new();

        public string ModelName => "constant";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            Temperatures.Enqueue(request.Temperature);
            return Task.FromResult(new ChatReply(reply));
        }
    }

    /// <summary>Replays replies.json: the question is found by its full prompt (recorded by the script); "!error" fails the call.</summary>
    private sealed class ReplayGrader : IChatModel
    {
        private readonly Dictionary<string, string> _ids;
        private readonly Dictionary<string, Queue<string>> _replies;
        private readonly Lock _lock = new();

        public ReplayGrader(JsonObject expected)
        {
            _ids = expected["prompts"]!.AsObject().ToDictionary(p => p.Value!.GetValue<string>(), p => p.Key, StringComparer.Ordinal);
            _replies = JsonNode.Parse(File.ReadAllText(Path.Combine(Inputs, "replies.json")))!.AsObject()
                .ToDictionary(p => p.Key, p => new Queue<string>(p.Value!.AsArray().Select(v => v!.GetValue<string>())), StringComparer.Ordinal);
        }

        public string ModelName => "replay";

        public ConcurrentDictionary<string, ConcurrentQueue<ChatRequest>> Calls { get; } = new();

        public IEnumerable<string> Unused => _replies.Where(p => p.Value.Count > 0).Select(p => p.Key);

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            var id = _ids[request.Messages.Single().Text];
            Calls.GetOrAdd(id, _ => new ConcurrentQueue<ChatRequest>()).Enqueue(request);
            string reply;
            lock (_lock)
            {
                reply = _replies[id].Count > 0 ? _replies[id].Dequeue() : throw new InvalidOperationException($"no reply left for {id}");
            }
            return reply == "!error" ? throw new ChatModelException("stub API failure") : Task.FromResult(new ChatReply(reply));
        }
    }
}
