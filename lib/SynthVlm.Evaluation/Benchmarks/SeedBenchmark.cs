using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// SEED-Bench as LLaVA-1.5 evaluates it (scripts/v1_5/eval/seed.sh,
/// scripts/convert_seed_for_submission.py): the question file <c>llava-seed-bench.jsonl</c> (the
/// question with its "A. ..." options and "Answer with the option's letter from the given choices
/// directly."), the annotation <c>SEED-Bench.json</c> and the images under the folder. Metrics (percent):
/// "image" (image questions only: the paper's SEED-Bench image), "video" (when the annotation has
/// video questions), "total", and "question_types": each question type's accuracy under its
/// official name, over image and video questions together, as the script prints them.
/// </summary>
/// <remarks>
/// <para>The official definition and its quirks, reproduced:</para>
/// <list type="bullet">
/// <item>An answer is right only when its text equals the annotation's answer exactly: "B" is
/// right, while "B.", "(B)", "b", " B" and "The answer is B." are wrong.</item>
/// <item>Answers are looked up by <c>question_id</c> with Python's types: the annotation's id is
/// taken as <c>int(id)</c> where that parses, so an answer whose id is the string "101669" does not
/// match (it is missing), while the integer 101669 does; ids such as "v5007" match as strings.</item>
/// <item>A missing answer counts as wrong; a question answered twice keeps its last answer.</item>
/// </list>
/// <para>Where the official code fails instead (a question type all of whose questions were
/// answered and none right, a data type with no questions, a question type without a name), this
/// class gives 0, leaves that accuracy out, or names the type by its id.</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/seedbench/utils.py
/// <c>seed_process_result</c> and <c>seed_aggregation_result</c>), with its quirks: the answer is
/// stripped (twice: lmms-eval's task, then seed_process_result), a text longer than one character is
/// cut to its first character, and it is right when, lower-cased and stripped, it equals the
/// annotation's answer lower-cased and stripped (<see cref="IsRightLmmsEval"/>). So "B.", "b",
/// " B" and "Because" (for B) are right, "(B)" and "The answer is B." are wrong. Metrics (percent;
/// lmms-eval prints fractions): "image" (its seed_image), "video" (seed_video; left out with a note
/// when there are no video questions) and "total" (seed_all); no per-type accuracies. Answers are
/// looked up as above; lmms-eval generates one for every question, so a missing answer is the
/// empty text (wrong), with a note.</para>
/// </remarks>
public sealed class SeedBenchmark : IBenchmark
{
    /// <summary>LLaVA's question file.</summary>
    public const string QuestionFile = "llava-seed-bench.jsonl";

    /// <summary>SEED-Bench's annotation file.</summary>
    public const string AnnotationFile = "SEED-Bench.json";

    /// <summary>The variant that scores as lmms-eval's SEED-Bench task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private const string QuestionFormat = "JSONL of {\"question_id\", \"image\", \"text\"} objects (LLaVA's llava-seed-bench.jsonl)";
    private const string AnnotationFormat = "a JSON object {\"question_type\": {name: id}, \"questions\": [{\"question_id\", \"data_type\", \"question_type_id\", \"answer\"}, ...]} (SEED-Bench.json)";

    /// <inheritdoc />
    public string Name => "seed";

