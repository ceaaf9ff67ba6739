using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// GQA test-dev (balanced) as LLaVA-1.5 runs it (scripts/v1_5/eval/gqa.sh): questions from
/// <c>llava_gqa_testdev_balanced.jsonl</c>, images in <c>data/images/</c>; answers converted by
/// scripts/convert_gqa_for_eval.py (trailing periods stripped, lower-cased) and scored by the GQA
/// eval.py (gqadataset.org's evaluation script as LLaVA patched it for the v1.2 release, so that missing
/// scene graphs and choices are skipped: the copy in SHI-Labs/VCoder,
/// playground/data/eval/gqa/data/eval/eval.py) against <c>data/testdev_balanced_questions.json</c>.
/// </summary>
/// <remarks>
/// <para>Computed from the questions file alone, over the balanced questions (<c>isBalanced</c>): "accuracy"
/// (exact string match of prediction and answer), "binary" and "open" (open = structural type "query"),
/// "distribution" (chi-square of the predicted against the gold answer histogram per global group,
/// weighted by group size, divided by 100; lower is better), and accuracy per structural type, semantic
/// type, reasoning steps (semantic program operations, not counting those whose "operation: argument"
/// contains "exist", "query: name" or "choose name") and question length (whitespace-separated words),
/// each as [score, questions]. Every value is as the script prints it: percentages (distribution raw) rounded to 2 decimals.</para>
/// <para>"validity" and "plausibility" need <c>data/testdev_balanced_choices.json</c> (not in the GQA v1.2
/// release; with it they are computed as the script does, a "Common" detailed type widening the valid set
/// to color/material/shape); without it they are left out (LLaVA's patched script prints 0.00 for them).
/// "consistency" needs predictions for all entailed questions (<c>--consistency</c>, not run by LLaVA) and
/// "grounding" needs attention maps and scene graphs: both are left out.</para>
/// <para>Missing answers: the official script refuses to run when a balanced question has no prediction;
/// here it is scored as the empty prediction (wrong, and counted in the predicted histogram), with a note.
/// Answers are matched by id text.</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/gqa/gqa.yaml: the
/// registered "exact_match" metric with ignore_case and ignore_punctuation, aggregation mean, over
/// the balanced test-dev questions), with its quirks: the answer is stripped (lmms-eval's task strips
/// every generation) and then it and the gold answer each go through numpy's <c>np.char.lower</c> and
/// <c>np.char.translate</c> removing ASCII punctuation (<see cref="NormalizeLmmsEval"/>): trailing NUL
/// characters vanish and a lower-cased text longer than the original (U+0130) is cut to the original's
/// length, as numpy's fixed-width strings do. Only "accuracy" (percent, unrounded; lmms-eval prints the
/// fraction), "correct" and "count" are given. A missing answer is the empty text (wrong), with a note.</para>
/// </remarks>
public sealed class GqaBenchmark : IBenchmark
{
    /// <summary>LLaVA's question file.</summary>
    public const string QuestionFile = "llava_gqa_testdev_balanced.jsonl";

    /// <summary>The image folder.</summary>
    public const string ImageFolder = "data/images";

    /// <summary>The official questions (with answers and annotations).</summary>
    public const string AnnotationFile = "data/testdev_balanced_questions.json";

    /// <summary>The official choices (optional: validity and plausibility).</summary>
    public const string ChoicesFile = "data/testdev_balanced_choices.json";

    internal const string AnnotationFormat = "the GQA questions JSON {questionId: {\"question\": str, \"answer\": str, \"isBalanced\": bool, \"types\": {\"structural\", \"semantic\", \"detailed\"}, \"semantic\": [{\"operation\", \"argument\"}], \"groups\": {\"global\": str or null}}}";
    internal const string ChoicesFormat = "the GQA choices JSON {questionId: {\"valid\": [str], \"plausible\": [str]}}";

    /// <summary>The variant that scores as lmms-eval's GQA task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private const string AsciiPunctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

    private static readonly string[] NotReasoningSteps = ["exist", "query: name", "choose name"];

    /// <inheritdoc />
    public string Name => "gqa";

