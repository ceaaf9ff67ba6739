using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>ScienceQA's "lmms-eval" variant against lmms-eval's ScienceQA task code (Fixtures/scienceqa, make_reference_lmms_eval.py).</summary>
public sealed class ScienceQaLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("scienceqa");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_sqa_process_results_averaged()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, ScienceQaBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected["metrics"]);
        result.Variant.Should().Be("lmms-eval");
        result.Notes.Should().ContainSingle(n => n.Contains("empty text", StringComparison.Ordinal));
    }

    [Fact]
    public void Answers_are_judged_as_sqa_process_results_judges_them()
    {
        var cases = Expected["cases"]!.AsArray().Select(c => c!.AsArray()).ToList();
        cases.Should().NotBeEmpty();
        foreach (var c in cases)
        {
            var text = c[0]!.GetValue<string>();
            ScienceQaBenchmark.IsRightLmmsEval(text, c[1]!.GetValue<string>()[0]).Should().Be(c[2]!.GetValue<bool>(), $"{c[0]!.ToJsonString()} for {c[1]}");
        }
    }

    [Fact]
    public async Task An_unknown_variant_is_refused_and_the_variant_is_listed()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var unknown = () => new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "lmms_eval"));

        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("lmms_eval").And.Contain("known: lmms-eval");
        new ScienceQaBenchmark().Variants.Should().Equal("lmms-eval");
    }
}
