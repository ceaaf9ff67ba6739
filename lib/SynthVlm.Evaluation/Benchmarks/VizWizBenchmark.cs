using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// VizWiz-VQA as LLaVA-1.5 runs it (scripts/v1_5/eval/vizwiz.sh): questions from <c>llava_test.jsonl</c>
/// (whose prompts ask for "Unanswerable" when the image does not answer), images in <c>test/</c>; answers go
/// through scripts/convert_vizwiz_for_submission.py (<see cref="VqaAnswerNormalizer.EvalAiAnswer"/>, keyed by
/// image) and are scored by the VizWiz challenge's evaluation (vizwiz.org's VizWiz-VQA API by Qing Li,
/// vqaEval.py, Python 3). test has no public answers: write the upload with <see cref="WriteSubmission"/>;
/// local scoring uses the val split.
/// </summary>
/// <remarks>
/// <para>Layout: <c>llava_test.jsonl</c> + <c>test/</c> (or, if absent, <c>llava_val.jsonl</c> + <c>val/</c>);
/// local scoring needs <c>val.json</c> (the official annotations: a list of {image, question, answers:
/// [{answer, answer_confidence}], answer_type, answerable}) and a LLaVA-format question file for the val
/// questions (<c>llava_val.jsonl</c>, else <c>llava_test.jsonl</c>) to map answers' question ids to images.</para>
/// <para>Scoring follows the VizWiz vqaEval.py, quirks included: the prediction has newlines and tabs
/// turned into spaces, is stripped and always normalised (<see cref="VqaAnswerNormalizer.VizWiz"/>: its
/// contraction table restores most apostrophes as U+2019), but the ten human answers are compared
/// <em>as they are</em>, never normalised; the others of a human answer are the other nine by position;
/// accuracy is min(1, matches/3) averaged over the ten. "overall" and "perAnswerType" ("other", "yes/no",
/// "number", "unanswerable") are 100 × mean rounded to 2 decimals with Python 3's round (halves to even).
/// The caption metrics (BLEU, METEOR, ROUGE-L, CIDEr, needing pycocoevalcap and Java) and the
/// answerability average precision and F1 (needing an answerability score the LLaVA answers do not have)
/// are left out.</para>
/// <para>Missing answers: the official code fails (KeyError) and LLaVA's converter asserts; here the
/// image's answer is the empty string (it matches no human answer), with a note. Answers to questions not in
/// the question file, or whose image is not annotated, are reported as problems and not scored.</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/vizwiz_vqa/utils.py
/// <c>vizwiz_vqa_process_results</c>, task "vizwiz_vqa_val", aggregation mean), on the same val
/// annotations and answer-to-image mapping, with its quirks: the model's text (stripped by lmms-eval's
/// task) and <em>each of the ten human answers</em> go through the EvalAI answer processor (lower-case
/// with Python's rules, ',' '?' removed, "'s" spaced, punctuation, number words, articles,
/// contractions); the others of a human answer are the other nine by position; accuracy is min(1,
/// matches/3) averaged over the ten. Only "overall" (100 × the mean over the annotated images,
/// unrounded; lmms-eval prints the fraction) is given. A missing answer is the empty text (0), with a note.</para>
/// </remarks>
public sealed class VizWizBenchmark : IBenchmark
{
    /// <summary>LLaVA's test question file.</summary>
    public const string QuestionFile = "llava_test.jsonl";

    /// <summary>A val question file in LLaVA's format (local scoring).</summary>
    public const string ValQuestionFile = "llava_val.jsonl";

    /// <summary>The official val annotations (local scoring).</summary>
    public const string AnnotationFile = "val.json";

    /// <summary>The variant that scores as lmms-eval's vizwiz_vqa_val task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    internal const string AnnotationFormat = "the VizWiz annotations JSON [{\"image\": str, \"answers\": [{\"answer\": str, \"answer_confidence\": str}], \"answer_type\": str}]";

    /// <inheritdoc />
    public string Name => "vizwiz";