    /// <inheritdoc />
    public string DisplayName => "GQA";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile} + {ImageFolder}/ + {AnnotationFile} (optional {ChoicesFile})";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var questions = LlavaEvalFiles.ReadQuestionFile(Path.Combine(directory, QuestionFile));
        return LlavaEvalFiles.ToBenchmarkQuestions(questions, Path.Combine(directory, ImageFolder)).ToList();
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        return scoring.Variant switch
        {
            null => VqaFamily.ScoreOfficialAsync(Name, scoring, (directory, answers) => Score(directory, answers).Metrics, cancellationToken),
            LmmsEvalVariant => Task.Run(() => ScoreLmmsEval(scoring.Directory, scoring.Answers), cancellationToken),
            _ => throw new ArgumentException($"GQA has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
    }

    /// <summary>
    /// What lmms-eval's exact_match (ignore_case, ignore_punctuation) compares: the text as a numpy
    /// string (trailing NULs dropped), <c>np.char.lower</c> (Python's lower, cut to the original
    /// number of code points) and <c>np.char.translate</c> without <c>string.punctuation</c>.
    /// </summary>
    public static string NormalizeLmmsEval(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var stored = text.TrimEnd('\0');
        var lower = PythonText.Prefix(PythonText.Lower(stored), PythonText.Length(stored)).TrimEnd('\0');
        var builder = new System.Text.StringBuilder(lower.Length);
        foreach (var c in lower)
        {
            if (!AsciiPunctuation.Contains(c, StringComparison.Ordinal))
            {
                builder.Append(c);
            }
        }
        return builder.ToString().TrimEnd('\0');
    }

    private static BenchmarkMetrics ScoreLmmsEval(string directory, AnswerFile answers)
    {
        var questionsPath = Path.Combine(directory, AnnotationFile);
        using var questionsDocument = LlavaEvalFiles.ReadJson(questionsPath, AnnotationFormat);
        var questions = questionsDocument.RootElement;
        if (questions.ValueKind != JsonValueKind.Object)
        {
            throw BenchmarkFormatException.For(questionsPath, AnnotationFormat, $"the top level is a JSON {questions.ValueKind}, not an object keyed by question id");
        }
        var problems = new List<InputProblem>(answers.Problems);
        var known = new HashSet<string>(StringComparer.Ordinal);
        int count = 0, correct = 0, missing = 0;
        foreach (var entry in questions.EnumerateObject())
        {
            known.Add(entry.Name);
            var q = Parse(questionsPath, entry);
            if (!q.IsBalanced)
            {
                continue;
            }
            count++;
            var text = string.Empty;
            if (answers.ById.TryGetValue(entry.Name, out var answer))
            {
                text = answer.Text;
            }
            else
            {
                missing++;
            }
            correct += NormalizeLmmsEval(PythonText.Strip(text)) == NormalizeLmmsEval(q.Answer) ? 1 : 0;
        }
        foreach (var answer in answers.Answers.Where(a => !known.Contains(a.QuestionId)))
        {
            problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId} is not in {AnnotationFile}; not scored"));
        }
        if (count == 0)
        {
            throw BenchmarkFormatException.For(questionsPath, AnnotationFormat, "no question has \"isBalanced\": true");
        }
        var metrics = new JsonObject
        {
            ["accuracy"] = (double)correct / count * 100,
            ["correct"] = correct,
            ["count"] = count,
        };
        var result = new BenchmarkMetrics("gqa", metrics, count - missing, count, problems, LmmsEvalVariant);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {count} balanced questions had no answer; read as the empty text (wrong), as lmms-eval always generates one.");
        }
        return result;
    }

    /// <summary>The prediction convert_gqa_for_eval.py writes for an answer: trailing periods stripped, lower-cased.</summary>
    public static string Prediction(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return PythonText.LowerInvariant(text.TrimEnd('.'));
    }

    /// <summary>Scores the answers; also returns the unrounded scores (eval.py's <c>scores</c> after averaging).</summary>
    internal static GqaResult Score(string directory, AnswerFile answers)
    {
        var questionsPath = Path.Combine(directory, AnnotationFile);
        var choicesPath = Path.Combine(directory, ChoicesFile);
        using var questionsDocument = LlavaEvalFiles.ReadJson(questionsPath, AnnotationFormat);
        var questions = questionsDocument.RootElement;
        if (questions.ValueKind != JsonValueKind.Object)
        {
            throw BenchmarkFormatException.For(questionsPath, AnnotationFormat, $"the top level is a JSON {questions.ValueKind}, not an object keyed by question id");
        }
        using var choicesDocument = File.Exists(choicesPath) ? LlavaEvalFiles.ReadJson(choicesPath, ChoicesFormat) : null;
        JsonElement? choices = choicesDocument?.RootElement;
        if (choices is { ValueKind: not JsonValueKind.Object })
        {
            throw BenchmarkFormatException.For(choicesPath, ChoicesFormat, "the top level is not an object keyed by question id");
        }

        var problems = new List<InputProblem>(answers.Problems);
        var known = new HashSet<string>(StringComparer.Ordinal);
        var accuracy = new List<double>();
        var binary = new List<double>();
        var open = new List<double>();
        var validity = new List<double>();
        var plausibility = new List<double>();
        var perStructural = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var perSemantic = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var perSteps = new Dictionary<int, List<double>>();
        var perLength = new Dictionary<int, List<double>>();
        var gold = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        var predicted = new Dictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        var balanced = 0;
        var missing = 0;

        foreach (var entry in questions.EnumerateObject())
        {
            known.Add(entry.Name);
            var q = Parse(questionsPath, entry);
            if (!q.IsBalanced)
            {
                continue;
            }
            balanced++;
            string prediction;
            if (answers.ById.TryGetValue(entry.Name, out var answer))
            {
                prediction = Prediction(answer.Text);
            }
            else
            {
                prediction = "";
                missing++;
            }
            var score = prediction == q.Answer ? 1.0 : 0.0;
            accuracy.Add(score);
            Add(perLength, PythonText.Split(q.Question).Count, score);
            Add(perSteps, q.Steps, score);
            Add(perStructural, q.Structural, score);
            Add(perSemantic, q.Semantic, score);
            (q.Structural == "query" ? open : binary).Add(score);
            if (choices is { } c)
            {
                if (!c.TryGetProperty(entry.Name, out var choice) || choice.ValueKind != JsonValueKind.Object
                    || !choice.TryGetProperty("valid", out var valid) || valid.ValueKind != JsonValueKind.Array
                    || !choice.TryGetProperty("plausible", out var plausible) || plausible.ValueKind != JsonValueKind.Array)
                {
                    throw BenchmarkFormatException.For(choicesPath, ChoicesFormat, $"question {entry.Name} has no \"valid\" and \"plausible\" lists");
                }
                validity.Add(Belongs(prediction, valid, q.Detailed) ? 1.0 : 0.0);
                plausibility.Add(Belongs(prediction, plausible, q.Detailed) ? 1.0 : 0.0);
            }
            if (q.GlobalGroup is { } group)
            {
                Count(gold, group, q.Answer);
                Count(predicted, group, prediction);
            }
        }
        foreach (var a in answers.Answers.Where(a => !known.Contains(a.QuestionId)))
        {
            problems.Add(new InputProblem(answers.Path, a.Line, $"question {a.QuestionId} is not in {AnnotationFile}; not scored"));
        }

        var raw = new Dictionary<string, double>(StringComparer.Ordinal)
        {
            ["binary"] = Average(binary) * 100,
            ["open"] = Average(open) * 100,
            ["accuracy"] = Average(accuracy) * 100,
        };
        var metrics = new JsonObject
        {
            ["binary"] = Printed(raw["binary"]),
            ["open"] = Printed(raw["open"]),
            ["accuracy"] = Printed(raw["accuracy"]),
        };
        var notes = new List<string>();
        if (choices is not null)
        {
            raw["validity"] = Average(validity) * 100;
            raw["plausibility"] = Average(plausibility) * 100;
            metrics["validity"] = Printed(raw["validity"]);
            metrics["plausibility"] = Printed(raw["plausibility"]);
        }
        else
        {
            notes.Add($"validity and plausibility need {ChoicesFile} (absent); left out (LLaVA's patched eval.py prints 0.00 for them). Consistency and grounding are not computed.");
        }
        if (ChiSquare(gold, predicted) is { } distribution)
        {
            raw["distribution"] = distribution / 100;
            metrics["distribution"] = Printed(raw["distribution"]);
        }
        else
        {
            notes.Add("distribution left out: no balanced question has a global group (the official script would divide by zero).");
        }
        metrics["accuracyPerStructuralType"] = Detailed(perStructural.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)), raw, "accuracyPerStructuralType");
        metrics["accuracyPerSemanticType"] = Detailed(perSemantic.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => (p.Key, p.Value)), raw, "accuracyPerSemanticType");
        metrics["accuracyPerSteps"] = Detailed(perSteps.OrderBy(p => p.Key).Select(p => (p.Key.ToString(CultureInfo.InvariantCulture), p.Value)), raw, "accuracyPerSteps");
        metrics["accuracyPerLength"] = Detailed(perLength.OrderBy(p => p.Key).Select(p => (p.Key.ToString(CultureInfo.InvariantCulture), p.Value)), raw, "accuracyPerLength");

        var result = new BenchmarkMetrics("gqa", metrics, balanced - missing, balanced, problems);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {balanced} balanced questions had no answer; scored as the empty prediction (wrong). The official eval.py refuses to run without them.");
        }
        foreach (var n in notes)
        {
            result.Notes.Add(n);
        }
        return new GqaResult(result, raw);
    }

    private static GqaQuestion Parse(string path, JsonProperty entry)
    {
        var q = entry.Value;
        if (q.ValueKind != JsonValueKind.Object
            || !q.TryGetProperty("question", out var question) || question.ValueKind != JsonValueKind.String
            || !q.TryGetProperty("answer", out var answer) || answer.ValueKind != JsonValueKind.String
            || !q.TryGetProperty("isBalanced", out var balanced) || balanced.ValueKind is not (JsonValueKind.True or JsonValueKind.False)
            || !q.TryGetProperty("types", out var types) || types.ValueKind != JsonValueKind.Object
            || !types.TryGetProperty("structural", out var structural) || structural.ValueKind != JsonValueKind.String
            || !types.TryGetProperty("semantic", out var semantic) || semantic.ValueKind != JsonValueKind.String
            || !q.TryGetProperty("semantic", out var program) || program.ValueKind != JsonValueKind.Array
            || !q.TryGetProperty("groups", out var groups) || groups.ValueKind != JsonValueKind.Object
            || !groups.TryGetProperty("global", out var global) || global.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
        {
            throw BenchmarkFormatException.For(path, AnnotationFormat, $"question {entry.Name} lacks one of question, answer, isBalanced, types.structural/semantic, semantic, groups.global");
        }
        var detailed = types.TryGetProperty("detailed", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString()! : "";
        var steps = 0;
        foreach (var step in program.EnumerateArray())
        {
            if (step.ValueKind != JsonValueKind.Object || !step.TryGetProperty("operation", out var op) || !step.TryGetProperty("argument", out var arg))
            {
                throw BenchmarkFormatException.For(path, AnnotationFormat, $"question {entry.Name}: a semantic step without operation and argument");
            }
            var text = $"{PythonStr(op)}: {PythonStr(arg)}";
            if (!NotReasoningSteps.Any(o => text.Contains(o, StringComparison.Ordinal)))
            {
                steps++;
            }
        }
        return new GqaQuestion(question.GetString()!, answer.GetString()!, balanced.GetBoolean(), structural.GetString()!, semantic.GetString()!, detailed,
            global.ValueKind == JsonValueKind.String ? global.GetString() : null, steps);
    }

    private static string PythonStr(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!,
        JsonValueKind.Null => "None",
        JsonValueKind.True => "True",
        JsonValueKind.False => "False",
        _ => e.GetRawText(),
    };

    // eval.py's belongs(): a "Common" detailed type compares against color/material/shape instead of the list.
    private static bool Belongs(string element, JsonElement group, string detailed) =>
        detailed.Contains("Common", StringComparison.Ordinal)
            ? element is "color" or "material" or "shape"
            : group.EnumerateArray().Any(g => g.ValueKind == JsonValueKind.String && g.GetString() == element);

    private static double? ChiSquare(Dictionary<string, Dictionary<string, int>> gold, Dictionary<string, Dictionary<string, int>> predicted)
    {
        var sumScore = 0.0;
        var sumOverall = 0;
        foreach (var (group, answers) in gold)
        {
            var score = 0.0;
            var overall = 0;
            foreach (var (answer, e) in answers)
            {
                var o = predicted[group].GetValueOrDefault(answer, 0);
                score += (double)(o - e) * (o - e) / e;
                overall += e;
            }
            sumScore += score * overall;
            sumOverall += overall;
        }
        return sumOverall == 0 ? null : sumScore / sumOverall;
    }

    private static double Average(List<double> values)
    {
        if (values.Count == 0)
        {
            return 0;
        }
        var sum = 0.0;
        foreach (var v in values)
        {
            sum += v;
        }
        return sum / values.Count;
    }

    private static double Printed(double value) => PythonText.RoundPython3(value, 2);

    private static JsonObject Detailed(IEnumerable<(string Key, List<double> Scores)> groups, Dictionary<string, double> raw, string name)
    {
        var o = new JsonObject();
        foreach (var (key, scores) in groups)
        {
            var value = Average(scores) * 100;
            raw[$"{name}/{key}"] = value;
            o[key] = new JsonArray(Printed(value), scores.Count);
        }
        return o;
    }

    private static void Add<TKey>(Dictionary<TKey, List<double>> groups, TKey key, double value)
        where TKey : notnull
    {
        if (!groups.TryGetValue(key, out var list))
        {
            groups[key] = list = [];
        }
        list.Add(value);
    }

    private static void Count(Dictionary<string, Dictionary<string, int>> histogram, string group, string answer)
    {
        if (!histogram.TryGetValue(group, out var counts))
        {
            histogram[group] = counts = new Dictionary<string, int>(StringComparer.Ordinal);
        }
        counts[answer] = counts.GetValueOrDefault(answer) + 1;
    }

    private sealed record GqaQuestion(string Question, string Answer, bool IsBalanced, string Structural, string Semantic, string Detailed, string? GlobalGroup, int Steps);
}

/// <summary>GQA's metrics and the unrounded scores by name ("accuracy", "distribution", "accuracyPerSteps/2", ...).</summary>
internal sealed record GqaResult(BenchmarkMetrics Metrics, IReadOnlyDictionary<string, double> Raw);
