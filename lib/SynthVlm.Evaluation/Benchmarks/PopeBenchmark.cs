using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// POPE as LLaVA-1.5 evaluates it (scripts/v1_5/eval/pope.sh, llava/eval/eval_pope.py): the
/// question file <c>llava_pope_test.jsonl</c>, one annotation file per split
/// (<c>coco/coco_pope_{adversarial,popular,random}.json</c>) and the COCO val2014 images; metrics
/// per split: accuracy, precision, recall, f1 and yes_ratio (fractions, as the script prints them),
/// with the confusion counts TP, FP, TN, FN.
/// </summary>
/// <remarks>
/// <para>The official definition and its quirks, reproduced:</para>
/// <list type="bullet">
/// <item>An answer is "no" when its first sentence (the text before the first '.'), with commas
/// removed and split on single spaces, has the word "No", "not" or "no"; everything else is "yes"
/// (an empty answer, "None", "Nope" and "I don't know" are all "yes").</item>
/// <item>A label is "no" only when it is exactly <c>"no"</c>; any other label is "yes".</item>
/// <item>Answers are matched to labels by position, not by id: the split's answers in answers-file
/// order are zipped with the annotation file's lines, and the shorter of the two decides how many
/// pairs there are. A missing answer therefore shifts every later pair of its split, exactly as in
/// the official script; yes_ratio is over all of the split's answers.</item>
/// <item>Every usable answers line counts, so a question answered twice counts twice.</item>
/// <item>A split is every <c>coco_pope_*.json</c> file in <c>coco/</c> (the name between
/// <c>coco_pope_</c> and <c>.json</c>); its answers are those whose question has that category.</item>
/// </list>
/// <para>Where the official script raises instead (precision or f1 of a split with no "yes"
/// prediction, a split with no answers, an answer whose question is not in the question file, a
/// file in <c>coco/</c> of another name), this class gives 0, leaves the split out with a note,
/// reports the answer as an <see cref="InputProblem"/>, or throws <see cref="BenchmarkFormatException"/>.</para>
/// <para>Variant "lmms-eval" (lmms_eval/tasks/pope/utils.py): the answer lower-cased and stripped
/// must be exactly "yes" or "no" (anything else is wrong and counts in neither precision nor
/// recall); labels lower-cased and stripped must be yes/no; yes_ratio is the share of "yes"
/// <em>labels</em>, as lmms-eval computes it; 0 where a denominator is 0. Pairing is the same as above.</para>
/// </remarks>
public sealed class PopeBenchmark : IBenchmark
{
    /// <summary>The question file.</summary>
    public const string QuestionFile = "llava_pope_test.jsonl";

    /// <summary>The folder of annotation files.</summary>
    public const string AnnotationFolder = "coco";

    /// <summary>The images folder.</summary>
    public const string ImageFolder = "val2014";

    /// <summary>The variant that parses and aggregates as lmms-eval does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private const string QuestionFormat = "JSONL of {\"question_id\", \"image\", \"text\", \"category\"} objects (LLaVA's llava_pope_test.jsonl)";
    private const string AnnotationFormat = "JSONL of {\"label\": \"yes\"|\"no\", ...} objects named coco_pope_<split>.json";

    /// <inheritdoc />
    public string Name => "pope";

