using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>MMLU's "lmms-eval" variant against lmms-eval's exact_match and group aggregation as mmlu_generative uses them (Fixtures/mmlu, make_reference_lmms_eval.py).</summary>
public sealed class MmluLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("mmlu");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_exact_match_per_subject_and_pooled()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new MmluBenchmark().ScoreAsync(new BenchmarkScoring(Path.Combine(_fixture, "data"), answers, MmluBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected["metrics"]);
        result.Variant.Should().Be("lmms-eval");
    }

    [Fact]
    public void An_answer_is_right_only_when_it_is_the_letter()
    {
        var cases = Expected["cases"]!.AsArray().Select(c => c!.AsArray()).ToList();
        cases.Should().NotBeEmpty();
        foreach (var c in cases)
        {
            (MmluBenchmark.ReadLmmsEval(c[0]!.GetValue<string>()) == c[1]!.GetValue<string>()).Should().Be(c[2]!.GetValue<bool>(), c[0]!.ToJsonString());
        }
    }

    [Fact]
    public async Task An_unknown_variant_is_refused()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var unknown = () => new MmluBenchmark().ScoreAsync(new BenchmarkScoring(Path.Combine(_fixture, "data"), answers, "harness"));

        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("'harness'").And.Contain("known: lmms-eval");
        new MmluBenchmark().Variants.Should().Equal("lmms-eval");
    }
}
