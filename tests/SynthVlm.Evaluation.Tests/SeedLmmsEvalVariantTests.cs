using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>SEED-Bench's "lmms-eval" variant against lmms-eval's SEED-Bench task code (Fixtures/seed, make_reference_lmms_eval.py).</summary>
public sealed class SeedLmmsEvalVariantTests
{
    private readonly string _fixture = LlavaFixtures.Folder("seed");

    private JsonObject Expected => JsonNode.Parse(File.ReadAllText(Path.Combine(_fixture, "expected_lmms_eval.json")))!.AsObject();

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_seed_aggregation_result()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, SeedBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, Expected["metrics"]);
        result.Variant.Should().Be("lmms-eval");
        result.Notes.Should().ContainSingle(n => n.Contains("empty text", StringComparison.Ordinal));
    }

    [Fact]
    public void Answers_are_judged_as_seed_process_result_judges_them()
    {
        var cases = Expected["cases"]!.AsArray().Select(c => c!.AsArray()).ToList();
        cases.Should().NotBeEmpty();
        foreach (var c in cases)
        {
            SeedBenchmark.IsRightLmmsEval(c[0]!.GetValue<string>(), c[1]!.GetValue<string>())
                .Should().Be(c[2]!.GetValue<bool>(), $"{c[0]!.ToJsonString()} against {c[1]!.ToJsonString()}");
        }
    }

    [Fact]
    public async Task An_unknown_variant_is_refused_and_the_variant_is_listed()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var unknown = () => new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "LMMS-EVAL"));

        (await unknown.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("LMMS-EVAL").And.Contain("known: lmms-eval");
        new SeedBenchmark().Variants.Should().Equal("lmms-eval");
    }
}
