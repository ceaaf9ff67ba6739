using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>MME against LLaVA's convert_answer_to_mme.py + MME's calculation.py (Fixtures/mme, make_reference.py).</summary>
public sealed class MmeBenchmarkTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-mme-");
    private readonly string _fixture = LlavaFixtures.Folder("mme");

    [Fact]
    public async Task Scores_equal_calculation_py_on_the_edge_case_answers()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        LlavaFixtures.ShouldMatch(result.Metrics, LlavaFixtures.Expected("mme")["metrics"]);
        result.Problems.Should().HaveCount(2);
        result.Problems.Should().Contain(p => p.Problem.StartsWith("not JSON", StringComparison.Ordinal));
        result.Problems.Should().Contain(p => p.Problem.Contains("no \"prompt\"", StringComparison.Ordinal));
        result.Notes.Should().BeEmpty();
        result.Questions.Should().Be(36);
        result.Scored.Should().Be(36);
    }

    [Theory]
    [InlineData("Yes", "yes")]
    [InlineData("yes, there is", "yes")]
    [InlineData("No there isn't", "no")]
    [InlineData("", "other")]
    [InlineData("Not sure", "no")]
    [InlineData("None", "no")]
    [InlineData("I think yes", "other")]
    [InlineData(" yes", "yes")]
    [InlineData("  yes", "other")]
    [InlineData("\U0001F600no", "no")]
    [InlineData("Yes\nNo", "yes")]
    public void An_answer_is_read_from_its_first_four_characters(string text, string expected) =>
        MmeBenchmark.ParseAnswer(text).Should().Be(expected);

    [Fact]
    public void Answers_are_read_as_calculation_py_reads_them()
    {
        var parsing = LlavaFixtures.Expected("mme")["parsing"]!.AsArray();

        parsing.Should().HaveCountGreaterThan(40);
        foreach (var pair in parsing.Select(p => p!.AsArray()))
        {
            MmeBenchmark.ParseAnswer(pair[0]!.GetValue<string>()).Should().Be(pair[1]!.GetValue<string>(), pair[0]!.ToJsonString());
        }
    }

    [Fact]
    public async Task A_missing_answer_counts_as_wrong_with_a_note()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));
        var fewer = AnswerFile.FromAnswers("fewer.jsonl", answers.All.Where(a => a.Line != 1));

        var result = await new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, fewer));

        result.Notes.Should().ContainSingle().Which.Should().StartWith("subtask existence: 5 answers for 6 questions");
        result.Metrics["acc"]!["existence"]!.GetValue<double>().Should().BeApproximately(2.0 / 6, 1e-12);
        result.Metrics["acc_plus"]!["existence"]!.GetValue<double>().Should().Be(0, "the first image lost its right answer");
    }

    [Fact]
    public void Questions_ask_for_the_prompt_the_scorer_matches()
    {
        var questions = new MmeBenchmark().ReadQuestions(_fixture).ToList();

        questions.Should().HaveCount(36);
        questions[0].Id.Should().Be("existence/0000.png");
        questions[0].Prompt.Should().Be("Is there a thing number 0 in existence?\nAnswer the question using a single word or phrase.");
        questions[0].AnswerFields!["prompt"].Should().Be(questions[0].Prompt);
        questions[0].ImagePath.Should().Be(Path.Combine(_fixture, MmeBenchmark.ReleaseFolder, "existence", "0000.png"));
    }

    [Fact]
    public async Task A_missing_release_folder_is_named()
    {
        File.Copy(Path.Combine(_fixture, MmeBenchmark.QuestionFile), Path.Combine(_dir.FullName, MmeBenchmark.QuestionFile));

        var act = () => new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(_dir.FullName, MmeBenchmark.ReleaseFolder)).And.Contain("does not exist").And.NotContain("\n");
    }

    [Fact]
    public async Task A_ground_truth_file_in_the_wrong_format_is_named_with_the_format()
    {
        var existence = Path.Combine(_dir.FullName, MmeBenchmark.ReleaseFolder, "existence");
        Directory.CreateDirectory(existence);
        File.WriteAllText(Path.Combine(existence, "0000.txt"), "Is there a dog? Please answer yes or no.,Yes\n");

        var act = () => new MmeBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(existence, "0000.txt")).And.Contain("expected lines \"question<TAB>Yes|No\"").And.Contain("line 1").And.NotContain("\n");
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