    /// <inheritdoc />
    public string DisplayName => "VizWiz";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants => [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile} + test/ (or {ValQuestionFile} + val/); {AnnotationFile} + {ValQuestionFile} for local scoring";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return LlavaEvalFiles.ReadFirstQuestionFile(directory, (QuestionFile, "test"), (ValQuestionFile, "val"));
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        return scoring.Variant switch
        {
            null => VqaFamily.ScoreOfficialAsync(Name, scoring, (directory, answers) => Score(directory, answers).Metrics, cancellationToken),
            LmmsEvalVariant => Task.Run(() => Score(scoring.Directory, scoring.Answers, lmms: true).Metrics, cancellationToken),
            _ => throw new ArgumentException($"VizWiz has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
    }

    /// <summary>lmms-eval's <c>vizwiz_vqa_process_results</c> accuracy of a model text (before its task's strip) against the human answers.</summary>
    internal static double ImageAccuracyLmmsEval(IReadOnlyList<string> humans, string text)
    {
        var res = VqaFamily.EvalAiAnswerPythonLower(PythonText.Strip(text));
        var gts = humans.Select(VqaFamily.EvalAiAnswerPythonLower).ToList();
        return gts.Count == 0 ? 0 : VqaFamily.HumanAccuracy(gts.Count, (i, j) => j != i, j => gts[j] == res);
    }

    /// <summary>Scores against the val annotations; also returns each image's accuracy (evalQA: 100 × accuracy, rounded).</summary>
    internal static VizWizResult Score(string directory, AnswerFile answers, bool lmms = false)
    {
        var annotationPath = Path.Combine(directory, AnnotationFile);
        var annotations = ReadAnnotations(annotationPath);
        var questions = LlavaEvalFiles.ReadQuestionFile(LlavaEvalFiles.FindFirst(directory, ValQuestionFile, QuestionFile));
        var problems = new List<InputProblem>(answers.Problems);

        // The converter's upload, keyed by image as the official code reads it (a later image entry wins).
        var byImage = new Dictionary<string, string>(StringComparer.Ordinal);
        var asked = new HashSet<string>(StringComparer.Ordinal);
        foreach (var q in questions)
        {
            asked.Add(q.Id);
            if (answers.ById.TryGetValue(q.Id, out var answer))
            {
                byImage[q.Image] = lmms ? answer.Text : VqaAnswerNormalizer.EvalAiAnswer(answer.Text);
            }
            else
            {
                byImage.Remove(q.Image);
            }
        }
        foreach (var answer in answers.Answers.Where(a => !asked.Contains(a.QuestionId)))
        {
            problems.Add(new InputProblem(answers.Path, answer.Line, $"question {answer.QuestionId} is not in the question file; not scored"));
        }
        var annotated = new HashSet<string>(annotations.Select(a => a.Image), StringComparer.Ordinal);
        foreach (var q in questions.Where(q => answers.ById.ContainsKey(q.Id) && !annotated.Contains(q.Image)))
        {
            problems.Add(new InputProblem(answers.Path, answers.ById[q.Id].Line, $"question {q.Id}: image {q.Image} is not in {AnnotationFile}; not scored"));
        }

        var all = new List<double>();
        var byType = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var perImage = new Dictionary<string, double>(StringComparer.Ordinal);
        var missing = 0;
        foreach (var annotation in annotations)
        {
            if (!byImage.TryGetValue(annotation.Image, out var prediction))
            {
                prediction = "";
                missing++;
            }
            var accuracy = lmms ? ImageAccuracyLmmsEval(annotation.Answers, prediction) : ImageAccuracy(annotation.Answers, prediction);
            all.Add(accuracy);
            VqaFamily.Add(byType, annotation.AnswerType, accuracy);
            perImage[annotation.Image] = PythonText.RoundPython3(100 * accuracy, 2);
        }

        if (lmms)
        {
            var lmmsResult = new BenchmarkMetrics("vizwiz", new JsonObject { ["overall"] = all.Count == 0 ? 0.0 : all.Sum() / all.Count * 100 }, annotations.Count - missing, annotations.Count, problems, LmmsEvalVariant);
            if (missing > 0)
            {
                lmmsResult.Notes.Add($"{missing} of {annotations.Count} annotated images had no answer; read as the empty text (0 accuracy), as lmms-eval always generates one.");
            }
            return new VizWizResult(lmmsResult, perImage);
        }
        var metrics = new JsonObject
        {
            ["overall"] = VqaFamily.Percent(all, PythonText.RoundPython3),
            ["perAnswerType"] = VqaFamily.Percents(byType, PythonText.RoundPython3),
        };
        var result = new BenchmarkMetrics("vizwiz", metrics, annotations.Count - missing, annotations.Count, problems);
        if (missing > 0)
        {
            result.Notes.Add($"{missing} of {annotations.Count} annotated images had no answer; scored as the empty answer (0 accuracy). The official code requires every image.");
        }
        result.Notes.Add("Caption metrics (BLEU, METEOR, ROUGE-L, CIDEr) and answerability AP/F1 of the VizWiz evaluation are not computed.");
        return new VizWizResult(result, perImage);
    }

    /// <summary>
    /// Writes the test upload as scripts/convert_vizwiz_for_submission.py does: one <c>{"image", "answer"}</c>
    /// per line of <see cref="QuestionFile"/>, in its order, the answer being
    /// <see cref="VqaAnswerNormalizer.EvalAiAnswer"/> of the model's text; formatted as Python's <c>json.dump</c>.
    /// </summary>
    /// <exception cref="ArgumentException">A question has no answer (the script asserts that every question is answered); nothing is written.</exception>
    /// <exception cref="BenchmarkFormatException">The question file is missing or malformed.</exception>
    public static void WriteSubmission(string directory, AnswerFile answers, string outputPath)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        ArgumentNullException.ThrowIfNull(answers);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        var questions = LlavaEvalFiles.ReadQuestionFile(Path.Combine(directory, QuestionFile));
        var unanswered = questions.Where(q => !answers.ById.ContainsKey(q.Id)).Select(q => q.Id).ToList();
        if (unanswered.Count > 0)
        {
            throw new ArgumentException(
                $"{answers.Path}: {unanswered.Count} of {questions.Count} questions in {QuestionFile} have no answer (e.g. {string.Join(", ", unanswered.Take(5))}); the VizWiz upload needs every one.",
                nameof(answers));
        }
        VqaFamily.WriteJsonList(outputPath, questions.Count, (sb, i) =>
        {
            sb.Append("{\"image\": ");
            PythonText.AppendJsonString(sb, questions[i].Image);
            sb.Append(", \"answer\": ");
            PythonText.AppendJsonString(sb, VqaAnswerNormalizer.EvalAiAnswer(answers.ById[questions[i].Id].Text));
            sb.Append('}');
        });
    }

