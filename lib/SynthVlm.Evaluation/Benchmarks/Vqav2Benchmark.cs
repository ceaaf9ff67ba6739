using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// VQAv2 as LLaVA-1.5 runs it (scripts/v1_5/eval/vqav2.sh): questions from
/// <c>llava_vqav2_mscoco_test-dev2015.jsonl</c>, images in <c>test2015/</c>; answers go through
/// scripts/convert_vqav2_for_submission.py (<see cref="VqaAnswerNormalizer.EvalAiAnswer"/>, a missing
/// answer uploaded as "") and are scored by the VQA challenge's evaluation (GT-Vision-Lab/VQA,
/// PythonEvaluationTools/vqaEvaluation/vqaEval.py). test-dev has no public annotations: write the
/// upload with <see cref="WriteSubmission"/>; local scoring needs the official val annotations.
/// </summary>
/// <remarks>
/// <para>Layout: <c>llava_vqav2_mscoco_test-dev2015.jsonl</c> + <c>test2015/</c> (or, if that file is absent,
/// <c>llava_vqav2_mscoco_val2014.jsonl</c> + <c>val2014/</c>); <c>llava_vqav2_mscoco_test2015.jsonl</c> for the
/// submission; <c>v2_mscoco_val2014_annotations.json</c> and <c>v2_OpenEnded_mscoco_val2014_questions.json</c>
/// (the official files) for local scoring.</para>
/// <para>Scoring follows vqaEval.py exactly, quirks included: the prediction and the ten human answers have
/// newlines and tabs turned into spaces and are stripped, but are normalised (punctuation, number words,
/// articles, contractions) <em>only when the humans disagree</em> (more than one distinct answer) — when all
/// ten agree, the comparison is on the stripped text alone. For each human answer, the others are the
/// answers whose whole record (answer, answer_confidence, answer_id) differs from it; the accuracy is
/// min(1, matches/3), averaged over the ten. "overall", "perQuestionType" and "perAnswerType" are
/// 100 × mean, rounded to 2 decimals with Python 2's round (halves away from zero; the script is Python 2).</para>
/// <para>Missing answers: the official loadRes refuses a result set that lacks a question; LLaVA's converter
/// uploads "" for it, and so it is scored here (it matches no human answer, so it scores 0), with a note.
/// Answers to questions that are not in the annotations are reported as problems and not scored.
/// Answers are matched to questions by id text (the converter's dictionary would not match a string id to an integer one).</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/vqav2/utils.py
/// <c>vqav2_process_results</c>, task "vqav2_val", aggregation mean), scored on the same val annotations,
/// with its quirks: the model's text is taken as it is (stripped by lmms-eval's task; no EvalAI
/// converter first, so ',', '?' and "'s" are not touched beforehand), and the prediction and the ten
/// human answers are <em>always</em> normalised (newlines and tabs to spaces, strip, then the EvalAI
/// processor's <c>process_punctuation</c> and <c>process_digit_article</c>, lower-casing as Python does, whose comma test is
/// <c>(?&lt;=\d)(\,)+(?=\d)</c>), whether or not the humans agree. Human answers are told apart by their
/// whole record, as above; the accuracy is the mean over the ten of min(1, matches/3). Only "overall"
/// (100 × the mean over the annotated questions, unrounded; lmms-eval prints the fraction) is given. A
/// missing answer is the empty text (0), with a note.</para>
/// </remarks>
public sealed class Vqav2Benchmark : IBenchmark
{
    /// <summary>LLaVA's test-dev question file.</summary>
    public const string TestDevQuestionFile = "llava_vqav2_mscoco_test-dev2015.jsonl";

    /// <summary>LLaVA's full test question file (every question the submission must list).</summary>
    public const string TestQuestionFile = "llava_vqav2_mscoco_test2015.jsonl";

    /// <summary>A val question file in LLaVA's format (used when the test-dev file is absent).</summary>
    public const string ValQuestionFile = "llava_vqav2_mscoco_val2014.jsonl";

    /// <summary>The official val annotations (local scoring).</summary>
    public const string AnnotationFile = "v2_mscoco_val2014_annotations.json";

