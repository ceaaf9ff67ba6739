using System.Globalization;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Evaluation;

/// <summary>
/// An answers file read whole: the usable answers by question id and the lines that were not
/// usable, each with its line and reason. A malformed line never stops scoring: the benchmark's
/// metric is computed on the rest and the count is stated with the result.
/// </summary>
public sealed class AnswerFile
{
    private AnswerFile(string path, IReadOnlyList<ModelAnswer> all, IReadOnlyList<ModelAnswer> answers, IReadOnlyList<InputProblem> problems, int duplicates)
    {
        Path = path;
        All = all;
        Answers = answers;
        Problems = problems;
        Duplicates = duplicates;
        ById = answers.ToDictionary(a => a.QuestionId, StringComparer.Ordinal);
    }

    /// <summary>The file read.</summary>
    public string Path { get; }

    /// <summary>The usable answers in file order (a question answered twice keeps its last answer, as the official scripts' dictionaries do).</summary>
    public IReadOnlyList<ModelAnswer> Answers { get; }

    /// <summary>Every usable line in file order, repeats included (MMBench's rounds share a question id and differ in <c>round_id</c>).</summary>
    public IReadOnlyList<ModelAnswer> All { get; }

    /// <summary>The usable answers by question id.</summary>
    public IReadOnlyDictionary<string, ModelAnswer> ById { get; }

    /// <summary>Lines that could not be used.</summary>
    public IReadOnlyList<InputProblem> Problems { get; }

    /// <summary>How many answers were replaced by a later answer to the same question.</summary>
    public int Duplicates { get; }

    /// <summary>
    /// Reads a JSONL file (one answer object per line; blank lines are skipped) or a JSON array of
    /// answer objects. An answer needs <c>question_id</c> (string or integer) and <c>text</c> (string).
    /// </summary>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    public static AnswerFile Read(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = System.IO.Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new FileNotFoundException($"answers file {full} does not exist.", full);
        }
        var answers = new List<ModelAnswer>();
        var problems = new List<InputProblem>();
        using (var reader = new StreamReader(full, Encoding.UTF8))
        {
            var first = (char)reader.Peek();
            if (first == '[')
            {
                ReadArray(full, reader.ReadToEnd(), answers, problems);
            }
            else
            {
                var number = 0;
                while (reader.ReadLine() is { } line)
                {
                    number++;
                    if (string.IsNullOrWhiteSpace(line))
                    {
                        continue;
                    }
                    try
                    {
                        using var document = JsonDocument.Parse(line);
                        Add(full, number, document.RootElement, answers, problems);
                    }
                    catch (JsonException e)
                    {
                        problems.Add(new InputProblem(full, number, $"not JSON: {e.Message}"));
                    }
                }
            }
        }
        var last = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < answers.Count; i++)
        {
            last[answers[i].QuestionId] = i;
        }
        var kept = answers.Where((a, i) => last[a.QuestionId] == i).ToList();
        return new AnswerFile(full, answers, kept, problems, answers.Count - kept.Count);
    }

    /// <summary>Builds the file's contents from answers already in memory (answers produced in-process).</summary>
    public static AnswerFile FromAnswers(string path, IEnumerable<ModelAnswer> answers)
    {
        ArgumentNullException.ThrowIfNull(answers);
        var all = answers.ToList();
        var list = all.GroupBy(a => a.QuestionId, StringComparer.Ordinal).Select(g => g.Last()).ToList();
        return new AnswerFile(path, all, list, [], all.Count - list.Count);
    }

    /// <summary>A question id as text: strings as they are, integers as written.</summary>
    public static string? IdText(JsonElement id) => id.ValueKind switch
    {
        JsonValueKind.String => id.GetString(),
        JsonValueKind.Number when id.TryGetInt64(out var n) => n.ToString(CultureInfo.InvariantCulture),
        _ => null,
    };

    private static void ReadArray(string path, string text, List<ModelAnswer> answers, List<InputProblem> problems)
    {
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != JsonValueKind.Array)
            {
                problems.Add(new InputProblem(path, 0, "expected a JSON array of answers or JSONL"));
                return;
            }
            var index = 0;
            foreach (var item in document.RootElement.EnumerateArray())
            {
                Add(path, ++index, item, answers, problems);
            }
        }
        catch (JsonException e)
        {
            problems.Add(new InputProblem(path, 0, $"starts with '[' but is not a JSON array: {e.Message}"));
        }
    }

    private static void Add(string path, int line, JsonElement element, List<ModelAnswer> answers, List<InputProblem> problems)
    {
        if (element.ValueKind != JsonValueKind.Object)
        {
            problems.Add(new InputProblem(path, line, $"expected a JSON object, found {element.ValueKind}"));
            return;
        }
        if (!element.TryGetProperty("question_id", out var id) || IdText(id) is not { } questionId)
        {
            problems.Add(new InputProblem(path, line, "no \"question_id\" (string or integer)"));
            return;
        }
        if (!element.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
        {
            problems.Add(new InputProblem(path, line, $"question {questionId}: no \"text\" string"));
            return;
        }
        answers.Add(new ModelAnswer(questionId, text.GetString()!, line, element.Clone()));
    }
}
