using System.Text.Json.Nodes;

namespace SynthVlm.Evaluation.Benchmarks;

/// <summary>
/// MME as LLaVA-1.5 evaluates it (scripts/v1_5/eval/mme.sh): the question file
/// <c>llava_mme.jsonl</c> and the release folder <c>MME_Benchmark_release_version/</c> (per
/// subtask either <c>images/</c> + <c>questions_answers_YN/*.txt</c> or the images and the .txt files
/// side by side, each line "question TAB Yes|No"); answers converted to per-subtask lines as LLaVA's
/// <c>convert_answer_to_mme.py</c> does and scored as MME's <c>eval_tool/calculation.py</c> does.
/// Metrics: "perception" and "cognition" (sums of subtask scores), each subtask's score under its
/// official name (score = 100·acc + 100·acc+), and per subtask its "acc" and "acc_plus" (fractions)
/// under the keys "acc" and "acc_plus".
/// </summary>
/// <remarks>
/// <para>The official definition and its quirks, reproduced:</para>
/// <list type="bullet">
/// <item>An answer is matched to its ground truth by the subtask (question id before the first
/// '/'), the .txt file named after the image (the id's last part up to its first '.') and the
/// answer's <c>prompt</c>, with "Answer the question using a single word or phrase." removed and
/// the prompt stripped, then " Please answer yes or no." appended when absent (tried with two
/// spaces when one does not match). The answers file must carry <c>prompt</c>
/// (<see cref="BenchmarkQuestion.AnswerFields"/> asks for it).</item>
/// <item>An answer is read from the first four characters of its lower-cased text followed by the
/// line end calculation.py leaves on it: "yes" there is yes, else "no" there is no, else "other"
/// (so "Yes, ..." and "yes" are yes; "Not sure", "None" and "nothing" are no; "" and "I think yes"
/// are other). "other" is never correct.</item>
/// <item>acc+ pairs the subtask's lines two by two in answers-file order ("one image corresponds to
/// two questions"): a pair counts when both are right.</item>
/// </list>
/// <para>Where the official code fails instead, this class decides: a line whose prompt has no
/// ground truth is an <see cref="InputProblem"/>; an answer text with a line break or tab (which
/// breaks the .txt format) is read up to it; when a subtask's questions are not each answered
/// exactly once, the subtask is scored in question-file order with each missing answer read as
/// "other" (wrong) and a second answer to a question ignored, with a note. A subtask with no
/// questions scores 0, with a note.</para>
/// <para>Variant "lmms-eval" (<see cref="LmmsEvalVariant"/>; lmms_eval/tasks/mme/utils.py, the
/// same questions, ground truth and answer matching as above), with its quirks:</para>
/// <list type="bullet">
/// <item>An answer is read by <see cref="ParseAnswerLmmsEval"/>: the text stripped (lmms-eval's task
/// strips every generation), lower-cased, stripped and with every '.' removed; "yes" or "no" is
/// itself, a one-character "y" or "n" is yes or no (any other single character is "other"); longer
/// texts are read from their first four characters ("yes" there, else "no" there). So " Yes",
/// "y", "n" and "..no" are read where the official script reads "other" or differently.</item>
/// <item>acc+ pairs by <c>question_id</c> (the image), not by position: each image's score is
/// 100·(its right share) + 100·(both right, as "two scores summing to 2"), and a subtask's score
/// is the mean over its images. "perception" and "cognition" sum the subtasks that have
/// questions; no "acc"/"acc_plus" breakdown (lmms-eval reports none).</item>
/// <item>lmms-eval generates an answer for every question, so a missing answer is read as the empty
/// text ("other", wrong), with a note; a second answer to a question is ignored. An image with other
/// than two questions (lmms-eval's assertion fails) is scored by the same formula, with a note.</item>
/// </list>
/// </remarks>
public sealed class MmeBenchmark : IBenchmark
{
    /// <summary>The question file.</summary>
    public const string QuestionFile = "llava_mme.jsonl";

    /// <summary>The release folder: images and ground truth.</summary>
    public const string ReleaseFolder = "MME_Benchmark_release_version";

    /// <summary>The perception subtasks, in calculation.py's order.</summary>
    public static readonly IReadOnlyList<string> Perception = ["existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark", "artwork", "OCR"];

    /// <summary>The cognition subtasks, in calculation.py's order.</summary>
    public static readonly IReadOnlyList<string> Cognition = ["commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning"];

    /// <summary>The variant that parses and aggregates as lmms-eval's MME task does.</summary>
    public const string LmmsEvalVariant = "lmms-eval";

