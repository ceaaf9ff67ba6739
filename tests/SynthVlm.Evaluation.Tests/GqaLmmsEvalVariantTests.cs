using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>GQA's "lmms-eval" variant against lmms-eval's exact_match metric as its GQA task calls it (Fixtures/gqa, make_reference_lmms_eval.py).</summary>
public sealed class GqaLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("gqa");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Theory]
    [InlineData("answers.jsonl", "metrics")]
    [InlineData("answers_lmms_eval.jsonl", "metrics_more")]
    public async Task The_lmms_eval_variant_equals_lmms_eval_exact_match_averaged(string answersFile, string key)
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, answersFile));

        var result = await new GqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, GqaBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected[key]);
        result.Variant.Should().Be("lmms-eval");
    }

    [Fact]
    public async Task A_missing_answer_is_the_empty_text_and_a_malformed_line_is_reported()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers_lmms_eval.jsonl"));

        var result = await new GqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, GqaBenchmark.LmmsEvalVariant));

        result.Problems.Should().ContainSingle().Which.Line.Should().Be(18);
        result.Notes.Should().ContainSingle(n => n.StartsWith("1 of 17", StringComparison.Ordinal));
        result.Scored.Should().Be(16);
    }

    [Fact]
    public void Texts_are_compared_as_exact_match_hf_evaluate_compares_them()
    {
        var cases = Expected["cases"]!.AsArray().Select(c => c!.AsArray()).ToList();
        cases.Should().NotBeEmpty();
        foreach (var c in cases)
        {
            var (prediction, reference) = (c[0]!.GetValue<string>(), c[1]!.GetValue<string>());
            (GqaBenchmark.NormalizeLmmsEval(PythonText.Strip(prediction)) == GqaBenchmark.NormalizeLmmsEval(reference))
                .Should().Be(c[2]!.GetValue<bool>(), $"{c[0]!.ToJsonString()} against {c[1]!.ToJsonString()}");
        }
    }

    [Fact]
    public async Task An_unknown_variant_is_refused_and_the_variant_is_listed()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var unknown = () => new GqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "vlmevalkit"));

        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("vlmevalkit").And.Contain("known: lmms-eval");
        new GqaBenchmark().Variants.Should().Equal("lmms-eval");
    }
}
