using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>One line of a LLaVA evaluation question file: <c>{"question_id", "image", "text"}</c>.</summary>
/// <param name="Id">The question id as text (integers as written).</param>
/// <param name="RawId">The id as the file has it (a submission writes it back unchanged).</param>
/// <param name="Image">The image file name, relative to the benchmark's image folder.</param>
/// <param name="Text">The prompt text (LLaVA-1.5's files already end with the answer instruction).</param>
/// <param name="Line">The 1-based line.</param>
internal sealed record LlavaQuestion(string Id, JsonElement RawId, string Image, string Text, int Line);

/// <summary>
/// What the LLaVA-1.5 evaluation benchmarks share: reading their JSON and JSONL files (LLaVA's question
/// files among them) with errors that name the file, the line and the format, and dictionary keys that
/// tell <c>1</c> from <c>"1"</c> as the official scripts' lookups do.
/// </summary>
internal static class LlavaEvalFiles
{
    /// <summary>LLaVA's evaluation question-file format (llava/eval/model_vqa_loader.py's input).</summary>
    public const string QuestionFileFormat = "JSONL, one {\"question_id\": string or integer, \"image\": string, \"text\": string} object per line";

    /// <summary>
    /// Reads a LLaVA question file (<see cref="ReadJsonLines"/>; blank lines skipped): every line needs a
    /// <c>question_id</c> (string or integer), an <c>image</c> and a <c>text</c> string.
    /// </summary>
    /// <exception cref="BenchmarkFormatException">The file is missing or a line is not such an object (naming the line).</exception>
    public static List<LlavaQuestion> ReadQuestionFile(string path, string expected = QuestionFileFormat) =>
        [.. ReadJsonLines(path, expected).Select(q => new LlavaQuestion(
            RequiredId(q.Item, "question_id", path, q.Line, expected),
            q.Item.GetProperty("question_id").Clone(),
            RequiredString(q.Item, "image", path, q.Line, expected),
            RequiredString(q.Item, "text", path, q.Line, expected),
            q.Line))];

    /// <summary>
    /// A LLaVA question file's lines as the runner asks them (<c>question_id</c> and <c>text</c> required, the
    /// image optional: <see cref="ImagePath"/> under <paramref name="imageFolder"/>, null without one).
    /// </summary>
    /// <exception cref="BenchmarkFormatException">The file is missing or a line lacks its id or text (naming the line).</exception>
    public static List<BenchmarkQuestion> ReadBenchmarkQuestions(string directory, string file, string expected, string? imageFolder)
    {
        var path = Path.Combine(directory, file);
        return [.. ReadJsonLines(path, expected).Select(q => new BenchmarkQuestion(
            RequiredId(q.Item, "question_id", path, q.Line, expected),
            RequiredString(q.Item, "text", path, q.Line, expected),
            ImagePath(directory, imageFolder, q.Item)) { IdIsNumber = IsNumber(q.Item, "question_id") })];
    }

    /// <summary>The questions as the runner asks them: the file's text as the prompt, the image under <paramref name="imageFolder"/>.</summary>
    public static IEnumerable<BenchmarkQuestion> ToBenchmarkQuestions(IEnumerable<LlavaQuestion> questions, string imageFolder, bool carryPrompt = false) =>
        questions.Select(q => new BenchmarkQuestion(q.Id, q.Text, Path.Combine(imageFolder, q.Image))
        {
            IdIsNumber = q.RawId.ValueKind == JsonValueKind.Number,
            AnswerFields = carryPrompt ? new Dictionary<string, string>(StringComparer.Ordinal) { ["prompt"] = q.Text } : null,
        });

    /// <summary>
    /// The questions of the first question file present: <paramref name="first"/>'s, else <paramref name="fallback"/>'s,
    /// each with its image folder (e.g. test-dev with <c>test2015/</c>, else val with <c>val2014/</c>).
    /// </summary>
    /// <exception cref="BenchmarkFormatException">Neither file is there, or the one read is malformed.</exception>
    public static List<BenchmarkQuestion> ReadFirstQuestionFile(string directory, (string File, string ImageFolder) first, (string File, string ImageFolder) fallback)
    {
        var path = FindFirst(directory, first.File, fallback.File);
        var images = Path.Combine(directory, Path.GetFileName(path) == first.File ? first.ImageFolder : fallback.ImageFolder);
        return ToBenchmarkQuestions(ReadQuestionFile(path), images).ToList();
    }

    /// <summary>The first of <paramref name="names"/> present in <paramref name="directory"/>, or a <see cref="BenchmarkFormatException"/> naming them all.</summary>
    public static string FindFirst(string directory, params string[] names)
    {
        foreach (var name in names)
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw BenchmarkFormatException.For(Path.Combine(directory, names[0]), $"{QuestionFileFormat} (looked for {string.Join(", ", names)})", "no such file in the benchmark folder");
    }