    private const string QuestionFormat = "JSONL of {\"question_id\": \"<subtask>/<image>\", \"image\", \"text\", \"category\"} objects (LLaVA's llava_mme.jsonl)";
    private const string GroundTruthFormat = "lines \"question<TAB>Yes|No\"";
    private const string SingleWord = "Answer the question using a single word or phrase.";
    private const string YesNo = " Please answer yes or no.";

    /// <inheritdoc />
    public string Name => "mme";

    /// <inheritdoc />
    public string DisplayName => "MME";

    /// <inheritdoc />
    public IReadOnlyList<string> Variants { get; } = [LmmsEvalVariant];

    /// <inheritdoc />
    public string ExpectedLayout => $"{QuestionFile}, {ReleaseFolder}/<subtask>/(images/ + questions_answers_YN/*.txt | images and *.txt)";

    /// <inheritdoc />
    public IEnumerable<BenchmarkQuestion> ReadQuestions(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        var path = Path.Combine(directory, QuestionFile);
        return [.. LlavaEvalFiles.ReadJsonLines(path, QuestionFormat).Select(q =>
        {
            var text = LlavaEvalFiles.RequiredString(q.Item, "text", path, q.Line, QuestionFormat);
            return new BenchmarkQuestion(LlavaEvalFiles.RequiredId(q.Item, "question_id", path, q.Line, QuestionFormat), text, LlavaEvalFiles.ImagePath(directory, ReleaseFolder, q.Item))
            {
                AnswerFields = new Dictionary<string, string>(StringComparer.Ordinal) { ["prompt"] = text },
                IdIsNumber = LlavaEvalFiles.IsNumber(q.Item, "question_id"),
            };
        })];
    }

    /// <inheritdoc />
    public Task<BenchmarkMetrics> ScoreAsync(BenchmarkScoring scoring, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(scoring);
        var lmms = scoring.Variant switch
        {
            null => false,
            LmmsEvalVariant => true,
            _ => throw new ArgumentException($"MME has no variant '{scoring.Variant}'; known: {LmmsEvalVariant}.", nameof(scoring)),
        };
        var truth = ReadGroundTruth(Path.Combine(scoring.Directory, ReleaseFolder));
        var questionPath = Path.Combine(scoring.Directory, QuestionFile);
        var questions = new Dictionary<string, List<Key>>(StringComparer.Ordinal);
        var imageOf = new Dictionary<Key, string>();
        foreach (var (line, item) in LlavaEvalFiles.ReadJsonLines(questionPath, QuestionFormat))
        {
            var id = LlavaEvalFiles.RequiredId(item, "question_id", questionPath, line, QuestionFormat);
            var text = LlavaEvalFiles.RequiredString(item, "text", questionPath, line, QuestionFormat);
            var key = Match(truth, id, text)
                ?? throw BenchmarkFormatException.For(questionPath, QuestionFormat, $"line {line}: question {id} \"{text}\" has no ground truth in {ReleaseFolder}");
            Add(questions, key.Subtask, key);
            imageOf.TryAdd(key, id);
        }
        var problems = new List<InputProblem>(scoring.Answers.Problems);
        var answered = new Dictionary<string, List<(Key Key, string Text)>>(StringComparer.Ordinal);
        foreach (var answer in scoring.Answers.All)
        {
            if (LlavaEvalFiles.AnswerString(answer, "prompt") is not { } prompt)
            {
                problems.Add(new InputProblem(scoring.Answers.Path, answer.Line, $"question {answer.QuestionId}: no \"prompt\" string (MME matches answers by prompt)"));
                continue;
            }
            if (Match(truth, answer.QuestionId, prompt) is not { } key)
            {
                problems.Add(new InputProblem(scoring.Answers.Path, answer.Line, $"question {answer.QuestionId} \"{prompt}\" has no ground truth in {ReleaseFolder}"));
                continue;
            }
            Add(answered, key.Subtask, (key, answer.Text));
        }
        if (lmms)
        {
            return Task.FromResult(ScoreLmmsEval(questions, answered, imageOf, truth, problems, cancellationToken));
        }
        var metrics = new JsonObject();
        var acc = new JsonObject();
        var accPlus = new JsonObject();
        var notes = new List<string>();
        var scored = 0;
        foreach (var (group, subtasks) in new[] { ("perception", Perception), ("cognition", Cognition) })
        {
            var total = 0.0;
            foreach (var subtask in subtasks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var lines = Lines(subtask, questions.GetValueOrDefault(subtask) ?? [], answered.GetValueOrDefault(subtask) ?? [], truth, notes);
                if (lines.Count == 0)
                {
                    notes.Add($"subtask {subtask}: no questions, scored 0 (calculation.py cannot open its file)");
                    metrics[subtask] = 0.0;
                    continue;
                }
                scored += lines.Count(l => l.Answered);
                var right = lines.Count(l => l.Right);
                var pairs = 0;
                var pairsRight = 0;
                for (var i = 0; i < lines.Count; i += 2)
                {
                    pairs++;
                    pairsRight += i + 1 < lines.Count && lines[i].Right && lines[i + 1].Right ? 1 : 0;
                }
                if (lines.Count % 2 != 0)
                {
                    notes.Add($"subtask {subtask}: {lines.Count} lines, not pairs; the last stands alone and never counts for acc+");
                }
                var a = (double)right / lines.Count;
                var ap = (double)pairsRight / pairs;
                var score = 0.0;
                score += a * 100;
                score += ap * 100;
                metrics[subtask] = score;
                acc[subtask] = a;
                accPlus[subtask] = ap;
                total += score;
            }
            metrics[group] = total;
        }
        metrics["acc"] = acc;
        metrics["acc_plus"] = accPlus;
        return Task.FromResult(new BenchmarkMetrics(Name, metrics, scored, questions.Values.Sum(q => q.Count), problems).WithNotes(notes));
    }

