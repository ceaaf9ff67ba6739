using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// TextVQA (val, with OCR tokens in the prompt) as LLaVA-1.5 runs it (scripts/v1_5/eval/textvqa.sh):
/// questions from <c>llava_textvqa_val_v051_ocr.jsonl</c>, images in <c>train_images/</c>, scored by
/// llava/eval/eval_textvqa.py with m4c_evaluator.TextVQAAccuracyEvaluator against
/// <c>TextVQA_0.5.1_val.json</c>.
/// </summary>
/// <remarks>
/// <para>How eval_textvqa.py pairs answers with annotations, reproduced: every line of the answers file
/// counts (repeats too, in file order); the question is recovered from the answer's <c>prompt</c> field
/// (LLaVA's loader writes the question file's text there): after "Question: " and before " Short answer:"
/// when the prompt starts with "OCR tokens: "; else the first line (the second when it starts with
/// "Reference OCR token:") when the prompt has "Reference OCR token: " and exactly three lines; else
/// the first line when it has exactly two lines. The pair (answer's <c>question_id</c>, lower-cased
/// question) is looked up among (annotation <c>image_id</c>, lower-cased annotation question) — LLaVA's
/// question ids are TextVQA image ids (e.g. "003a8ae2ef43b901"), so they repeat when an image has several
/// questions: a runner must keep every answer line (and write <c>prompt</c>, see
/// <see cref="BenchmarkQuestion.AnswerFields"/>); when two annotations share a key the later wins.</para>
/// <para>Score: the prediction and the ten human answers go through <see cref="VqaAnswerNormalizer.EvalAiAnswer"/>;
/// the prediction scores the mean over the ten humans of min(1, matches among the other nine / 3), or 0 when
/// no human gave it. "accuracy" is 100 × the mean over the answers, rounded to 2 decimals as the script
/// prints it (<c>{:.2f}</c>); "samples" is how many answers were scored.</para>
/// <para>Where the official script would stop (a line without a prompt, a prompt of another shape, no
/// annotation for the pair), the line is reported as a problem and the rest are scored. Questions without
/// an answer are not counted at all, as in the official script, which averages over the answers file;
/// a note says how many annotations went unanswered. An annotation without exactly ten answers is a
/// <see cref="BenchmarkFormatException"/> (the official evaluator asserts ten).</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/textvqa/utils.py
/// <c>textvqa_process_results</c>, task "textvqa_val", aggregation mean). Per question it scores as the
/// official evaluator does (the same EvalAI processor on the prediction, stripped first by lmms-eval's
/// task, and on each human answer, lower-casing as Python does; leave-one-out by position), but it
/// averages over the <em>annotations</em>: every entry of the annotation file is one question, answered
/// by the last answer line whose (question_id, prompt question) pair names it, or by the empty text when
/// none does (lmms-eval generates for every question; a note says how many). Answer lines are paired and
/// reported as above. "accuracy" is 100 × the mean, unrounded (lmms-eval prints the fraction); "samples"
/// is the number of annotations. An entry with no human answers is a <see cref="BenchmarkFormatException"/>
/// (lmms-eval cannot average them).</para>
/// </remarks>
public sealed partial class TextVqaBenchmark : IBenchmark
{
    /// <summary>LLaVA's question file.</summary>
    public const string QuestionFile = "llava_textvqa_val_v051_ocr.jsonl";

    /// <summary>The image folder.</summary>
    public const string ImageFolder = "train_images";

    /// <summary>The official val annotations.</summary>
    public const string AnnotationFile = "TextVQA_0.5.1_val.json";

    /// <summary>The variant that scores as lmms-eval's textvqa_val task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    internal const string AnnotationFormat = "the TextVQA annotations JSON {\"data\": [{\"image_id\": str, \"question\": str, \"answers\": [10 str]}]}";

    /// <inheritdoc />
    public string Name => "textvqa";

