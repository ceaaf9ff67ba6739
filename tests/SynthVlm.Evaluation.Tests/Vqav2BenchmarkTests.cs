using System.Text.Json;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Testing;

namespace SynthVlm.Evaluation.Tests;

/// <summary>
/// VQAv2 against the official code: Fixtures/vqav2/expected.json comes from make_reference.py, which runs
/// LLaVA's convert_vqav2_for_submission.py and GT-Vision-Lab/VQA's vqaEval.py (Python 2.7) on the
/// committed inputs. Tolerance 1e-9: the same double operations in the same order give the same bits;
/// 1e-9 only absorbs the JSON round trip.
/// </summary>
public sealed class Vqav2BenchmarkTests : IDisposable
{
    private const double Tolerance = 1e-9;
    private static readonly string Fixture = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Evaluation.Tests", "Fixtures", "vqav2");
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-vqav2-");
    private readonly JsonElement _expected = ReadExpected();

    [Fact]
    public void Overall_per_answer_type_and_per_question_type_equal_the_official_evaluation()
    {
        var result = Vqav2Benchmark.Score(Fixture, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));
        var metrics = result.Metrics.Metrics;
        var accuracy = _expected.GetProperty("accuracy");

        metrics["overall"]!.GetValue<double>().Should().BeApproximately(accuracy.GetProperty("overall").GetDouble(), Tolerance);
        // Answer type "tie" is 100 * 0.125 / 4 = 3.125 exactly: Python 2's round gives 3.13 (Python 3's would give 3.12).
        metrics["perAnswerType"]!["tie"]!.GetValue<double>().Should().Be(3.13);
        foreach (var group in new[] { "perAnswerType", "perQuestionType" })
        {
            var ours = metrics[group]!.AsObject();
            var theirs = accuracy.GetProperty(group).EnumerateObject().ToList();
            ours.Select(p => p.Key).Should().BeEquivalentTo(theirs.Select(p => p.Name), group);
            foreach (var p in theirs)
            {
                ours[p.Name]!.GetValue<double>().Should().BeApproximately(p.Value.GetDouble(), Tolerance, $"{group} {p.Name}");
            }
        }
        foreach (var q in _expected.GetProperty("evalQA").EnumerateObject())
        {
            result.PerQuestion[q.Name].Should().BeApproximately(q.Value.GetDouble(), Tolerance, $"question {q.Name}");
        }
        result.PerQuestion.Should().HaveCount(_expected.GetProperty("evalQA").EnumerateObject().Count());
    }

    [Fact]
    public async Task Malformed_lines_unknown_questions_and_missing_answers_are_reported_and_the_rest_scored()
    {
        var answers = AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl"));
        var metrics = await new Vqav2Benchmark().ScoreAsync(new BenchmarkScoring(Fixture, answers));

        var malformed = _expected.GetProperty("problem_lines").EnumerateArray().Select(e => e.GetInt32()).ToList();
        metrics.Problems.Take(malformed.Count).Select(p => p.Line).Should().Equal(malformed);
        metrics.Problems.Skip(malformed.Count).Select(p => p.Problem).Should().OnlyContain(p => p.Contains("not in v2_mscoco_val2014_annotations.json", StringComparison.Ordinal))
            .And.Contain(p => p.Contains("9999", StringComparison.Ordinal));
        metrics.Questions.Should().Be(28);
        metrics.Scored.Should().Be(27, "question 1010 has no usable answer");
        metrics.Notes.Should().ContainSingle().Which.Should().StartWith("1 of 28 annotated questions had no answer");
    }

    [Fact]
    public void The_submission_file_is_byte_for_byte_what_the_llava_converter_writes()
    {
        var output = Path.Combine(_dir.FullName, "upload", "answers.json");
        var missing = Vqav2Benchmark.WriteSubmission(Fixture, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")), output);

        File.ReadAllBytes(output).Should().Equal(File.ReadAllBytes(Path.Combine(Fixture, "submission.json")));
        missing.Should().Be(1);
    }

    [Fact]
    public void Single_answers_normalise_as_the_official_processors_do()
    {
        foreach (var c in _expected.GetProperty("evalai_normalisation").EnumerateArray())
        {
            VqaAnswerNormalizer.EvalAiAnswer(c[0].GetString()!).Should().Be(c[1].GetString(), $"EvalAI of \"{c[0].GetString()}\"");
        }
        foreach (var c in _expected.GetProperty("vqaEval_normalisation").EnumerateArray())
        {
            var punctuated = VqaAnswerNormalizer.VqaEval.ProcessPunctuation(c[0].GetString()!);
            punctuated.Should().Be(c[1].GetString(), $"processPunctuation of \"{c[0].GetString()}\"");
            VqaAnswerNormalizer.VqaEval.ProcessDigitArticle(punctuated).Should().Be(c[2].GetString(), $"processDigitArticle of \"{c[0].GetString()}\"");
        }
    }

    [Fact]
    public void The_contraction_tables_are_the_official_ones()
    {
        var official = _expected.GetProperty("contractions").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        var evalAi = _expected.GetProperty("evalai_contractions").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        VqaAnswerNormalizer.VqaEval.Contractions.Should().BeEquivalentTo(official);
        VqaAnswerNormalizer.EvalAi.Contractions.Should().BeEquivalentTo(evalAi);
    }

    [Fact]
    public void Rounding_is_python_2s_for_vqaEval_and_python_3s_for_printed_numbers()
    {
        foreach (var p in _expected.GetProperty("py2_round").EnumerateArray())
        {
            PythonText.RoundPython2(p[0].GetDouble(), 2).Should().Be(p[1].GetDouble(), $"Python 2 round({p[0].GetDouble():R}, 2)");
        }
        foreach (var p in _expected.GetProperty("py3_round").EnumerateArray())
        {
            PythonText.RoundPython3(p[0].GetDouble(), 2).Should().Be(p[1].GetDouble(), $"Python 3 round({p[0].GetDouble():R}, 2)");
        }
    }

    [Fact]
    public void Questions_are_llavas_test_dev_prompts_with_their_test2015_images()
    {
        var questions = new Vqav2Benchmark().ReadQuestions(Fixture).ToList();

        questions.Should().HaveCount(5);
        questions[0].Id.Should().Be("1001");
        questions[0].Prompt.Should().Be("How many dogs?\nAnswer the question using a single word or phrase.");
        questions[0].ImagePath.Should().Be(Path.Combine(Fixture, "test2015", "COCO_test2015_000000000100.jpg"));
        BenchmarkRegistry.Get("vqav2").Should().BeOfType<Vqav2Benchmark>();
    }

    [Fact]
    public void A_missing_annotation_file_names_the_file_and_the_format()
    {
        Copy(Vqav2Benchmark.OfficialQuestionFile);
        var act = () => Vqav2Benchmark.Score(_dir.FullName, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));

        act.Should().Throw<BenchmarkFormatException>()
            .Which.Message.Should().Contain(Path.Combine(_dir.FullName, Vqav2Benchmark.AnnotationFile))
            .And.Contain("expected the official VQA annotations JSON").And.Contain("does not exist").And.NotContain("\n");
    }

    [Fact]
    public void An_annotation_file_in_the_wrong_format_names_the_file_and_the_format()
    {
        Copy(Vqav2Benchmark.OfficialQuestionFile);
        File.WriteAllText(Path.Combine(_dir.FullName, Vqav2Benchmark.AnnotationFile), """[{"question_id": 1, "answers": []}]""");
        var act = () => Vqav2Benchmark.Score(_dir.FullName, AnswerFile.Read(Path.Combine(Fixture, "answers.jsonl")));

        act.Should().Throw<BenchmarkFormatException>()
            .Which.Message.Should().StartWith($"{Path.Combine(_dir.FullName, Vqav2Benchmark.AnnotationFile)}: expected the official VQA annotations JSON")
            .And.Contain("no \"annotations\" array").And.NotContain("\n");
    }

    [Fact]
    public void A_missing_question_file_names_the_files_looked_for()
    {
        var act = () => new Vqav2Benchmark().ReadQuestions(_dir.FullName).ToList();

        act.Should().Throw<BenchmarkFormatException>().Which.Message.Should().Contain(Vqav2Benchmark.TestDevQuestionFile).And.Contain(Vqav2Benchmark.ValQuestionFile);
    }

    [Fact]
    public void Humans_that_agree_are_compared_without_normalisation()
    {
        // vqaEval.py normalises only when the ten answers differ: "the dog" x10 never matches "dog".
        var humans = Enumerable.Range(1, 10).Select(i => new VqaHumanAnswer("the dog", $"id{i}")).ToList();
        Vqav2Benchmark.QuestionAccuracy(humans, "dog").Should().Be(0);
        Vqav2Benchmark.QuestionAccuracy(humans, " the dog\n").Should().Be(1);
        var mixed = humans.Take(9).Append(new VqaHumanAnswer("cat", "id10")).ToList();
        Vqav2Benchmark.QuestionAccuracy(mixed, "dog").Should().Be(1);
    }

    private void Copy(string name) => File.Copy(Path.Combine(Fixture, name), Path.Combine(_dir.FullName, name));

    private static JsonElement ReadExpected()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixture, "expected.json")));
        return document.RootElement.Clone();
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