    /// <summary>Reads a JSONL file of objects; blank lines are skipped.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing, or a line is not a JSON object.</exception>
    public static List<(int Line, JsonElement Item)> ReadJsonLines(string path, string expected)
    {
        var text = ReadText(path, expected);
        var items = new List<(int, JsonElement)>();
        var lines = PythonText.Lines(text);
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].Trim().Length == 0)
            {
                continue;
            }
            JsonElement item;
            try
            {
                using var document = JsonDocument.Parse(lines[i]);
                item = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw BenchmarkFormatException.For(path, expected, $"line {i + 1} is not JSON: {e.Message}");
            }
            if (item.ValueKind != JsonValueKind.Object)
            {
                throw BenchmarkFormatException.For(path, expected, $"line {i + 1} is a JSON {item.ValueKind}, not an object");
            }
            items.Add((i + 1, item));
        }
        return items;
    }

    /// <summary>Parses a whole JSON file, or throws a <see cref="BenchmarkFormatException"/> naming it and <paramref name="expected"/>.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing or not JSON.</exception>
    public static JsonDocument ReadJson(string path, string expected)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, expected, "the file does not exist");
        }
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(path, expected, $"not JSON: {e.Message}");
        }
    }

    /// <summary>Reads a whole JSON file whose root has the given kind.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing, not JSON, or its root is of another kind.</exception>
    public static JsonElement ReadJson(string path, string expected, JsonValueKind root)
    {
        using var document = ReadJson(path, expected);
        if (document.RootElement.ValueKind != root)
        {
            throw BenchmarkFormatException.For(path, expected, $"the root is a JSON {document.RootElement.ValueKind}, not {root}");
        }
        return document.RootElement.Clone();
    }

    /// <summary>The file's text (UTF-8).</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing.</exception>
    public static string ReadText(string path, string expected)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, expected, "the file does not exist");
        }
        return File.ReadAllText(path, Encoding.UTF8);
    }

    /// <summary>A required string property, or a format error naming the file, line and key.</summary>
    public static string RequiredString(JsonElement item, string key, string path, int line, string expected) =>
        item.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()!
            : throw BenchmarkFormatException.For(path, expected, $"line {line} has no \"{key}\" string");

    /// <summary>A required id (string or integer) as text, or a format error naming the file, line and key.</summary>
    public static string RequiredId(JsonElement item, string key, string path, int line, string expected) =>
        item.TryGetProperty(key, out var value) && AnswerFile.IdText(value) is { } id
            ? id
            : throw BenchmarkFormatException.For(path, expected, $"line {line} has no \"{key}\" (string or integer)");

    /// <summary>Whether <paramref name="item"/>'s <paramref name="key"/> is a JSON number (the answers file writes the id back as the question file has it).</summary>
    public static bool IsNumber(JsonElement item, string key) => item.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.Number;

    /// <summary>
    /// A JSON value as a Python dictionary key: integers and strings never match each other
    /// (<c>1</c> is not <c>"1"</c>), which the official scripts' lookups depend on. Null for other kinds.
    /// </summary>
    public static string? PythonKey(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => "s:" + value.GetString(),
        JsonValueKind.Number when BigInteger.TryParse(value.GetRawText(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) => "i:" + n.ToString(CultureInfo.InvariantCulture),
        _ => null,
    };

    /// <summary>
    /// An answer's lookup key: its <c>question_id</c> as a Python key (<see cref="PythonKey"/>) when the
    /// answer was read from a file; "t:" and the id's text for an answer made in-process without its
    /// JSON, which <see cref="TryFind{T}"/> then matches by text.
    /// </summary>
    public static string AnswerKey(ModelAnswer answer) =>
        answer.Fields.ValueKind == JsonValueKind.Object && answer.Fields.TryGetProperty("question_id", out var id) && PythonKey(id) is { } key
            ? key
            : "t:" + answer.QuestionId;

    /// <summary>Finds the answer to a question by its Python key, else (answers made in-process) by the id's text.</summary>
    public static bool TryFind<T>(Dictionary<string, T> answers, string pythonKey, string idText, out T value) =>
        answers.TryGetValue(pythonKey, out value!) || answers.TryGetValue("t:" + idText, out value!);

    /// <summary>A string property of an answer's JSON, or null (also for answers made in-process without JSON).</summary>
    public static string? AnswerString(ModelAnswer answer, string key) =>
        answer.Fields.ValueKind == JsonValueKind.Object && answer.Fields.TryGetProperty(key, out var value) && value.ValueKind == JsonValueKind.String
            ? value.GetString()
            : null;

    /// <summary>The key Python's <c>int(text)</c> gives, or the string's key where <c>int()</c> raises.</summary>
    public static string PythonIntOrStringKey(string text) =>
        PythonText.Int(text) is { } n ? "i:" + n.ToString(CultureInfo.InvariantCulture) : "s:" + text;

    /// <summary>A question's image path under the benchmark folder, or null when the question has none.</summary>
    public static string? ImagePath(string directory, string? imageFolder, JsonElement item) =>
        item.TryGetProperty("image", out var image) && image.ValueKind == JsonValueKind.String
            ? Path.Combine(imageFolder is null ? directory : Path.Combine(directory, imageFolder), image.GetString()!)
            : null;
}