    /// <inheritdoc />
    public string DisplayName => "TextVQA";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile} + {ImageFolder}/ + {AnnotationFile}";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var questions = LlavaEvalFiles.ReadQuestionFile(Path.Combine(directory, QuestionFile));
        return LlavaEvalFiles.ToBenchmarkQuestions(questions, Path.Combine(directory, ImageFolder), carryPrompt: true).ToList();
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        return scoring.Variant switch
        {
            null => VqaFamily.ScoreOfficialAsync(Name, scoring, (directory, answers) => Score(directory, answers).Metrics, cancellationToken),
            LmmsEvalVariant => Task.Run(() => ScoreLmmsEval(scoring.Directory, scoring.Answers), cancellationToken),
            _ => throw new ArgumentException($"TextVQA has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
    }

    /// <summary>lmms-eval's <c>textvqa_process_results</c> accuracy of a model text (before its task's strip) against the human answers.</summary>
    internal static double AnswerScoreLmmsEval(IReadOnlyList<string> rawHumans, string text)
    {
        var res = VqaFamily.EvalAiAnswerPythonLower(PythonText.Strip(text));
        var humans = rawHumans.Select(VqaFamily.EvalAiAnswerPythonLower).ToList();
        return VqaFamily.HumanAccuracy(humans.Count, (i, j) => j != i, j => humans[j] == res);
    }

    private static BenchmarkMetrics ScoreLmmsEval(string directory, AnswerFile answers)
    {
        var annotationPath = Path.Combine(directory, AnnotationFile);
        var rows = ReadRows(annotationPath);
        var keys = rows.Select(r => r.Key).ToHashSet();
        var problems = new List<InputProblem>(answers.Problems);
        var texts = new Dictionary<(string, string), string>();
        foreach (var answer in answers.All)
        {
            if (!answer.Fields.TryGetProperty("prompt", out var promptElement) || promptElement.ValueKind != JsonValueKind.String)
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId}: no \"prompt\" string (eval_textvqa.py finds the question in it)"));
                continue;
            }
            if (PromptQuestion(promptElement.GetString()!) is not { } question)
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId}: the prompt is neither \"OCR tokens: ... Question: ... Short answer:\" nor two lines nor three lines with \"Reference OCR token: \""));
                continue;
            }
            if (!keys.Contains((answer.QuestionId, question)))
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"no annotation in {AnnotationFile} has image_id {answer.QuestionId} and question \"{question}\"; not scored"));
                continue;
            }
            texts[(answer.QuestionId, question)] = answer.Text;
        }
        var sum = 0.0;
        var missing = 0;
        foreach (var (key, humans, index) in rows)
        {
            if (humans.Count == 0)
            {
                throw BenchmarkFormatException.For(annotationPath, AnnotationFormat, $"entry {index} has no answers (lmms-eval cannot average them)");
            }
            if (!texts.TryGetValue(key, out var text))
            {
                text = string.Empty;
                missing++;
            }
            sum += AnswerScoreLmmsEval(humans, text);
        }
        var metrics = new JsonObject
        {
            ["accuracy"] = rows.Count == 0 ? 0.0 : sum / rows.Count * 100,
            ["samples"] = rows.Count,
        };
        var result = new BenchmarkMetrics("textvqa", metrics, rows.Count - missing, rows.Count, problems, LmmsEvalVariant);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {rows.Count} annotated questions have no answer; read as the empty text (0), as lmms-eval generates for every question.");
        }
        return result;
    }

    private static List<((string ImageId, string Question) Key, List<string> Answers, int Index)> ReadRows(string path)
    {
        using var document = LlavaEvalFiles.ReadJson(path, AnnotationFormat);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, AnnotationFormat, "no \"data\" array at the top level");
        }
        var rows = new List<((string, string), List<string>, int)>();
        var index = 0;
        foreach (var item in data.EnumerateArray())
        {
            index++;
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("image_id", out var imageElement) || AnswerFile.IdText(imageElement) is not { } imageId
                || !item.TryGetProperty("question", out var question) || question.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("answers", out var list) || list.ValueKind != JsonValueKind.Array
                || list.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.String))
            {
                throw BenchmarkFormatException.For(path, AnnotationFormat, $"entry {index} lacks image_id, question or an answers array of strings");
            }
            rows.Add(((imageId, PythonText.LowerInvariant(question.GetString()!)), list.EnumerateArray().Select(a => a.GetString()!).ToList(), index));
        }
        return rows;
    }

    /// <summary>Scores the answers; also returns the unrounded accuracy (a fraction) and each scored line's score.</summary>
    internal static TextVqaResult Score(string directory, AnswerFile answers)
    {
        var annotationPath = Path.Combine(directory, AnnotationFile);
        var annotations = ReadAnnotations(annotationPath);
        var problems = new List<InputProblem>(answers.Problems);
        var scores = new List<(int Line, double Score)>();
        var answered = new HashSet<(string, string)>();
        foreach (var answer in answers.All)
        {
            if (!answer.Fields.TryGetProperty("prompt", out var promptElement) || promptElement.ValueKind != JsonValueKind.String)
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId}: no \"prompt\" string (eval_textvqa.py finds the question in it)"));
                continue;
            }
            var question = PromptQuestion(promptElement.GetString()!);
            if (question is null)
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId}: the prompt is neither \"OCR tokens: ... Question: ... Short answer:\" nor two lines nor three lines with \"Reference OCR token: \""));
                continue;
            }
            if (!annotations.TryGetValue((answer.QuestionId, question), out var humans))
            {
                problems.Add(new InputProblem(answers.Path, answer.Line, $"no annotation in {AnnotationFile} has image_id {answer.QuestionId} and question \"{question}\"; not scored"));
                continue;
            }
            if (humans.Count != 10)
            {
                throw BenchmarkFormatException.For(annotationPath, AnnotationFormat, $"image {answer.QuestionId}, question \"{question}\" has {humans.Count} answers, not 10");
            }
            answered.Add((answer.QuestionId, question));
            scores.Add((answer.Line, AnswerScore(humans, VqaAnswerNormalizer.EvalAiAnswer(answer.Text))));
        }

        var sum = 0.0;
        foreach (var (_, score) in scores)
        {
            sum += score;
        }
        var accuracy = scores.Count == 0 ? 0 : sum / scores.Count;
        var metrics = new JsonObject
        {
            ["accuracy"] = PythonText.RoundPython3(100.0 * accuracy, 2),
            ["samples"] = scores.Count,
        };
        var result = new BenchmarkMetrics("textvqa", metrics, scores.Count, annotations.Count, problems);
        if (scores.Count == 0)
        {
            result.Notes.Add("No answer could be scored (the official script would divide by zero); accuracy is 0.");
        }
        var unanswered = annotations.Count - answered.Count;
        if (unanswered > 0)
        {
            result.Notes.Add($"{unanswered} of {annotations.Count} annotated questions have no scored answer; like eval_textvqa.py, the accuracy averages over the {scores.Count} answers only.");
        }
        return new TextVqaResult(result, accuracy, scores);
    }

    /// <summary>The question eval_textvqa.py's prompt_processor recovers from a prompt, lower-cased; null where the script fails.</summary>
    internal static string? PromptQuestion(string prompt)
    {
        string question;
        var lines = prompt.Split('\n');
        if (prompt.StartsWith("OCR tokens: ", StringComparison.Ordinal))
        {
            var match = OcrPromptQuestion().Match(prompt);
            if (!match.Success)
            {
                return null;
            }
            question = match.Groups[1].Value;
        }
        else if (prompt.Contains("Reference OCR token: ", StringComparison.Ordinal) && lines.Length == 3)
        {
            question = prompt.StartsWith("Reference OCR token:", StringComparison.Ordinal) ? lines[1] : lines[0];
        }
        else if (lines.Length == 2)
        {
            question = lines[0];
        }
        else
        {
            return null;
        }
        return PythonText.LowerInvariant(question);
    }

    /// <summary>TextVQAAccuracyEvaluator's score of one (already processed) prediction against ten raw human answers.</summary>
    internal static double AnswerScore(IReadOnlyList<string> rawHumans, string prediction)
    {
        var humans = rawHumans.Select(VqaAnswerNormalizer.EvalAiAnswer).ToList();
        if (!humans.Contains(prediction, StringComparer.Ordinal))
        {
            return 0.0;
        }
        return VqaFamily.HumanAccuracy(humans.Count, (i, j) => j != i, j => humans[j] == prediction);
    }

    /// <summary>The annotations by (image id, lower-cased question); a repeated key keeps its last entry, as the official dict does.</summary>
    private static Dictionary<(string ImageId, string Question), List<string>> ReadAnnotations(string path)
    {
        var annotations = new Dictionary<(string, string), List<string>>();
        foreach (var (key, answers, _) in ReadRows(path))
        {
            annotations[key] = answers;
        }
        return annotations;
    }

    [GeneratedRegex("Question: (.*?) Short answer:", RegexOptions.Singleline | RegexOptions.CultureInvariant)]
    private static partial Regex OcrPromptQuestion();
}

/// <summary>TextVQA's metrics, the unrounded accuracy (a fraction, what the evaluator returns) and each scored line's score.</summary>
internal sealed record TextVqaResult(BenchmarkMetrics Metrics, double Accuracy, IReadOnlyList<(int Line, double Score)> Scores);