    /// <inheritdoc />
    public string DisplayName => "SEED-Bench";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants { get; } = [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile}, {AnnotationFile}, the images under the folder (SEED-Bench-image/...)";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return LlavaEvalFiles.ReadBenchmarkQuestions(directory, QuestionFile, QuestionFormat, null);
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var lmms = scoring.Variant switch
        {
            null => false,
            LmmsEvalVariant => true,
            _ => throw new ArgumentException($"SEED-Bench has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
        var path = Path.Combine(scoring.Directory, AnnotationFile);
        var data = LlavaEvalFiles.ReadJson(path, AnnotationFormat, JsonValueKind.Object);
        if (!data.TryGetProperty("question_type", out var types) || types.ValueKind != JsonValueKind.Object
            || !data.TryGetProperty("questions", out var questions) || questions.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, AnnotationFormat, "no \"question_type\" object or no \"questions\" array");
        }
        var typeNames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var type in types.EnumerateObject())
        {
            if (LlavaEvalFiles.PythonKey(type.Value) is { } key)
            {
                typeNames[key] = type.Name;
            }
        }
        var answers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var answer in scoring.Answers.All)
        {
            answers[LlavaEvalFiles.AnswerKey(answer)] = answer.Text;
        }

        var items = new List<(string DataType, string Type, bool Answered, bool Right)>();
        var index = 0;
        foreach (var q in questions.EnumerateArray())
        {
            cancellationToken.ThrowIfCancellationRequested();
            index++;
            if (q.ValueKind != JsonValueKind.Object
                || !q.TryGetProperty("question_id", out var id) || id.ValueKind is not (JsonValueKind.String or JsonValueKind.Number)
                || !q.TryGetProperty("data_type", out var dataType) || dataType.ValueKind != JsonValueKind.String
                || !q.TryGetProperty("question_type_id", out var typeId) || LlavaEvalFiles.PythonKey(typeId) is not { } typeKey
                || !q.TryGetProperty("answer", out var truth) || truth.ValueKind != JsonValueKind.String)
            {
                throw BenchmarkFormatException.For(path, AnnotationFormat, $"question {index} lacks \"question_id\", \"data_type\", \"question_type_id\" or an \"answer\" string");
            }
            var key = id.ValueKind == JsonValueKind.String
                ? LlavaEvalFiles.PythonIntOrStringKey(id.GetString()!)
                : LlavaEvalFiles.PythonKey(id) ?? throw BenchmarkFormatException.For(path, AnnotationFormat, $"question {index} has the id {id.GetRawText()}, not a string or an integer");
            var answered = LlavaEvalFiles.TryFind(answers, key, id.ValueKind == JsonValueKind.String ? id.GetString()! : id.GetRawText(), out var text);
            var right = lmms ? IsRightLmmsEval(answered ? text! : string.Empty, truth.GetString()!) : answered && text == truth.GetString();
            items.Add((dataType.GetString()!, typeKey, answered, right));
        }

        var metrics = new JsonObject();
        var notes = new List<string>();
        foreach (var dataType in new[] { "image", "video" })
        {
            var subset = items.Where(i => i.DataType == dataType).ToList();
            if (subset.Count == 0)
            {
                notes.Add($"no {dataType} questions: {dataType} accuracy left out ({(lmms ? "lmms-eval divides by zero" : "the official script divides by zero")})");
                continue;
            }
            metrics[dataType] = (double)subset.Count(i => i.Right) / subset.Count * 100;
        }
        if (items.Count > 0)
        {
            metrics["total"] = (double)items.Count(i => i.Right) / items.Count * 100;
        }
        var missing = items.Count(i => !i.Answered);
        if (lmms)
        {
            if (missing > 0)
            {
                notes.Add($"{missing} of {items.Count} questions had no answer (looked up by question_id as Python types it): read as the empty text (wrong)");
            }
            return Task.FromResult(new BenchmarkMetrics(Name, metrics, items.Count - missing, items.Count, scoring.Answers.Problems, LmmsEvalVariant).WithNotes(notes));
        }
        var byType = new JsonObject();
        foreach (var group in items.GroupBy(i => i.Type, StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var name = typeNames.GetValueOrDefault(group.Key) ?? group.Key[2..];
            byType[name] = (double)group.Count(i => i.Right) / group.Count() * 100;
        }
        metrics["question_types"] = byType;
        if (missing > 0)
        {
            notes.Add($"{missing} of {items.Count} questions had no answer (looked up by question_id as Python types it): counted as wrong");
        }
        return Task.FromResult(new BenchmarkMetrics(Name, metrics, items.Count - missing, items.Count, scoring.Answers.Problems).WithNotes(notes));
    }

    /// <summary>
    /// lmms-eval's SEED-Bench scoring of an answer text (stripped by its task, then by
    /// <c>seed_process_result</c>, cut to its first character when longer) against the annotation's answer.
    /// </summary>
    public static bool IsRightLmmsEval(string text, string answer)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(answer);
        var pred = PythonText.Strip(PythonText.Strip(text));
        if (PythonText.Length(pred) > 1)
        {
            pred = PythonText.Prefix(pred, 1);
        }
        return PythonText.Strip(PythonText.Lower(pred)) == PythonText.Strip(PythonText.Lower(answer));
    }
}