    /// <summary>calculation.py's reading of an answer: "yes", "no" or "other".</summary>
    public static string ParseAnswer(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var end = text.AsSpan().IndexOfAny('\t', '\n', '\r');
        var line = (end >= 0 ? text[..end] : text) + "\n";
        var prefix = PythonText.Prefix(PythonText.LowerWithoutFinalSigma(line), 4);
        return prefix.Contains("yes", StringComparison.Ordinal) ? "yes" : prefix.Contains("no", StringComparison.Ordinal) ? "no" : "other";
    }

    /// <summary>
    /// lmms-eval's reading of an answer (its task's strip of the generation, then
    /// <c>parse_pred_ans</c>): "yes", "no" or "other".
    /// </summary>
    public static string ParseAnswerLmmsEval(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var pred = PythonText.Strip(PythonText.Lower(PythonText.Strip(text))).Replace(".", string.Empty, StringComparison.Ordinal);
        if (pred is "yes" or "no")
        {
            return pred;
        }
        if (PythonText.Length(pred) == 1)
        {
            return pred == "y" ? "yes" : pred == "n" ? "no" : "other";
        }
        var prefix = PythonText.Prefix(pred, 4);
        return prefix.Contains("yes", StringComparison.Ordinal) ? "yes" : prefix.Contains("no", StringComparison.Ordinal) ? "no" : "other";
    }

