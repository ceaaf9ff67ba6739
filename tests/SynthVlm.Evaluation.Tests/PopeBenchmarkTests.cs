using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>POPE against LLaVA's eval_pope.py and lmms-eval's POPE utils (Fixtures/pope, make_reference.py).</summary>
public sealed class PopeBenchmarkTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-pope-");
    private readonly string _fixture = LlavaFixtures.Folder("pope");

    [Fact]
    public async Task Metrics_equal_eval_pope_py_on_the_edge_case_answers()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        LlavaFixtures.ShouldMatch(result.Metrics, LlavaFixtures.Expected("pope")["official"]);
        result.Variant.Should().BeNull();
        result.Problems.Select(p => p.Line).Should().Equal(11, 14);
        result.Notes.Should().Contain(n => n.Contains("random", StringComparison.Ordinal) && n.Contains("by position", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_lmms_eval_variant_equals_lmms_eval_pope_utils()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, PopeBenchmark.LmmsEvalVariant));

        LlavaFixtures.ShouldMatch(result.Metrics, LlavaFixtures.Expected("pope")["lmms-eval"]);
        result.Variant.Should().Be("lmms-eval");
    }

    [Fact]
    public void Answers_are_read_as_eval_pope_py_and_lmms_eval_read_them()
    {
        var expected = LlavaFixtures.Expected("pope");

        foreach (var pair in expected["parsing"]!.AsArray().Select(p => p!.AsArray()))
        {
            (PopeBenchmark.ParseYes(pair[0]!.GetValue<string>()) ? "yes" : "no").Should().Be(pair[1]!.GetValue<string>(), pair[0]!.ToJsonString());
        }
        foreach (var pair in expected["lmms-eval-parsing"]!.AsArray().Select(p => p!.AsArray()))
        {
            PythonText.Strip(PythonText.LowerWithoutFinalSigma(pair[0]!.GetValue<string>())).Should().Be(pair[1]!.GetValue<string>(), pair[0]!.ToJsonString());
        }
    }

    [Theory]
    [InlineData("Yes.", true)]
    [InlineData("yes, there is", true)]
    [InlineData("No there isn't", false)]
    [InlineData("", true)]
    [InlineData("None", true)]
    [InlineData("There is not.", false)]
    [InlineData("Yes. There is no cat.", true)]
    [InlineData("no,", false)]
    [InlineData("NO", true)]
    public void An_answer_is_no_only_with_No_not_or_no_in_its_first_sentence(string text, bool yes) =>
        PopeBenchmark.ParseYes(text).Should().Be(yes);

    [Fact]
    public void Questions_carry_llava_s_prompt_and_the_val2014_image()
    {
        var questions = new PopeBenchmark().ReadQuestions(_fixture).ToList();

        questions.Should().HaveCount(19);
        questions[0].Id.Should().Be("1");
        questions[0].Prompt.Should().Be("Is there a snowboard in the image?\nAnswer the question using a single word or phrase.");
        questions[0].ImagePath.Should().Be(Path.Combine(_fixture, "val2014", "COCO_val2014_000000000000.jpg"));
    }

    [Fact]
    public async Task A_missing_annotation_folder_is_named()
    {
        File.Copy(Path.Combine(_fixture, PopeBenchmark.QuestionFile), Path.Combine(_dir.FullName, PopeBenchmark.QuestionFile));
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var act = () => new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, answers));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .Contain(Path.Combine(_dir.FullName, "coco")).And.Contain("does not exist").And.NotContain("\n");
    }

    [Fact]
    public async Task An_annotation_file_in_the_wrong_format_is_named_with_the_format()
    {
        File.Copy(Path.Combine(_fixture, PopeBenchmark.QuestionFile), Path.Combine(_dir.FullName, PopeBenchmark.QuestionFile));
        Directory.CreateDirectory(Path.Combine(_dir.FullName, "coco"));
        var labels = Path.Combine(_dir.FullName, "coco", "coco_pope_random.json");
        File.WriteAllText(labels, "[{\"label\": \"yes\"}]\n");
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var act = () => new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, answers));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(labels).And.Contain("expected JSONL").And.Contain("line 1").And.NotContain("\n");
    }

    [Fact]
    public async Task A_split_without_answers_is_left_out_with_a_note_and_an_unknown_variant_is_refused()
    {
        var answers = AnswerFile.FromAnswers("a.jsonl", [new ModelAnswer("1", "yes", 1, default)]);

        var result = await new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        result.Metrics.Select(m => m.Key).Should().Equal("adversarial");
        result.Metrics["adversarial"]!["precision"]!.GetValue<double>().Should().Be(1.0);
        result.Notes.Should().Contain(n => n.StartsWith("split popular: no answers", StringComparison.Ordinal));
        await FluentActions.Awaiting(() => new PopeBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers, "vqa"))).Should().ThrowAsync<ArgumentException>();
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
