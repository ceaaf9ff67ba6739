using System.Globalization;
using System.Text.Json;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// TextVQA against the official code: Fixtures/textvqa/expected.json comes from make_reference.py,
/// which runs LLaVA's eval_textvqa.py with m4c_evaluator's TextVQAAccuracyEvaluator on the committed
/// inputs. Tolerance 1e-9: same operations in the same order; 1e-9 absorbs the JSON round trip.
/// </summary>
public sealed class TextVqaBenchmarkTests : IDisposable
{
    private const double Tolerance = 1e-9;
    private static readonly string Fixture = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "textvqa");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-textvqa-");
    private readonly JsonElement _expected = ReadExpected();

    [Fact]
    public void Accuracy_and_each_answers_score_equal_the_official_evaluator()
    {
        var result = TextVqaBenchmark.Score(Fixture, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));

        result.Accuracy.Should().BeApproximately(_expected.GetProperty("accuracy_fraction").GetDouble(), Tolerance);
        result.Scores.Select(s => s.Line).Should().Equal(_expected.GetProperty("line_scores").EnumerateArray().Select(e => e[0].GetInt32()));
        foreach (var (ours, theirs) in result.Scores.Zip(_expected.GetProperty("line_scores").EnumerateArray()))
        {
            ours.Score.Should().BeApproximately(theirs[1].GetDouble(), Tolerance, $"line {ours.Line}");
        }
        var printed = double.Parse(_expected.GetProperty("accuracy_printed").GetString()!, CultureInfo.InvariantCulture);
        result.Metrics.Metrics["accuracy"]!.GetValue<double>().Should().Be(printed);
        result.Metrics.Metrics["samples"]!.GetValue<int>().Should().Be(_expected.GetProperty("samples").GetInt32());
    }

    [Fact]
    public async Task Lines_the_official_script_cannot_use_are_reported_and_the_rest_scored()
    {
        var metrics = await new TextVqaBenchmark().ScoreAsync(new BenchmarkScoring(Fixture, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl"))));

        metrics.Problems.Select(p => p.Line).Order().Should().Equal(_expected.GetProperty("problem_lines").EnumerateArray().Select(e => e.GetInt32()));
        metrics.Problems.Should().Contain(p => p.Problem.Contains("no \"prompt\"", StringComparison.Ordinal))
            .And.Contain(p => p.Problem.Contains("img99", StringComparison.Ordinal))
            .And.Contain(p => p.Problem.Contains("neither", StringComparison.Ordinal));
        metrics.Scored.Should().Be(14);
        metrics.Questions.Should().Be(11);
        metrics.Notes.Should().BeEmpty("every annotated question got at least one answer");
    }

    [Fact]
    public void Prompts_give_the_question_the_official_prompt_processor_gives()
    {
        foreach (var c in _expected.GetProperty("prompt_questions").EnumerateArray())
        {
            TextVqaBenchmark.PromptQuestion(c[0].GetString()!).Should().Be(c[1].GetString(), c[0].GetString());
        }
        TextVqaBenchmark.PromptQuestion("one line").Should().BeNull();
        TextVqaBenchmark.PromptQuestion("OCR tokens: no question here").Should().BeNull();
    }

    [Fact]
    public void Unanswered_questions_are_left_out_of_the_mean_and_said_so()
    {
        var answers = Path.Combine(_dir.FullName, "answers.jsonl");
        File.WriteAllText(answers, """{"question_id": "img10", "prompt": "what number is the player?\nAnswer the question using a single word or phrase.", "text": "23"}""");

        var result = TextVqaBenchmark.Score(Fixture, AnswerFile.Read(answers));

        result.Accuracy.Should().Be(1.0);
        result.Metrics.Notes.Should().ContainSingle().Which.Should().StartWith("10 of 11 annotated questions have no scored answer");
    }

    [Fact]
    public void Questions_carry_their_prompt_for_the_answers_file()
    {
        var questions = new TextVqaBenchmark().ReadQuestions(Fixture).ToList();

        questions.Should().HaveCount(11);
        questions[0].Id.Should().Be("img01");
        questions[0].Prompt.Should().Be("how many dogs are there?\nReference OCR token: 2, dogs\nAnswer the question using a single word or phrase.");
        questions[0].AnswerFields.Should().ContainKey("prompt").WhoseValue.Should().Be(questions[0].Prompt);
        questions[0].ImagePath.Should().Be(Path.Combine(Fixture, "train_images", "img01.jpg"));
        BenchmarkRegistry.Get("textvqa").Should().BeOfType<TextVqaBenchmark>();
    }

    [Fact]
    public void A_missing_annotation_file_names_the_file_and_the_format()
    {
        var act = () => TextVqaBenchmark.Score(_dir.FullName, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should()
            .StartWith($"{Path.Combine(_dir.FullName, TextVqaBenchmark.AnnotationFile)}: expected the TextVQA annotations JSON").And.Contain("does not exist");
    }

    [Fact]
    public void An_annotation_file_in_the_wrong_format_names_the_file_and_the_format()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, TextVqaBenchmark.AnnotationFile), """{"data": [{"image_id": "a", "question": "q", "answers": [1, 2]}]}""");
        var act = () => TextVqaBenchmark.Score(_dir.FullName, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should()
            .StartWith($"{Path.Combine(_dir.FullName, TextVqaBenchmark.AnnotationFile)}: expected the TextVQA annotations JSON").And.Contain("entry 1").And.NotContain("\n");
    }

    [Fact]
    public void An_annotation_without_ten_answers_is_a_format_error()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, TextVqaBenchmark.AnnotationFile), """{"data": [{"image_id": "a", "question": "Q?", "answers": ["x", "y"]}]}""");
        var answers = Path.Combine(_dir.FullName, "answers.jsonl");
        File.WriteAllText(answers, """{"question_id": "a", "prompt": "q?\nAnswer.", "text": "x"}""");
        var act = () => TextVqaBenchmark.Score(_dir.FullName, AnswerFile.Read(answers));

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should().Contain("has 2 answers, not 10");
    }

    private static JsonElement ReadExpected()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "expected.json")));
        return document.RootElement.Clone();
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