    /// <summary>The official val questions (local scoring).</summary>
    public const string OfficialQuestionFile = "v2_OpenEnded_mscoco_val2014_questions.json";

    /// <summary>The variant that scores as lmms-eval's vqav2_val task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    internal const string AnnotationFormat = "the official VQA annotations JSON {\"annotations\": [{\"question_id\": int, \"question_type\": str, \"answer_type\": str, \"answers\": [{\"answer\": str, ...}]}]}";
    internal const string OfficialQuestionFormat = "the official VQA questions JSON {\"questions\": [{\"question_id\": int, \"image_id\": int, \"question\": str}], ...}";

    /// <inheritdoc />
    public string Name => "vqav2";

    /// <inheritdoc />
    public string DisplayName => "VQAv2";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout =>
        $"{TestDevQuestionFile} + test2015/ (or {ValQuestionFile} + val2014/); {TestQuestionFile} for the test-dev submission; {AnnotationFile} + {OfficialQuestionFile} for local scoring";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return LlavaEvalFiles.ReadFirstQuestionFile(directory, (TestDevQuestionFile, "test2015"), (ValQuestionFile, "val2014"));
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        return scoring.Variant switch
        {
            null => VqaFamily.ScoreOfficialAsync(Name, scoring, (directory, answers) => Score(directory, answers).Metrics, cancellationToken),
            LmmsEvalVariant => Task.Run(() => ScoreLmmsEval(scoring.Directory, scoring.Answers), cancellationToken),
            _ => throw new ArgumentException($"VQAv2 has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
    }

    /// <summary>lmms-eval's <c>vqav2_process_results</c> accuracy of a model text (before its task's strip) against the human answers.</summary>
    internal static double QuestionAccuracyLmmsEval(IReadOnlyList<VqaHumanAnswer> humans, string text)
    {
        var gts = humans.Select(h => h with { Answer = NormalizeLmmsEval(h.Answer) }).ToList();
        var res = NormalizeLmmsEval(PythonText.Strip(text));
        return VqaFamily.HumanAccuracy(gts.Count, (i, j) => !gts[j].SameRecord(gts[i]), j => gts[j].Answer == res);
    }

    /// <summary>
    /// Clean, <c>process_punctuation</c>, then <c>process_digit_article</c> with Python's own lower-casing
    /// (U+0130 and final sigma; the official ports keep .NET's invariant mapping), applied where Python applies it.
    /// </summary>
    private static string NormalizeLmmsEval(string text) =>
        VqaAnswerNormalizer.EvalAi.ProcessDigitArticle(PythonText.Lower(VqaAnswerNormalizer.EvalAi.ProcessPunctuation(VqaFamily.Clean(text))));

    private static BenchmarkMetrics ScoreLmmsEval(string directory, AnswerFile answers)
    {
        var (annotations, problems) = ReadAnnotated(directory, answers);
        var sum = 0.0;
        var missing = 0;
        foreach (var annotation in annotations)
        {
            var text = string.Empty;
            if (answers.ById.TryGetValue(annotation.Id, out var answer))
            {
                text = answer.Text;
            }
            else
            {
                missing++;
            }
            sum += QuestionAccuracyLmmsEval(annotation.Answers, text);
        }
        var metrics = new JsonObject { ["overall"] = annotations.Count == 0 ? 0.0 : sum / annotations.Count * 100 };
        var result = new BenchmarkMetrics("vqav2", metrics, annotations.Count - missing, annotations.Count, problems, LmmsEvalVariant);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {annotations.Count} annotated questions had no answer; read as the empty text (0 accuracy), as lmms-eval always generates one.");
        }
        if (annotations.Count == 0)
        {
            result.Notes.Add($"{AnnotationFile} has no annotations: overall 0");
        }
        return result;
    }

