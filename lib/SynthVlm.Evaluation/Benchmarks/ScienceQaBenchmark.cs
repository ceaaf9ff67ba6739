using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// ScienceQA as LLaVA-1.5 evaluates it (scripts/v1_5/eval/sqa.sh, llava/eval/eval_science_qa.py):
/// the question file <c>llava_test_CQM-A.json</c> (LLaVA conversations whose first turn holds the
/// question, its context and the "A. ..." options), <c>pid_splits.json</c>, <c>problems.json</c>
/// and <c>images/test/</c>. Metrics: "acc" (percent), "correct" and "count" over the "test" split,
/// and "img_acc" (percent; the paper's ScienceQA-IMG), "img_correct" and "img_count".
/// </summary>
/// <remarks>
/// <para>The official definition and its quirks, reproduced:</para>
/// <list type="bullet">
/// <item>An answer is a letter when its text is exactly one of A–E, or starts with a letter A–E
/// followed by ". "; otherwise when "The answer is X." occurs exactly once (X a capital A–Z; the
/// final '.' is a regex wildcard, so any character after X will do); otherwise it is FAILED. So
/// "B" and "B. apostrophe" are B, while "(B)", "b", "B." and "" are FAILED. A letter beyond the
/// problem's choices is wrong.</item>
/// <item>Answers are looked up by their <c>question_id</c> as JSON gives it: an integer id 4 does
/// not match the problem "4" (the official dictionary keys differ), so such an answer is missing.</item>
/// <item>A missing answer is FAILED and counts in "count" as wrong.</item>
/// <item>IMG is decided by the answer, not the problem: a problem counts in img_count when its
/// answer's <c>prompt</c> contains "&lt;image&gt;" (model_vqa_science.py writes that prompt), so a
/// missing answer (prompt "Unknown") or an answer without that prompt leaves IMG's denominator
/// (<see cref="BenchmarkQuestion.AnswerFields"/> asks the runner to write the prompt).</item>
/// </list>
/// <para>Where the official code fails instead (an answer without a <c>prompt</c>, IMG with no
/// image answer), this class reads the answer as having no image, or leaves img_acc out with a note.</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/scienceqa/utils.py
/// <c>sqa_process_results</c>, tasks "scienceqa" and "scienceqa_img"), with its quirks:</para>
/// <list type="bullet">
/// <item>An answer (stripped, as lmms-eval's task strips every generation) is right when its
/// lower-cased text is the right letter in lower case, or when it has at least two characters, the
/// first an upper-case letter and the second '.', and that letter lower-cased is the right one
/// (<see cref="IsRightLmmsEval"/>). So "b", " B", "B\n" and "B." are right where the official
/// script fails them, while "C. z" is right in both and "The answer is B." is wrong here.</item>
/// <item>"acc" is the mean over the test split's problems (lmms-eval's "scienceqa", ScienceQA-FULL)
/// and "img_acc" over those whose problems.json entry has an "image" (its "scienceqa_img",
/// ScienceQA-IMG), both in percent (lmms-eval prints the fraction) under the official keys, with
/// "correct", "count", "img_correct" and "img_count".</item>
/// <item>Answers are looked up as above; lmms-eval generates an answer for every problem, so a
/// missing one is read as the empty text (wrong), with a note.</item>
/// </list>
/// </remarks>
public sealed partial class ScienceQaBenchmark : IBenchmark
{
    /// <summary>LLaVA's question file.</summary>
    public const string QuestionFile = "llava_test_CQM-A.json";

    /// <summary>The instruction model_vqa_science.py appends (<c>--single-pred-prompt</c>).</summary>
    public const string Instruction = "Answer with the option's letter from the given choices directly.";

    /// <summary>The split scored.</summary>
    public const string Split = "test";

    /// <summary>model_vqa_science.py generates up to 1024 new tokens.</summary>
    public const int MaxNewTokens = 1024;

