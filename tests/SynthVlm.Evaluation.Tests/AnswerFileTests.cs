using SynthVlm.Evaluation;

namespace SynthVlm.Evaluation.Tests;

/// <summary>Answers files as LLaVA's scripts write them, and the malformed lines a real file has.</summary>
public sealed class AnswerFileTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("synthvlm-answers-");

    [Fact]
    public void Jsonl_answers_are_read_by_question_id_and_bad_lines_are_reported_with_their_line()
    {
        var path = Write("answers.jsonl",
            """
            {"question_id": 262148000, "prompt": "What?", "text": "two", "answer_id": "a", "model_id": "m", "metadata": {}}

            {"question_id": "q-2", "text": "yes"}
            not json at all
            {"question_id": 3.5, "text": "x"}
            {"question_id": "q-4"}
            ["an", "array"]
            {"question_id": "q-2", "text": "no"}
            """);

        var file = AnswerFile.Read(path);

        file.Answers.Select(a => (a.QuestionId, a.Text)).Should().Equal(("262148000", "two"), ("q-2", "no"));
        file.All.Should().HaveCount(3);
        file.Duplicates.Should().Be(1);
        file.ById["q-2"].Line.Should().Be(8);
        file.Problems.Select(p => p.Line).Should().Equal(4, 5, 6, 7);
        file.Problems[0].Problem.Should().StartWith("not JSON");
        file.Problems[1].Problem.Should().Contain("question_id");
        file.Problems[2].Problem.Should().Contain("q-4").And.Contain("text");
        file.Problems[3].ToString().Should().Be($"{path}:7: expected a JSON object, found Array");
    }

    [Fact]
    public void A_json_array_of_answers_is_read_too()
    {
        var path = Write("answers.json", """[{"question_id": 1, "text": "A"}, {"text": "B"}]""");

        var file = AnswerFile.Read(path);

        file.Answers.Should().ContainSingle().Which.QuestionId.Should().Be("1");
        file.Problems.Should().ContainSingle().Which.Line.Should().Be(2);
    }

    [Fact]
    public void A_missing_file_names_its_path()
    {
        var path = Path.Combine(_dir.FullName, "nope.jsonl");
        FluentActions.Invoking(() => AnswerFile.Read(path)).Should().Throw<FileNotFoundException>().WithMessage($"*{path}*");
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Delete(recursive: true);
}
