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

/// <summary>Reads LLaVA's evaluation question files (llava/eval/model_vqa_loader.py's input).</summary>
internal static class LlavaQuestionFile
{
    public const string Format = "JSONL, one {\"question_id\": string or integer, \"image\": string, \"text\": string} object per line";

    /// <summary>Reads every line; a line that is not such an object is a <see cref="BenchmarkFormatException"/> naming the file and line.</summary>
    public static List<LlavaQuestion> Read(string path)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, Format, "the file does not exist");
        }
        var questions = new List<LlavaQuestion>();
        var number = 0;
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            JsonElement root;
            try
            {
                using var document = JsonDocument.Parse(line);
                root = document.RootElement.Clone();
            }
            catch (JsonException e)
            {
                throw BenchmarkFormatException.For(path, Format, $"line {number} is not JSON: {e.Message}");
            }
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw BenchmarkFormatException.For(path, Format, $"line {number} is a JSON {root.ValueKind}, not an object");
            }
            if (!root.TryGetProperty("question_id", out var id) || AnswerFile.IdText(id) is not { } idText)
            {
                throw BenchmarkFormatException.For(path, Format, $"line {number} has no \"question_id\"");
            }
            if (!root.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.String)
            {
                throw BenchmarkFormatException.For(path, Format, $"line {number} (question {idText}) has no \"image\" string");
            }
            if (!root.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
            {
                throw BenchmarkFormatException.For(path, Format, $"line {number} (question {idText}) has no \"text\" string");
            }
            questions.Add(new LlavaQuestion(idText, id.Clone(), image.GetString()!, text.GetString()!, number));
        }
        return questions;
    }

    /// <summary>The questions as the runner asks them: the file's text as the prompt, the image under <paramref name="imageFolder"/>.</summary>
    public static IEnumerable<BenchmarkQuestion> ToBenchmarkQuestions(IEnumerable<LlavaQuestion> questions, string imageFolder, bool carryPrompt = false) =>
        questions.Select(q => new BenchmarkQuestion(q.Id, q.Text, Path.Combine(imageFolder, q.Image))
        {
            IdIsNumber = q.RawId.ValueKind == JsonValueKind.Number,
            AnswerFields = carryPrompt ? new Dictionary<string, string>(StringComparer.Ordinal) { ["prompt"] = q.Text } : null,
        });

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
        throw BenchmarkFormatException.For(Path.Combine(directory, names[0]), $"{Format} (looked for {string.Join(", ", names)})", "no such file in the benchmark folder");
    }

    /// <summary>Parses a whole JSON file, or throws a <see cref="BenchmarkFormatException"/> naming it and <paramref name="format"/>.</summary>
    public static JsonDocument ReadJson(string path, string format)
    {
        if (!File.Exists(path))
        {
            throw BenchmarkFormatException.For(path, format, "the file does not exist");
        }
        try
        {
            using var stream = File.OpenRead(path);
            return JsonDocument.Parse(stream, new JsonDocumentOptions { MaxDepth = 256 });
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(path, format, $"not JSON: {e.Message}");
        }
    }
}