    /// <summary>The val annotations (the official questions file checked too), and the answers' problems plus one per answer to a question they do not have.</summary>
    private static (List<VqaAnnotation> Annotations, List<InputProblem> Problems) ReadAnnotated(string directory, AnswerFile answers)
    {
        var annotations = ReadAnnotations(Path.Combine(directory, AnnotationFile));
        ValidateOfficialQuestions(Path.Combine(directory, OfficialQuestionFile));
        var problems = new List<InputProblem>(answers.Problems);
        var annotated = new HashSet<string>(annotations.Select(a => a.Id), StringComparer.Ordinal);
        foreach (var answer in answers.Answers.Where(a => !annotated.Contains(a.QuestionId)))
        {
            problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId} is not in {AnnotationFile}; not scored"));
        }
        return (annotations, problems);
    }

    /// <summary>Scores against the val annotations and returns the metrics and each question's accuracy.</summary>
    internal static Vqav2Result Score(string directory, AnswerFile answers)
    {
        var (annotations, problems) = ReadAnnotated(directory, answers);

        var all = new List<double>();
        var byQuestionType = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var byAnswerType = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var perQuestion = new Dictionary<string, double>(StringComparer.Ordinal);
        var missing = 0;
        foreach (var annotation in annotations)
        {
            string prediction;
            if (answers.ById.TryGetValue(annotation.Id, out var answer))
            {
                prediction = VqaAnswerNormalizer.EvalAiAnswer(answer.Text);
            }
            else
            {
                prediction = "";
                missing++;
            }
            var accuracy = QuestionAccuracy(annotation.Answers, prediction);
            all.Add(accuracy);
            VqaFamily.Add(byQuestionType, annotation.QuestionType, accuracy);
            VqaFamily.Add(byAnswerType, annotation.AnswerType, accuracy);
            perQuestion[annotation.Id] = PythonText.RoundPython2(100 * accuracy, 2);
        }

        var metrics = new JsonObject
        {
            ["overall"] = VqaFamily.Percent(all, PythonText.RoundPython2),
            ["perQuestionType"] = VqaFamily.Percents(byQuestionType, PythonText.RoundPython2),
            ["perAnswerType"] = VqaFamily.Percents(byAnswerType, PythonText.RoundPython2),
        };
        var result = new BenchmarkMetrics("vqav2", metrics, annotations.Count - missing, annotations.Count, problems);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {annotations.Count} annotated questions had no answer; scored as the empty answer LLaVA's converter uploads (0 accuracy).");
        }
        return new Vqav2Result(result, perQuestion);
    }

    /// <summary>
    /// Writes the test-dev upload as scripts/convert_vqav2_for_submission.py does: one
    /// <c>{"question_id", "answer"}</c> per line of <see cref="TestQuestionFile"/>, in its order, the answer
    /// being <see cref="VqaAnswerNormalizer.EvalAiAnswer"/> of the model's text, or "" when there is none;
    /// formatted as Python's <c>json.dump</c> (", " and ": " separators, non-ASCII escaped).
    /// </summary>
    /// <returns>How many questions had no answer (written as "").</returns>
    /// <exception cref="BenchmarkFormatException">The test question file is missing or malformed.</exception>
    public static int WriteSubmission(string directory, AnswerFile answers, string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var questions = LlavaEvalFiles.ReadQuestionFile(Path.Combine(directory, TestQuestionFile));
        var missing = 0;
        VqaFamily.WriteJsonList(outputPath, questions.Count, (sb, i) =>
        {
            var q = questions[i];
            string text;
            if (answers.ById.TryGetValue(q.Id, out var answer))
            {
                text = VqaAnswerNormalizer.EvalAiAnswer(answer.Text);
            }
            else
            {
                text = "";
                missing++;
            }
            sb.Append("{\"question_id\": ");
            AppendRawId(sb, q.RawId);
            sb.Append(", \"answer\": ");
            PythonText.AppendJsonString(sb, text);
            sb.Append('}');
        });
        return missing;
    }

    /// <summary>One question's accuracy as vqaEval.py's evaluate() computes it (see the class remarks).</summary>
    internal static double QuestionAccuracy(IReadOnlyList<VqaHumanAnswer> humans, string prediction)
    {
        var gts = humans.Select(h => h with { Answer = VqaFamily.Clean(h.Answer) }).ToList();
        var res = VqaFamily.Clean(prediction);
        if (gts.Select(g => g.Answer).Distinct(StringComparer.Ordinal).Skip(1).Any())
        {
            gts = gts.Select(g => g with { Answer = VqaAnswerNormalizer.VqaEval.Normalize(g.Answer) }).ToList();
            res = VqaAnswerNormalizer.VqaEval.Normalize(res);
        }
        return VqaFamily.HumanAccuracy(gts.Count, (i, j) => !gts[j].SameRecord(gts[i]), j => gts[j].Answer == res);
    }

    private static void AppendRawId(StringBuilder sb, JsonElement id)
    {
        if (id.ValueKind == JsonValueKind.String)
        {
            PythonText.AppendJsonString(sb, id.GetString()!);
        }
        else
        {
            sb.Append(id.GetRawText());
        }
    }

    internal static List<VqaAnnotation> ReadAnnotations(string path)
    {
        using var document = LlavaEvalFiles.ReadJson(path, AnnotationFormat);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("annotations", out var list) || list.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, AnnotationFormat, "no \"annotations\" array at the top level");
        }
        var annotations = new List<VqaAnnotation>();
        var index = 0;
        foreach (var item in list.EnumerateArray())
        {
            index++;
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("question_id", out var idElement) || AnswerFile.IdText(idElement) is not { } id
                || !item.TryGetProperty("question_type", out var qt) || qt.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("answer_type", out var at) || at.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("answers", out var answers) || answers.ValueKind != JsonValueKind.Array || answers.GetArrayLength() == 0)
            {
                throw BenchmarkFormatException.For(path, AnnotationFormat, $"annotation {index} lacks question_id, question_type, answer_type or a non-empty answers array");
            }
            var humans = new List<VqaHumanAnswer>();
            foreach (var a in answers.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("answer", out var text) || text.ValueKind != JsonValueKind.String)
                {
                    throw BenchmarkFormatException.For(path, AnnotationFormat, $"question {id}: an answer without an \"answer\" string");
                }
                humans.Add(new VqaHumanAnswer(text.GetString()!, RecordKey(a)));
            }
            annotations.Add(new VqaAnnotation(id, qt.GetString()!, at.GetString()!, humans));
        }
        return annotations;
    }

    private static void ValidateOfficialQuestions(string path)
    {
        using var document = LlavaEvalFiles.ReadJson(path, OfficialQuestionFormat);
        if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("questions", out var q) || q.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, OfficialQuestionFormat, "no \"questions\" array at the top level");
        }
    }

    // The record's fields other than "answer", canonically (Python compares the whole dicts).
    private static string RecordKey(JsonElement answer)
    {
        var sb = new StringBuilder();
        foreach (var p in answer.EnumerateObject().Where(p => p.Name != "answer").OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            sb.Append(p.Name).Append('\u0001').Append(Canonical(p.Value)).Append('\u0002');
        }
        return sb.ToString();
    }

    private static string Canonical(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => "s" + e.GetString(),
        JsonValueKind.Number => e.GetDouble().ToString("R", CultureInfo.InvariantCulture),
        JsonValueKind.Object => "{" + string.Join(",", e.EnumerateObject().OrderBy(p => p.Name, StringComparer.Ordinal).Select(p => p.Name + ":" + Canonical(p.Value))) + "}",
        JsonValueKind.Array => "[" + string.Join(",", e.EnumerateArray().Select(Canonical)) + "]",
        _ => e.GetRawText(),
    };
}

/// <summary>One human answer: its text and the rest of its record (vqaEval.py tells answers apart by the whole record).</summary>
internal sealed record VqaHumanAnswer(string Answer, string RecordKey)
{
    public bool SameRecord(VqaHumanAnswer other) => Answer == other.Answer && RecordKey == other.RecordKey;
}

/// <summary>One annotated question.</summary>
internal sealed record VqaAnnotation(string Id, string QuestionType, string AnswerType, IReadOnlyList<VqaHumanAnswer> Answers);

/// <summary>The metrics and each question's accuracy (vqaEval.py's evalQA: 100 × accuracy, rounded to 2 decimals).</summary>
internal sealed record Vqav2Result(BenchmarkMetrics Metrics, IReadOnlyDictionary<string, double> PerQuestion);
