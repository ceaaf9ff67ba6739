using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>TextVQA's "lmms-eval" variant against lmms-eval's textvqa_val task code (Fixtures/textvqa, make_reference_lmms_eval.py).</summary>
public sealed class TextVqaLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("textvqa");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_textvqa_process_results_averaged()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new TextVqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, TextVqaBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected["metrics"]);
        result.Variant.Should().Be("lmms-eval");
        result.Problems.Select(p => p.Line).Should().Equal((await new TextVqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers))).Problems.Select(p => p.Line));
    }

    [Fact]
    public void Each_question_scores_as_textvqa_process_results_scores_it()
    {
        var cases = Expected["cases"]!.AsArray().Select(c => c!.AsArray()).ToList();
        cases.Should().NotBeEmpty();
        foreach (var c in cases)
        {
            var humans = c[1]!.AsArray().Select(h => h!.GetValue<string>()).ToList();
            TextVqaBenchmark.AnswerScoreLmmsEval(humans, c[0]!.GetValue<string>())
                .Should().BeApproximately(double.Parse(c[2]!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture), LlavaFixtures.Tolerance, c[0]!.ToJsonString());
        }
    }

    [Fact]
    public async Task An_unknown_variant_is_refused_and_the_variant_is_listed()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var unknown = () => new TextVqaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "lmms"));

        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'lmms'").And.Contain("known: lmms-eval");
        new TextVqaBenchmark().Variants.Should().Equal("lmms-eval");
    }
}
