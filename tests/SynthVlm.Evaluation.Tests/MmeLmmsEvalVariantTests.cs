using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>MME's "lmms-eval" variant against lmms-eval's MME task code (Fixtures/mme, make_reference_lmms_eval.py).</summary>
public sealed class MmeLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("mme");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_mme_utils()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, MmeBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected["metrics"]);
        result.Variant.Should().Be("lmms-eval");
        result.Problems.Should().HaveCount(2);
        result.Scored.Should().Be(36);
        result.Notes.Should().BeEmpty();
    }

    [Fact]
    public void Answers_are_read_as_lmms_eval_parse_pred_ans_reads_them()
    {
        foreach (var pair in Expected["parsing"]!.AsArray().Select(p => p!.AsArray()))
        {
            MmeBenchmark.ParseAnswerLmmsEval(pair[0]!.GetValue<string>()).Should().Be(pair[1]!.GetValue<string>(), pair[0]!.ToJsonString());
        }
    }

    [Fact]
    public async Task A_missing_answer_is_the_empty_text_and_an_unknown_variant_is_refused()
    {
        var all = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));
        var dropped = all.All.First(a => a.QuestionId == "celebrity/0500.png").Line;
        var answers = AnswerFile.FromAnswers(all.Path, all.All.Where(a => a.Line != dropped));

        var result = await new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, MmeBenchmark.LmmsEvalVariant));

        result.Metrics["celebrity"]!.GetValue<double>().Should().Be(50.0);
        result.Scored.Should().Be(35);
        result.Notes.Should().ContainSingle(n => n.Contains("celebrity", StringComparison.Ordinal) && n.Contains("no answer", StringComparison.Ordinal));
        new MmeBenchmark().Variants.Should().Equal("lmms-eval");
        var unknown = () => new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "vlmevalkit"));
        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("vlmevalkit").And.Contain("lmms-eval");
    }
}
