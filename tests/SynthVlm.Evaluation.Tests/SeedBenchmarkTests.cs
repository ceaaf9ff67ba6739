using System.Text.Json;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>SEED-Bench against LLaVA's convert_seed_for_submission.py (Fixtures/seed, make_reference.py).</summary>
public sealed class SeedBenchmarkTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-seed-");
    private readonly string _fixture = LlavaFixtures.Folder("seed");

    [Fact]
    public async Task Accuracies_equal_convert_seed_for_submission_py_on_the_edge_case_answers()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        LlavaFixtures.ShouldMatch(result.Metrics, LlavaFixtures.Expected("seed"));
        result.Problems.Select(p => p.Line).Should().Equal(5, 10);
        result.Questions.Should().Be(17);
        result.Scored.Should().Be(14, "questions 3 (answered with the string id \"3\"), 9 and v3 have no answer");
    }

    [Fact]
    public async Task Answers_made_in_process_without_their_json_match_by_id_text()
    {
        var answers = AnswerFile.FromAnswers("a.jsonl", [new ModelAnswer("1", "A", 1, default), new ModelAnswer("v1", "A", 2, default)]);

        var result = await new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        result.Metrics["image"]!.GetValue<double>().Should().BeApproximately(100.0 / 13, 1e-12);
        result.Metrics["video"]!.GetValue<double>().Should().Be(25.0);
    }

    [Fact]
    public async Task A_question_type_answered_and_never_right_scores_zero()
    {
        var answers = AnswerFile.FromAnswers("a.jsonl", [new ModelAnswer("v1", "B", 1, default), new ModelAnswer("v2", "A", 2, default)]);

        var result = await new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        result.Metrics["question_types"]!["Action Recognition"]!.GetValue<double>().Should().Be(0.0);
    }

    [Fact]
    public void Questions_carry_llava_s_prompt_and_image()
    {
        var questions = new SeedBenchmark().ReadQuestions(_fixture).ToList();

        questions.Should().HaveCount(17);
        questions[0].Id.Should().Be("1");
        questions[0].Prompt.Should().EndWith("D. four\nAnswer with the option's letter from the given choices directly.");
        questions[0].ImagePath.Should().Be(Path.Combine(_fixture, "SEED-Bench-image", "1.jpg"));
    }

    [Fact]
    public async Task A_missing_annotation_file_is_named()
    {
        var act = () => new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(_dir.FullName, SeedBenchmark.AnnotationFile)).And.Contain("does not exist").And.NotContain("\n");
    }

    [Fact]
    public async Task An_annotation_file_in_the_wrong_format_is_named_with_the_format()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, SeedBenchmark.AnnotationFile), JsonSerializer.Serialize(new { questions = new[] { new { question_id = "1" } } }));

        var act = () => new SeedBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(_dir.FullName, SeedBenchmark.AnnotationFile)).And.Contain("expected a JSON object {\"question_type\"").And.NotContain("\n");
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