    /// <inheritdoc />
    public string DisplayName => "POPE";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants { get; } = [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile}, {AnnotationFolder}/coco_pope_<split>.json (one {{\"label\"}} object a line), {ImageFolder}/ images";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        return LlavaEvalFiles.ReadBenchmarkQuestions(directory, QuestionFile, QuestionFormat, ImageFolder);
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var lmms = scoring.Variant switch
        {
            null => false,
            LmmsEvalVariant => true,
            _ => throw new ArgumentException($"POPE has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
        var questionPath = Path.Combine(scoring.Directory, QuestionFile);
        var categories = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (line, item) in LlavaEvalFiles.ReadJsonLines(questionPath, QuestionFormat))
        {
            categories[LlavaEvalFiles.RequiredId(item, "question_id", questionPath, line, QuestionFormat)] =
                LlavaEvalFiles.RequiredString(item, "category", questionPath, line, QuestionFormat);
        }
        var annotationDir = Path.Combine(scoring.Directory, AnnotationFolder);
        if (!Directory.Exists(annotationDir))
        {
            throw BenchmarkFormatException.For(annotationDir, $"a folder of {AnnotationFormat}", "the folder does not exist");
        }
        var problems = new List<InputProblem>(scoring.Answers.Problems);
        var byCategory = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        foreach (var answer in scoring.Answers.All)
        {
            if (!categories.TryGetValue(answer.QuestionId, out var category))
            {
                problems.Add(new InputProblem(scoring.Answers.Path, answer.Line, $"question {answer.QuestionId} is not in {QuestionFile}"));
                continue;
            }
            if (!byCategory.TryGetValue(category, out var list))
            {
                byCategory[category] = list = [];
            }
            list.Add(answer.Text);
        }
        var metrics = new JsonObject();
        var notes = new List<string>();
        var scored = 0;
        foreach (var file in Directory.GetFiles(annotationDir).Select(Path.GetFileName).Order(StringComparer.Ordinal))
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (!file!.StartsWith("coco_pope_", StringComparison.Ordinal) || !file.EndsWith(".json", StringComparison.Ordinal) || file.Length < 15)
            {
                throw BenchmarkFormatException.For(Path.Combine(annotationDir, file), $"only {AnnotationFormat} in {annotationDir}", "another file is there");
            }
            var split = file[10..^5];
            var labelPath = Path.Combine(annotationDir, file);
            var labels = LlavaEvalFiles.ReadJsonLines(labelPath, AnnotationFormat).Select(l =>
                l.Item.TryGetProperty("label", out var label)
                    ? label
                    : throw BenchmarkFormatException.For(labelPath, AnnotationFormat, $"line {l.Line} has no \"label\"")).ToList();
            if (labels.Count == 0)
            {
                throw BenchmarkFormatException.For(labelPath, AnnotationFormat, "the file has no labels");
            }
            var answers = byCategory.GetValueOrDefault(split) ?? [];
            if (answers.Count == 0)
            {
                notes.Add($"split {split}: no answers, left out (the official script divides by zero)");
                continue;
            }
            var pairs = Math.Min(answers.Count, labels.Count);
            scored += pairs;
            if (answers.Count != labels.Count)
            {
                notes.Add($"split {split}: {answers.Count} answers for {labels.Count} labels; answers and labels are paired by position, {pairs} pairs scored");
            }
            metrics[split] = lmms ? ScoreLmmsEval(answers, labels, labelPath, pairs) : ScoreOfficial(answers, labels, pairs);
        }
        return Task.FromResult(new BenchmarkMetrics(Name, metrics, scored, categories.Count, problems, scoring.Variant).WithNotes(notes));
    }

    /// <summary>eval_pope.py's reading of an answer: true for "yes".</summary>
    public static bool ParseYes(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var dot = text.IndexOf('.', StringComparison.Ordinal);
        if (dot >= 0)
        {
            text = text[..dot];
        }
        var words = text.Replace(",", string.Empty, StringComparison.Ordinal).Split(' ');
        return !words.Any(w => w is "No" or "not" or "no");
    }

    private static JsonObject ScoreOfficial(List<string> answers, List<JsonElement> labels, int pairs)
    {
        var predictions = answers.Select(ParseYes).ToList();
        var yesRatio = (double)predictions.Count(p => p) / predictions.Count;
        int tp = 0, fp = 0, tn = 0, fn = 0;
        for (var i = 0; i < pairs; i++)
        {
            var positive = !(labels[i].ValueKind == JsonValueKind.String && labels[i].GetString() == "no");
            switch (predictions[i], positive)
            {
                case (true, true): tp++; break;
                case (true, false): fp++; break;
                case (false, false): tn++; break;
                default: fn++; break;
            }
        }
        var precision = tp + fp == 0 ? 0.0 : (double)tp / (tp + fp);
        var recall = tp + fn == 0 ? 0.0 : (double)tp / (tp + fn);
        var f1 = precision + recall == 0 ? 0.0 : 2 * precision * recall / (precision + recall);
        var accuracy = (double)(tp + tn) / (tp + tn + fp + fn);
        return new JsonObject
        {
            ["accuracy"] = accuracy,
            ["precision"] = precision,
            ["recall"] = recall,
            ["f1"] = f1,
            ["yes_ratio"] = yesRatio,
            ["TP"] = tp,
            ["FP"] = fp,
            ["TN"] = tn,
            ["FN"] = fn,
        };
    }

    private static JsonObject ScoreLmmsEval(List<string> answers, List<JsonElement> labels, string labelPath, int pairs)
    {
        int correct = 0, tp = 0, fp = 0, fn = 0, yes = 0, no = 0;
        for (var i = 0; i < pairs; i++)
        {
            var pred = PythonText.Strip(PythonText.LowerWithoutFinalSigma(answers[i]));
            var gt = labels[i].ValueKind == JsonValueKind.String ? PythonText.Strip(PythonText.LowerWithoutFinalSigma(labels[i].GetString()!)) : null;
            if (gt is not ("yes" or "no"))
            {
                throw BenchmarkFormatException.For(labelPath, AnnotationFormat, $"label {i + 1} is {labels[i].GetRawText()}, not yes or no");
            }
            correct += pred == gt ? 1 : 0;
            tp += gt == "yes" && pred == "yes" ? 1 : 0;
            fp += gt == "no" && pred == "yes" ? 1 : 0;
            fn += gt == "yes" && pred == "no" ? 1 : 0;
            yes += gt == "yes" ? 1 : 0;
            no += gt == "no" ? 1 : 0;
        }
        var precision = tp + fp > 0 ? (double)tp / (tp + fp) : 0.0;
        var recall = tp + fn > 0 ? (double)tp / (tp + fn) : 0.0;
        return new JsonObject
        {
            ["accuracy"] = (double)correct / pairs,
            ["precision"] = precision,
            ["recall"] = recall,
            ["f1"] = precision + recall > 0 ? 2 * (precision * recall) / (precision + recall) : 0.0,
            ["yes_ratio"] = yes + no > 0 ? (double)yes / (yes + no) : 0.0,
        };
    }
}