    /// <summary>One image's accuracy as the VizWiz vqaEval.py computes it (see the class remarks).</summary>
    internal static double ImageAccuracy(IReadOnlyList<string> humans, string prediction)
    {
        var res = VqaAnswerNormalizer.VizWiz.Normalize(VqaFamily.Clean(prediction));
        return VqaFamily.HumanAccuracy(humans.Count, (i, j) => j != i, j => humans[j] == res);
    }

    private static List<VizWizAnnotation> ReadAnnotations(string path)
    {
        using var document = LlavaEvalFiles.ReadJson(path, AnnotationFormat);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(path, AnnotationFormat, $"the top level is a JSON {root.ValueKind}, not a list");
        }
        // The official index is a dict by image: a repeated image keeps its first position and its last entry.
        var order = new List<string>();
        var byImage = new Dictionary<string, VizWizAnnotation>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in root.EnumerateArray())
        {
            index++;
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("answer_type", out var type) || type.ValueKind != JsonValueKind.String
                || !item.TryGetProperty("answers", out var list) || list.ValueKind != JsonValueKind.Array || list.GetArrayLength() == 0
                || list.EnumerateArray().Any(a => a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("answer", out var t) || t.ValueKind != JsonValueKind.String))
            {
                throw BenchmarkFormatException.For(path, AnnotationFormat, $"entry {index} lacks image, answer_type or an answers list of {{\"answer\": str}}");
            }
            var name = image.GetString()!;
            if (!byImage.ContainsKey(name))
            {
                order.Add(name);
            }
            byImage[name] = new VizWizAnnotation(name, type.GetString()!, list.EnumerateArray().Select(a => a.GetProperty("answer").GetString()!).ToList());
        }
        return order.Select(i => byImage[i]).ToList();
    }

    private sealed record VizWizAnnotation(string Image, string AnswerType, IReadOnlyList<string> Answers);
}

/// <summary>VizWiz's metrics and each image's accuracy (evalQA).</summary>
internal sealed record VizWizResult(BenchmarkMetrics Metrics, IReadOnlyDictionary<string, double> PerImage);
