using System.Text.Json;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// VizWiz against the official code: Fixtures/vizwiz/expected.json comes from make_reference.py, which runs
/// LLaVA's convert_vizwiz_for_submission.py and the VizWiz challenge's vqaEval.py on the committed inputs.
/// Tolerance 1e-9: same operations in the same order; 1e-9 absorbs the JSON round trip.
/// </summary>
public sealed class VizWizBenchmarkTests : IDisposable
{
    private const double Tolerance = 1e-9;
    private static readonly string Fixture = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "vizwiz");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-vizwiz-");
    private readonly JsonElement _expected = ReadExpected();

    [Fact]
    public void Overall_and_per_answer_type_equal_the_official_evaluation()
    {
        var result = VizWizBenchmark.Score(Fixture, Answers());
        var metrics = result.Metrics.Metrics;
        var accuracy = _expected.GetProperty("accuracy");

        metrics["overall"]!.GetValue<double>().Should().BeApproximately(accuracy.GetProperty("overall").GetDouble(), Tolerance);
        var theirs = accuracy.GetProperty("perAnswerType").EnumerateObject().ToList();
        metrics["perAnswerType"]!.AsObject().Select(p => p.Key).Should().BeEquivalentTo(theirs.Select(p => p.Name));
        foreach (var p in theirs)
        {
            metrics["perAnswerType"]![p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
        }
        var perImage = _expected.GetProperty("evalQA").EnumerateObject().ToList();
        result.PerImage.Should().HaveCount(perImage.Count);
        foreach (var p in perImage)
        {
            result.PerImage[p.Name].Should().BeApproximately(p.Value.GetDouble(), Tolerance, p.Name);
        }
    }

    [Fact]
    public async Task Malformed_lines_unknown_questions_and_missing_answers_are_reported_and_the_rest_scored()
    {
        var metrics = await new VizWizBenchmark().ScoreAsync(new BenchmarkScoring(Fixture, Answers()));

        var malformed = _expected.GetProperty("problem_lines").EnumerateArray().Select(e => e.GetInt32()).ToList();
        metrics.Problems.Take(malformed.Count).Select(p => p.Line).Should().Equal(malformed);
        metrics.Problems.Skip(malformed.Count).Should().HaveCount(4, "three test-split answers and question 555 are not val questions")
            .And.OnlyContain(p => p.Problem.Contains("not in the question file", StringComparison.Ordinal));
        var filled = _expected.GetProperty("filled").GetArrayLength();
        metrics.Scored.Should().Be(14 - filled);
        metrics.Notes.Should().Contain(n => n.StartsWith($"{filled} of 14 annotated images had no answer", StringComparison.Ordinal));
    }

    [Fact]
    public void The_submission_file_is_byte_for_byte_what_the_llava_converter_writes()
    {
        var output = Path.Combine(_dir.FullName, "upload.json");
        VizWizBenchmark.WriteSubmission(Fixture, Answers(), output);

        File.ReadAllBytes(output).Should().Equal(File.ReadAllBytes(Path.Combine(Fixture, "submission.json")));
    }

    [Fact]
    public void The_submission_refuses_unanswered_questions_as_the_converter_does()
    {
        var answers = Path.Combine(_dir.FullName, "answers.jsonl");
        File.WriteAllText(answers, """{"question_id": 1, "text": "soup"}""");
        var act = () => VizWizBenchmark.WriteSubmission(Fixture, AnswerFile.Read(answers), Path.Combine(_dir.FullName, "upload.json"));

        act.Should().Throw<ArgumentException>().WithMessage("*2 of 3 questions in llava_test.jsonl have no answer (e.g. 2, 3)*");
        File.Exists(Path.Combine(_dir.FullName, "upload.json")).Should().BeFalse();
    }

    [Fact]
    public void Single_answers_normalise_as_the_official_processor_does_and_its_contraction_table_is_the_official_one()
    {
        foreach (var c in _expected.GetProperty("normalisation").EnumerateArray())
        {
            var punctuated = VqaAnswerNormalizer.VizWiz.ProcessPunctuation(c[0].GetString()!);
            punctuated.Should().Be(c[1].GetString(), $"processPunctuation of \"{c[0].GetString()}\"");
            VqaAnswerNormalizer.VizWiz.ProcessDigitArticle(punctuated).Should().Be(c[2].GetString(), $"processDigitArticle of \"{c[0].GetString()}\"");
        }
        var official = _expected.GetProperty("contractions").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        VqaAnswerNormalizer.VizWiz.Contractions.Should().BeEquivalentTo(official);
    }

    [Fact]
    public void Questions_are_llavas_test_prompts_with_their_images()
    {
        var questions = new VizWizBenchmark().ReadQuestions(Fixture).ToList();

        questions.Should().HaveCount(3);
        questions[0].Prompt.Should().EndWith("respond with 'Unanswerable'.\nAnswer the question using a single word or phrase.");
        questions[0].ImagePath.Should().Be(Path.Combine(Fixture, "test", "VizWiz_test_00000000.jpg"));
        BenchmarkRegistry.Get("vizwiz").Should().BeOfType<VizWizBenchmark>();
    }

    [Fact]
    public void A_missing_annotation_file_names_the_file_and_the_format()
    {
        var act = () => VizWizBenchmark.Score(_dir.FullName, Answers());

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should()
            .StartWith($"{Path.Combine(_dir.FullName, VizWizBenchmark.AnnotationFile)}: expected the VizWiz annotations JSON").And.Contain("does not exist");
    }

    [Fact]
    public void An_annotation_file_in_the_wrong_format_names_the_file_and_the_format()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, VizWizBenchmark.AnnotationFile), """{"annotations": []}""");
        var act = () => VizWizBenchmark.Score(_dir.FullName, Answers());

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should()
            .StartWith($"{Path.Combine(_dir.FullName, VizWizBenchmark.AnnotationFile)}: expected the VizWiz annotations JSON").And.Contain("not a list").And.NotContain("\n");
    }

    private static AnswerFile Answers() => AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl"));

    private static JsonElement ReadExpected()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "expected.json")));
        return document.RootElement.Clone();
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