    /// <summary>The variant that scores as lmms-eval's ScienceQA tasks do.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private static readonly string[] Options = ["A", "B", "C", "D", "E"];
    private const string QuestionFormat = "a JSON array of LLaVA conversations {\"id\", \"image\"?, \"conversations\": [{\"from\": \"human\", \"value\"}, ...]}";
    private const string SplitsFormat = "a JSON object of split name -> problem ids (ScienceQA's pid_splits.json)";
    private const string ProblemsFormat = "a JSON object of problem id -> {\"choices\": [...], \"answer\": index} (ScienceQA's problems.json)";

    /// <inheritdoc />
    public string Name => "scienceqa";

    /// <inheritdoc />
    public string DisplayName => "ScienceQA-IMG";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants { get; } = [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile}, pid_splits.json, problems.json, images/test/<id>/image.png";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var path = Path.Combine(directory, QuestionFile);
        var root = LlavaEvalFiles.ReadJson(path, QuestionFormat, JsonValueKind.Array);
        var questions = new List<BenchmarkQuestion>();
        var index = 0;
        foreach (var item in root.EnumerateArray())
        {
            index++;
            if (item.ValueKind != JsonValueKind.Object
                || !item.TryGetProperty("id", out var idElement) || AnswerFile.IdText(idElement) is not { } id
                || !item.TryGetProperty("conversations", out var turns) || turns.ValueKind != JsonValueKind.Array || turns.GetArrayLength() == 0
                || !turns[0].TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.String)
            {
                throw BenchmarkFormatException.For(path, QuestionFormat, $"item {index} has no \"id\" or no first turn with a \"value\" string");
            }
            var text = PythonText.Strip(value.GetString()!.Replace("<image>", string.Empty, StringComparison.Ordinal)) + "\n" + Instruction;
            var image = LlavaEvalFiles.ImagePath(directory, Path.Combine("images", Split), item);
            questions.Add(new BenchmarkQuestion(id, text, image, MaxNewTokens)
            {
                AnswerFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["prompt"] = image is null ? text : "<image>\n" + text },
                IdIsNumber = idElement.ValueKind == JsonValueKind.Number,
            });
        }
        return questions;
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var lmms = scoring.Variant switch
        {
            null => false,
            LmmsEvalVariant => true,
            _ => throw new ArgumentException($"ScienceQA has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
        var splitsPath = Path.Combine(scoring.Directory, "pid_splits.json");
        var splits = LlavaEvalFiles.ReadJson(splitsPath, SplitsFormat, JsonValueKind.Object);
        if (!splits.TryGetProperty(Split, out var ids) || ids.ValueKind != JsonValueKind.Array)
        {
            throw BenchmarkFormatException.For(splitsPath, SplitsFormat, $"no \"{Split}\" array");
        }
        var problemsPath = Path.Combine(scoring.Directory, "problems.json");
        var problems = LlavaEvalFiles.ReadJson(problemsPath, ProblemsFormat, JsonValueKind.Object);

        var answers = new Dictionary<string, ModelAnswer>(StringComparer.Ordinal);
        foreach (var answer in scoring.Answers.All)
        {
            answers[LlavaEvalFiles.AnswerKey(answer)] = answer;
        }
        int correct = 0, total = 0, imgCorrect = 0, imgTotal = 0, scored = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var idElement in ids.EnumerateArray())
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (idElement.ValueKind != JsonValueKind.String)
            {
                throw BenchmarkFormatException.For(splitsPath, SplitsFormat, $"the {Split} split has the id {idElement.GetRawText()}, not a string");
            }
            if (!seen.Add(idElement.GetString()!))
            {
                continue;
            }
            var id = idElement.GetString()!;
            if (!problems.TryGetProperty(id, out var problem) || problem.ValueKind != JsonValueKind.Object
                || !problem.TryGetProperty("choices", out var choices) || choices.ValueKind != JsonValueKind.Array
                || !problem.TryGetProperty("answer", out var truthElement) || !truthElement.TryGetInt32(out var truth))
            {
                throw BenchmarkFormatException.For(problemsPath, ProblemsFormat, $"problem {id} of the {Split} split is missing or has no \"choices\" array and integer \"answer\"");
            }
            var text = lmms ? string.Empty : "FAILED";
            var multimodal = false;
            if (LlavaEvalFiles.TryFind(answers, "s:" + id, id, out var answer))
            {
                scored++;
                text = answer.Text;
                multimodal = LlavaEvalFiles.AnswerString(answer, "prompt")?.Contains("<image>", StringComparison.Ordinal) == true;
            }
            bool right;
            if (lmms)
            {
                if (truth < 0 || truth >= choices.GetArrayLength())
                {
                    throw BenchmarkFormatException.For(problemsPath, ProblemsFormat, $"problem {id}'s answer {truth} is not an index of its {choices.GetArrayLength()} choices");
                }
                multimodal = problem.TryGetProperty("image", out var image) && image.ValueKind == JsonValueKind.String;
                right = IsRightLmmsEval(text, (char)('A' + truth));
            }
            else
            {
                right = Array.IndexOf(Options, ParseLetter(text)) is var index && index >= 0 && index < choices.GetArrayLength() && index == truth;
            }
            total++;
            correct += right ? 1 : 0;
            imgTotal += multimodal ? 1 : 0;
            imgCorrect += multimodal && right ? 1 : 0;
        }
        if (total == 0)
        {
            throw BenchmarkFormatException.For(splitsPath, SplitsFormat, $"the {Split} split is empty");
        }
        var metrics = new JsonObject
        {
            ["acc"] = (double)correct / total * 100,
            ["correct"] = correct,
            ["count"] = total,
        };
        var notes = new List<string>();
        if (imgTotal > 0)
        {
            metrics["img_acc"] = (double)imgCorrect / imgTotal * 100;
        }
        else
        {
            notes.Add(lmms ? "no test problem has an image: img_acc left out" : "no answer's prompt has <image>: img_acc left out (the official script divides by zero)");
        }
        metrics["img_correct"] = imgCorrect;
        metrics["img_count"] = imgTotal;
        if (scored < total)
        {
            notes.Add(lmms
                ? $"{total - scored} of {total} problems had no answer (looked up by question_id as JSON types it): read as the empty text (wrong)"
                : $"{total - scored} of {total} problems had no answer (looked up by question_id as JSON types it): counted as wrong, and not in IMG's count");
        }
        return Task.FromResult(new BenchmarkMetrics(Name, metrics, scored, total, scoring.Answers.Problems, scoring.Variant).WithNotes(notes));
    }

    /// <summary>eval_science_qa.py's reading of an answer: a letter, or "FAILED".</summary>
    public static string ParseLetter(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (Options.Contains(text, StringComparer.Ordinal))
        {
            return text;
        }
        if (text.Length >= 3 && text[0] is >= 'A' and <= 'E' && text[1] == '.' && text[2] == ' ')
        {
            return text[..1];
        }
        var found = AnswerIs().Matches(text);
        return found.Count == 1 ? found[0].Groups[1].Value : "FAILED";
    }

    /// <summary>
    /// lmms-eval's <c>sqa_process_results</c> on an answer (stripped first, as its task strips every
    /// generation) whose right option is <paramref name="letter"/> (A, B, ...).
    /// </summary>
    public static bool IsRightLmmsEval(string text, char letter)
    {
        ArgumentNullException.ThrowIfNull(text);
        var target = PythonText.Lower(letter.ToString());
        var pred = PythonText.Strip(PythonText.Strip(text));
        if (PythonText.Lower(pred) == target)
        {
            return true;
        }
        if (PythonText.Length(pred) < 2)
        {
            return false;
        }
        var first = PythonText.Prefix(pred, 1);
        var second = PythonText.Prefix(pred[first.Length..], 1);
        // pred[0].isupper() and pred[0].lower() == target: the target is a lower-case ASCII letter, and
        // the only code points lower-casing to one are that letter itself (not upper case) and its
        // capital (upper case; the Kelvin sign lower-cases to "k", beyond any ScienceQA option).
        return second == "." && first != target && PythonText.Lower(first) == target;
    }

    [GeneratedRegex("The answer is ([A-Z]).", RegexOptions.CultureInvariant)]
    private static partial Regex AnswerIs();
}