    private BenchmarkMetrics ScoreLmmsEval(Dictionary<string, List<Key>> questions, Dictionary<string, List<(Key Key, string Text)>> answered, Dictionary<Key, string> imageOf, Dictionary<Key, string> truth, List<InputProblem> problems, CancellationToken cancellationToken)
    {
        var metrics = new JsonObject();
        var notes = new List<string>();
        var scored = 0;
        foreach (var (group, subtasks) in new[] { ("perception", Perception), ("cognition", Cognition) })
        {
            var total = 0.0;
            var present = 0;
            foreach (var subtask in subtasks)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var keys = questions.GetValueOrDefault(subtask) ?? [];
                if (keys.Count == 0)
                {
                    continue;
                }
                present++;
                var first = new Dictionary<Key, string>();
                var answers = answered.GetValueOrDefault(subtask) ?? [];
                foreach (var (key, text) in answers)
                {
                    first.TryAdd(key, text);
                }
                if (first.Count != answers.Count)
                {
                    notes.Add($"subtask {subtask}: {answers.Count - first.Count} second answers to a question ignored");
                }
                var images = new Dictionary<string, List<double>>(StringComparer.Ordinal);
                var imageOrder = new List<string>();
                foreach (var key in keys.Distinct())
                {
                    string text;
                    if (first.TryGetValue(key, out var found))
                    {
                        text = found;
                        scored++;
                    }
                    else
                    {
                        text = string.Empty;
                        notes.Add($"subtask {subtask}: question {imageOf[key]} \"{key.Question}\" has no answer; read as the empty text (wrong)");
                    }
                    var score = PythonText.Lower(PythonText.Strip(truth[key])).Replace(".", string.Empty, StringComparison.Ordinal) == ParseAnswerLmmsEval(text) ? 1.0 : 0.0;
                    var image = imageOf[key];
                    if (!images.TryGetValue(image, out var scores))
                    {
                        images[image] = scores = [];
                        imageOrder.Add(image);
                    }
                    scores.Add(score);
                }
                var sum = 0.0;
                foreach (var image in imageOrder)
                {
                    var scores = images[image];
                    if (scores.Count != 2)
                    {
                        notes.Add($"subtask {subtask}: image {image} has {scores.Count} questions, not 2 (lmms-eval asserts pairs); scored by the same formula");
                    }
                    var right = scores.Sum();
                    var acc = right / scores.Count * 100.0;
                    var accPlus = right == 2 ? 100.0 : 0.0;
                    sum += accPlus + acc;
                }
                var average = sum / imageOrder.Count;
                metrics[subtask] = average;
                total += average;
            }
            if (present == 0)
            {
                notes.Add($"{group}: no subtask has questions, scored 0 (lmms-eval reports no {group} score)");
            }
            metrics[group] = total;
        }
        return new BenchmarkMetrics(Name, metrics, scored, questions.Values.Sum(q => q.Count), problems, LmmsEvalVariant).WithNotes(notes);
    }

    private static List<(bool Answered, bool Right)> Lines(string subtask, List<Key> questions, List<(Key Key, string Text)> answers, Dictionary<Key, string> truth, List<string> notes)
    {
        var complete = answers.Count == questions.Count
            && answers.Select(a => a.Key).ToHashSet().SetEquals(questions)
            && answers.Select(a => a.Key).Distinct().Count() == answers.Count
            && questions.Distinct().Count() == questions.Count;
        if (complete)
        {
            return [.. answers.Select(a => (true, Right(truth[a.Key], a.Text)))];
        }
        notes.Add($"subtask {subtask}: {answers.Count} answers for {questions.Count} questions; scored in question-file order, a missing answer counts as wrong");
        var first = new Dictionary<Key, string>();
        foreach (var (key, text) in answers)
        {
            first.TryAdd(key, text);
        }
        return [.. questions.Select(q => first.TryGetValue(q, out var text) ? (true, Right(truth[q], text)) : (false, false))];
    }

    private static bool Right(string groundTruth, string text) => PythonText.LowerWithoutFinalSigma(groundTruth) == ParseAnswer(text);

    private static Key? Match(Dictionary<Key, string> truth, string questionId, string prompt)
    {
        var subtask = questionId.Split('/')[0];
        var file = questionId.Split('/')[^1].Split('.')[0] + ".txt";
        if (prompt.Contains(SingleWord, StringComparison.Ordinal))
        {
            prompt = PythonText.Strip(prompt.Replace(SingleWord, string.Empty, StringComparison.Ordinal));
        }
        if (!prompt.Contains(YesNo[1..], StringComparison.Ordinal))
        {
            prompt += YesNo;
            if (!truth.ContainsKey(new Key(subtask, file, prompt)))
            {
                prompt = prompt.Replace(YesNo, " " + YesNo, StringComparison.Ordinal);
            }
        }
        var key = new Key(subtask, file, prompt);
        return truth.ContainsKey(key) ? key : null;
    }

    private static Dictionary<Key, string> ReadGroundTruth(string release)
    {
        if (!Directory.Exists(release))
        {
            throw BenchmarkFormatException.For(release, $"the MME release folder: <subtask>/questions_answers_YN/*.txt or <subtask>/*.txt, {GroundTruthFormat}", "the folder does not exist");
        }
        var truth = new Dictionary<Key, string>();
        foreach (var categoryDir in Directory.GetDirectories(release).Order(StringComparer.Ordinal))
        {
            var category = Path.GetFileName(categoryDir);
            var qa = Directory.Exists(Path.Combine(categoryDir, "images")) ? Path.Combine(categoryDir, "questions_answers_YN") : categoryDir;
            if (!Directory.Exists(qa))
            {
                throw BenchmarkFormatException.For(qa, $"a folder of .txt files, {GroundTruthFormat}", "the folder does not exist");
            }
            foreach (var file in Directory.GetFiles(qa, "*.txt").Order(StringComparer.Ordinal))
            {
                var lines = PythonText.Lines(File.ReadAllText(file));
                for (var i = 0; i < lines.Count; i++)
                {
                    var stripped = PythonText.Strip(lines[i]);
                    if (stripped.Length == 0)
                    {
                        continue;
                    }
                    var parts = stripped.Split('\t');
                    if (parts.Length != 2)
                    {
                        throw BenchmarkFormatException.For(file, GroundTruthFormat, $"line {i + 1} has {parts.Length} tab-separated fields");
                    }
                    if (PythonText.LowerWithoutFinalSigma(parts[1]) is not ("yes" or "no"))
                    {
                        throw BenchmarkFormatException.For(file, GroundTruthFormat, $"line {i + 1}'s answer is \"{parts[1]}\", not Yes or No");
                    }
                    truth[new Key(category, Path.GetFileName(file), parts[0])] = parts[1];
                }
            }
        }
        return truth;
    }

    private static void Add<T>(Dictionary<string, List<T>> lists, string key, T value)
    {
        if (!lists.TryGetValue(key, out var list))
        {
            lists[key] = list = [];
        }
        list.Add(value);
    }

    private readonly record struct Key(string Subtask, string File, string Question);
}
