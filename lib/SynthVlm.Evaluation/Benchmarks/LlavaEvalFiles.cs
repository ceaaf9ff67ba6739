using System.Globalization;
using System.Numerics;
using System.Text;
using System.Text.Json;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// What the LLaVA-1.5 evaluation benchmarks (POPE, MME, ScienceQA, SEED-Bench) share: reading
/// their JSON and JSONL files with errors that name the file and the format, and the few Python
/// string operations whose exact semantics the official scripts' parsing depends on
/// (<c>str.strip</c>, <c>str.lower</c>, slicing by code point, universal-newline lines, and dictionary
/// keys that tell <c>1</c> from <c>"1"</c>).
/// </summary>
internal static class LlavaEvalFiles
{
    /// <summary>Reads a JSONL file of objects; blank lines are skipped.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing, or a line is not a JSON object.</exception>
    public static List<(int Line, JsonElement Item)> ReadJsonLines(string path, string expected)
    {
        var text = ReadText(path, expected);
        var items = new List<(int, JsonElement)>();
        var lines = PythonLines(text);
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

    /// <summary>Reads a whole JSON file whose root has the given kind.</summary>
    /// <exception cref="BenchmarkFormatException">The file is missing, not JSON, or its root is of another kind.</exception>
    public static JsonElement ReadJson(string path, string expected, JsonValueKind root)
    {
        var text = ReadText(path, expected);
        try
        {
            using var document = JsonDocument.Parse(text);
            if (document.RootElement.ValueKind != root)
            {
                throw BenchmarkFormatException.For(path, expected, $"the root is a JSON {document.RootElement.ValueKind}, not {root}");
            }
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw BenchmarkFormatException.For(path, expected, $"not JSON: {e.Message}");
        }
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
        PythonInt(text) is { } n ? "i:" + n.ToString(CultureInfo.InvariantCulture) : "s:" + text;

    /// <summary>
    /// Python's <c>int(str)</c>: surrounding whitespace, one sign, decimal digits of any script,
    /// single underscores between digits. Null where Python raises <c>ValueError</c>.
    /// </summary>
    public static BigInteger? PythonInt(string text)
    {
        var s = PythonStrip(text);
        var i = 0;
        var negative = false;
        if (s.Length > 0 && (s[0] == '+' || s[0] == '-'))
        {
            negative = s[0] == '-';
            i = 1;
        }
        var digits = new StringBuilder();
        var lastWasDigit = false;
        for (; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '_' && lastWasDigit && i + 1 < s.Length && CharUnicodeInfo.GetDecimalDigitValue(s[i + 1]) >= 0)
            {
                lastWasDigit = false;
                continue;
            }
            var d = CharUnicodeInfo.GetDecimalDigitValue(c);
            if (d < 0 || char.IsSurrogate(c))
            {
                return null;
            }
            digits.Append((char)('0' + d));
            lastWasDigit = true;
        }
        if (digits.Length == 0)
        {
            return null;
        }
        var value = BigInteger.Parse(digits.ToString(), CultureInfo.InvariantCulture);
        return negative ? -value : value;
    }

    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit: .NET's white space plus U+001C–U+001F.</summary>
    public static bool PythonIsSpace(char c) => char.IsWhiteSpace(c) || (c >= '\u001c' && c <= '\u001f');

    /// <summary>Python's <c>str.strip()</c> (no argument).</summary>
    public static string PythonStrip(string text)
    {
        var start = 0;
        var end = text.Length;
        while (start < end && PythonIsSpace(text[start]))
        {
            start++;
        }
        while (end > start && PythonIsSpace(text[end - 1]))
        {
            end--;
        }
        return text[start..end];
    }

    /// <summary>
    /// Python's <c>str.lower()</c>: Unicode's full lower-case mapping, which differs from .NET's
    /// invariant one-to-one mapping only for U+0130 (İ → "i̇", two code points).
    /// </summary>
    public static string PythonLower(string text) => text.Replace("\u0130", "i\u0307", StringComparison.Ordinal).ToLowerInvariant();

    /// <summary>Python's <c>text[:count]</c>: the first <paramref name="count"/> code points (a surrogate pair is one).</summary>
    public static string PythonPrefix(string text, int count)
    {
        var units = 0;
        for (var points = 0; points < count && units < text.Length; points++)
        {
            units += char.IsHighSurrogate(text[units]) && units + 1 < text.Length && char.IsLowSurrogate(text[units + 1]) ? 2 : 1;
        }
        return text[..units];
    }

    /// <summary>
    /// The lines <c>for line in open(path)</c> yields in Python (universal newlines: "\r\n", "\r"
    /// and "\n" each end a line), without their ends.
    /// </summary>
    public static List<string> PythonLines(string text)
    {
        var lines = new List<string>();
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] is '\n' or '\r')
            {
                lines.Add(text[start..i]);
                if (text[i] == '\r' && i + 1 < text.Length && text[i + 1] == '\n')
                {
                    i++;
                }
                start = i + 1;
            }
        }
        if (start < text.Length)
        {
            lines.Add(text[start..]);
        }
        return lines;
    }

    /// <summary>A question's image path under the benchmark folder, or null when the question has none.</summary>
    public static string? ImagePath(string directory, string? imageFolder, JsonElement item) =>
        item.TryGetProperty("image", out var image) && image.ValueKind == JsonValueKind.String
            ? Path.Combine(imageFolder is null ? directory : Path.Combine(directory, imageFolder), image.GetString()!)
            : null;
}
