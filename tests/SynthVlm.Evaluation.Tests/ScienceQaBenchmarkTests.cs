using System.Text.Json.Nodes;
using SynthVlm.Evaluation.Benchmarks;

namespace SynthVlm.Evaluation.Tests;

/// <summary>ScienceQA-IMG against LLaVA's eval_science_qa.py (Fixtures/scienceqa, make_reference.py).</summary>
public sealed class ScienceQaBenchmarkTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-sqa-");
    private readonly string _fixture = LlavaFixtures.Folder("scienceqa");

    [Fact]
    public async Task Metrics_equal_eval_science_qa_py_on_the_edge_case_answers()
    {
        var answers = AnswerFile.Read(Path.Combine(_fixture, "answers.jsonl"));

        var result = await new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        LlavaFixtures.ShouldMatch(result.Metrics, LlavaFixtures.Expected("scienceqa")["metrics"]);
        result.Problems.Should().HaveCount(2);
        result.Questions.Should().Be(28);
        result.Scored.Should().Be(26, "problem 11 has no answer and problem 12's answer has the integer id 12");
        result.Notes.Should().ContainSingle().Which.Should().StartWith("2 of 28 problems had no answer");
    }

    [Fact]
    public void Letters_are_parsed_as_eval_science_qa_py_parses_them()
    {
        var parsed = LlavaFixtures.Expected("scienceqa")["parsed"]!.AsArray();

        parsed.Should().HaveCount(28);
        foreach (var pair in parsed.Select(p => p!.AsArray()))
        {
            ScienceQaBenchmark.ParseLetter(pair[0]!.GetValue<string>()).Should().Be(pair[1]!.GetValue<string>(), pair[0]!.ToJsonString());
        }
    }

    [Fact]
    public void Questions_carry_llava_s_prompt_and_the_prompt_the_scorer_reads_for_IMG()
    {
        var questions = new ScienceQaBenchmark().ReadQuestions(_fixture).ToList();

        questions.Should().HaveCount(28);
        questions[0].Id.Should().Be("1");
        questions[0].Prompt.Should().Be("Question 1?\nA. chiasmus\nB. apostrophe\nAnswer with the option's letter from the given choices directly.");
        questions[0].AnswerFields!["prompt"].Should().Be("<image>\n" + questions[0].Prompt);
        questions[0].ImagePath.Should().Be(Path.Combine(_fixture, "images", "test", "1", "image.png"));
        questions[2].ImagePath.Should().BeNull();
        questions[2].AnswerFields!["prompt"].Should().Be(questions[2].Prompt);
        questions[0].MaxNewTokens.Should().Be(1024, "model_vqa_science.py generates up to 1024 tokens");
    }

    [Fact]
    public async Task A_missing_problems_file_is_named()
    {
        File.Copy(Path.Combine(_fixture, "pid_splits.json"), Path.Combine(_dir.FullName, "pid_splits.json"));

        var act = () => new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(_dir.FullName, "problems.json")).And.Contain("does not exist").And.NotContain("\n");
    }

    [Fact]
    public async Task A_splits_file_in_the_wrong_format_is_named_with_the_format()
    {
        File.WriteAllText(Path.Combine(_dir.FullName, "pid_splits.json"), "[\"1\", \"2\"]");

        var act = () => new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_dir.FullName, AnswerFile.FromAnswers("a.jsonl", [])));

        (await act.Should().ThrowAsync<BenchmarkFormatException>()).Which.Message.Should()
            .StartWith(Path.Combine(_dir.FullName, "pid_splits.json")).And.Contain("expected a JSON object of split name").And.NotContain("\n");
    }

    [Fact]
    public async Task Without_image_answers_img_acc_is_left_out_with_a_note()
    {
        var one = JsonNode.Parse("""{"question_id": "3", "prompt": "q", "text": "C"}""")!;
        var answers = AnswerFile.FromAnswers("a.jsonl", [new ModelAnswer("3", "C", 1, System.Text.Json.JsonDocument.Parse(one.ToJsonString()).RootElement)]);

        var result = await new ScienceQaBenchmark().ScoreAsync(new BenchmarkScoring(_fixture, answers));

        result.Metrics["acc"]!.GetValue<double>().Should().BeApproximately(100.0 / 28, 1e-12);
        result.Metrics.ContainsKey("img_acc").Should().BeFalse();
        result.Notes.Should().Contain(n => n.StartsWith("no answer's prompt has <image>", StringComparison.Ordinal));
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
