using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation;

/// <summary>How a benchmark is run.</summary>
/// <param name="Concurrency">Questions in flight at once (an endpoint's request limit; the in-process model batches what is in flight).</param>
/// <param name="ScoreOptions">
/// Whether questions with <see cref="BenchmarkQuestion.ScoredOptions"/> (MMLU) are answered by the model's scores of
/// those options when the model can give them (<see cref="IOptionScoringModel"/>): the answer is the option with the
/// highest score, as the official code's argmax, and the line records the scores (<c>option_scores</c>). A question
/// the model fails to score (an endpoint without logprobs) is answered by generation instead, which the benchmark
/// reads as text and its metrics' notes count. False, or a model that cannot score, generates every answer.
/// </param>
public sealed record BenchmarkRunOptions(int Concurrency = 8, bool ScoreOptions = true)
{
    /// <summary>Checks the values; throws naming the option.</summary>
    public void Validate() => ArgumentOutOfRangeException.ThrowIfLessThan(Concurrency, 1, nameof(Concurrency));
}

/// <summary>Where a benchmark run is.</summary>
/// <param name="Benchmark">The benchmark.</param>
/// <param name="Answered">Questions answered so far (reused ones included).</param>
/// <param name="Failed">Questions the model could not answer.</param>
public sealed record BenchmarkProgress(string Benchmark, int Answered, int Failed);

/// <summary>What a benchmark run produced.</summary>
/// <param name="Benchmark">The benchmark.</param>
/// <param name="AnswersPath">The answers file (LLaVA's format).</param>
/// <param name="MetricsPath">The metrics file ({"benchmark", "metrics", "scored", "problems", ...}), or null when scoring failed.</param>
/// <param name="Metrics">The metrics, or null when scoring failed.</param>
/// <param name="Asked">Questions asked in this run.</param>
/// <param name="Reused">Questions already answered in the answers file (a resumed run).</param>
/// <param name="Failures">Questions the model could not answer (not written; a rerun asks them again).</param>
/// <param name="Error">Why scoring failed, or null.</param>
public sealed record BenchmarkRunResult(
    string Benchmark, string AnswersPath, string? MetricsPath, BenchmarkMetrics? Metrics, int Asked, int Reused, IReadOnlyList<InputProblem> Failures, string? Error);

/// <summary>
/// Runs a benchmark against a chat model the way LLaVA's evaluation scripts do: every question is
/// asked greedily with its prompt and image, the answers are appended to {out}/{benchmark}/answers.jsonl
/// in LLaVA's format (<c>question_id, prompt, text, answer_id, model_id, metadata</c>) as they
/// arrive, then the benchmark scores the file and the metrics go to metrics.json beside it.
/// </summary>
/// <remarks>
/// Questions stream from the question file with a bounded number in flight, and answers are
/// written in question order (some official scripts pair answers by position), so memory does not
/// grow with the benchmark. A run over an existing answers file asks only the questions it lacks
/// (a torn last line from a killed run is cut off first), so an interrupted run resumes and a
/// finished one re-scores for free. A question whose image is missing, or that the model cannot
/// answer, is recorded with its id and reason and left unanswered; the official metric then
/// counts it as its script counts a missing answer.
/// </remarks>
public sealed class BenchmarkRunner
{
    /// <summary>The answers file's name in a benchmark's output folder.</summary>
    public const string AnswersFileName = "answers.jsonl";

    /// <summary>The metrics file's name in a benchmark's output folder.</summary>
    public const string MetricsFileName = "metrics.json";

    /// <summary>The answers line's field with the model's score of each of the question's <see cref="BenchmarkQuestion.ScoredOptions"/>, in order.</summary>
    public const string OptionScoresField = "option_scores";

    private readonly IChatModel model;
    private readonly BenchmarkRunOptions options;

    /// <summary>Creates a runner asking <paramref name="model"/>.</summary>
    public BenchmarkRunner(IChatModel model, BenchmarkRunOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        this.model = model;
        this.options = options ?? new BenchmarkRunOptions();
        this.options.Validate();
    }

    /// <summary>Answers and scores one benchmark.</summary>
    /// <param name="benchmark">The benchmark.</param>
    /// <param name="benchmarkDirectory">Its folder (LLaVA's evaluation layout).</param>
    /// <param name="outputDirectory">The run's output folder; the benchmark's files go to {out}/{name}/.</param>
    /// <param name="judge">The grader for benchmarks that need one (MM-Vet), else null.</param>
    /// <param name="progress">Hears each answer.</param>
    /// <param name="cancellationToken">Stops asking; the answers written so far stay for a resume.</param>
    /// <exception cref="BenchmarkFormatException">The question file is missing or malformed.</exception>
    public async Task<BenchmarkRunResult> RunAsync(
        IBenchmark benchmark, string benchmarkDirectory, string outputDirectory, IChatModel? judge = null,
        IProgress<BenchmarkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(benchmark);
        using var span = EvaluationTelemetry.ActivitySource.StartActivity("eval benchmark");
        span?.SetTag(EvaluationTelemetry.BenchmarkTag, benchmark.Name);
        var tag = new KeyValuePair<string, object?>(EvaluationTelemetry.BenchmarkTag, benchmark.Name);
        var folder = Path.Combine(Path.GetFullPath(outputDirectory), benchmark.Name);
        Directory.CreateDirectory(folder);
        var answersPath = Path.Combine(folder, AnswersFileName);
        var done = ExistingAnswers(answersPath);
        var failures = new List<InputProblem>();
        var answered = done.Count;
        var asked = 0;
        var writeLock = new Lock();
        // Answers go out in question order (POPE pairs answers with labels by position, MME pairs
        // acc+ by file order): finished answers wait in a reorder buffer for the ones before them,
        // and a question starts only while it is fewer than `window` places ahead of the next
        // one to write, which bounds the buffer whatever a slow question does.
        using var window = new SemaphoreSlim(options.Concurrency * 4);
        var buffered = new SortedDictionary<long, (string? Line, string? Failure)>();
        long nextToWrite = 0;
        await using (var writer = new StreamWriter(new FileStream(answersPath, FileMode.Append, FileAccess.Write, FileShare.Read), new UTF8Encoding(false)))
        {
            var questions = Numbered(benchmark.ReadQuestions(benchmarkDirectory).Where(q => !done.Contains(Key(q.Id, PromptOf(q)))), window, cancellationToken);
            await Parallel.ForEachAsync(
                questions,
                new ParallelOptions { MaxDegreeOfParallelism = options.Concurrency, CancellationToken = cancellationToken },
                async (item, token) =>
                {
                    var started = System.Diagnostics.Stopwatch.GetTimestamp();
                    var result = await AskAsync(item.Question, token).ConfigureAwait(false);
                    EvaluationTelemetry.AnswerDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds, tag);
                    (result.Line is null ? EvaluationTelemetry.Unanswered : EvaluationTelemetry.Answered).Add(1, tag);
                    lock (writeLock)
                    {
                        buffered[item.Index] = result;
                        while (buffered.Remove(nextToWrite, out var next))
                        {
                            nextToWrite++;
                            window.Release();
                            asked++;
                            if (next.Line is not null)
                            {
                                writer.WriteLine(next.Line);
                                answered++;
                            }
                            else
                            {
                                failures.Add(new InputProblem(answersPath, 0, next.Failure!));
                            }
                        }
                        writer.Flush();
                        progress?.Report(new BenchmarkProgress(benchmark.Name, answered, failures.Count));
                    }
                }).ConfigureAwait(false);
        }
        if (done.Count > 0 && asked > 0)
        {
            // A resumed run appended after the earlier answers: put the file back in question order.
            SortByQuestionOrder(answersPath, benchmark.ReadQuestions(benchmarkDirectory));
        }

        try
        {
            var answers = AnswerFile.Read(answersPath);
            var metrics = await benchmark.ScoreAsync(new BenchmarkScoring(benchmarkDirectory, answers, Judge: judge), cancellationToken).ConfigureAwait(false);
            var (submissions, skipped) = BenchmarkSubmissions.Write(benchmark, benchmarkDirectory, answers, folder);
            if (skipped is not null)
            {
                metrics.Notes.Add($"submission: {skipped}");
            }
            var metricsPath = Path.Combine(folder, MetricsFileName);
            var json = metrics.ToJson();
            json["model"] = model.ModelName;
            json["unanswered"] = new JsonArray([.. failures.Select(f => JsonValue.Create(f.Problem))]);
            json["submission"] = new JsonArray([.. submissions.Select(f => JsonValue.Create(f))]);
            IO.AtomicFile.WriteAllText(metricsPath, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return new BenchmarkRunResult(benchmark.Name, answersPath, metricsPath, metrics, asked, done.Count, failures, null);
        }
        catch (Exception e) when (e is BenchmarkFormatException or ArgumentException or ChatModelException or IOException)
        {
            return new BenchmarkRunResult(benchmark.Name, answersPath, null, null, asked, done.Count, failures, e.Message);
        }
    }

    /// <summary>The questions with their order, each handed out once the reorder window has room for it.</summary>
    private static async IAsyncEnumerable<(BenchmarkQuestion Question, long Index)> Numbered(
        IEnumerable<BenchmarkQuestion> questions, SemaphoreSlim window, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        long index = 0;
        foreach (var question in questions)
        {
            await window.WaitAsync(cancellationToken).ConfigureAwait(false);
            yield return (question, index++);
        }
    }

    /// <summary>
    /// Rewrites the answers file in the order of the question file (answers to questions it does not
    /// have stay at the end, in their order). Holds the answers in memory: only a resumed run does this.
    /// </summary>
    private static void SortByQuestionOrder(string answersPath, IEnumerable<BenchmarkQuestion> questions)
    {
        var lines = new Dictionary<string, Queue<string>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var answer in AnswerFile.Read(answersPath).All)
        {
            var key = Key(answer.QuestionId, PromptText(answer));
            if (!lines.TryGetValue(key, out var queue))
            {
                lines[key] = queue = new Queue<string>();
                order.Add(key);
            }
            queue.Enqueue(answer.Fields.GetRawText());
        }
        var text = new StringBuilder();
        foreach (var question in questions)
        {
            if (lines.TryGetValue(Key(question.Id, PromptOf(question)), out var queue) && queue.TryDequeue(out var line))
            {
                text.Append(line).Append('\n');
            }
        }
        foreach (var line in order.SelectMany(k => lines[k]))
        {
            text.Append(line).Append('\n');
        }
        IO.AtomicFile.WriteAllText(answersPath, text.ToString());
    }

    private static string? PromptText(ModelAnswer answer) =>
        answer.Fields.ValueKind == JsonValueKind.Object && answer.Fields.TryGetProperty("prompt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetString() : null;

    /// <summary>One answers line for <paramref name="question"/>, or the reason there is none.</summary>
    private async Task<(string? Line, string? Failure)> AskAsync(BenchmarkQuestion question, CancellationToken cancellationToken)
    {
        if (question.ImagePath is { } image && !File.Exists(image))
        {
            return (null, $"question {question.Id}: image {image} does not exist");
        }
        var messages = new List<ChatMessage>();
        foreach (var (user, assistant) in question.Shots ?? [])
        {
            messages.Add(ChatMessage.User(user));
            messages.Add(ChatMessage.Assistant(assistant));
        }
        messages.Add(question.ImagePath is { } path ? ChatMessage.User(question.Prompt, path) : ChatMessage.User(question.Prompt));
        var request = new ChatRequest(messages, Temperature: 0, MaxTokens: question.MaxNewTokens);
        try
        {
            if (options.ScoreOptions && question.ScoredOptions is { Count: > 0 } choices && model is IOptionScoringModel scorer)
            {
                IReadOnlyList<double>? scores = null;
                try
                {
                    scores = await scorer.ScoreOptionsAsync(request, choices, cancellationToken).ConfigureAwait(false);
                }
                catch (ChatModelException)
                {
                    // An endpoint without logprobs (or a request the scorer cannot take): the generated answer is
                    // still an answer, read the way the benchmark reads text; its metrics note how many were.
                }
                if (scores is not null && (scores.Count != choices.Count || scores.Any(double.IsNaN)))
                {
                    return (null, $"question {question.Id}: the model gave {scores.Count} option scores for {choices.Count} options{(scores.Any(double.IsNaN) ? ", some not a number" : string.Empty)}");
                }
                if (scores is not null)
                {
                    return (AnswerLine(question, choices[ArgMax(scores)], model.ModelName, scores), null);
                }
            }
            var reply = await model.CompleteAsync(request, cancellationToken).ConfigureAwait(false);
            return (AnswerLine(question, reply.Text, model.ModelName), null);
        }
        catch (ChatModelException e)
        {
            return (null, $"question {question.Id}: {e.Message}");
        }
    }

    /// <summary>The index of the first highest score (numpy's argmax without NaNs).</summary>
    internal static int ArgMax(IReadOnlyList<double> scores)
    {
        var best = 0;
        for (var i = 1; i < scores.Count; i++)
        {
            if (scores[i] > scores[best])
            {
                best = i;
            }
        }
        return best;
    }

    /// <summary>LLaVA's answers line: question_id (a number when the id is one), prompt, text, answer_id, model_id, metadata, and the benchmark's extra fields.</summary>
    internal static string AnswerLine(BenchmarkQuestion question, string text, string modelName, IReadOnlyList<double>? optionScores = null)
    {
        var line = new JsonObject
        {
            ["question_id"] = question.IdIsNumber != false && long.TryParse(question.Id, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n) && n.ToString(CultureInfo.InvariantCulture) == question.Id
                ? JsonValue.Create(n)
                : JsonValue.Create(question.Id),
            ["prompt"] = question.Prompt,
            ["text"] = text,
            ["answer_id"] = Guid.NewGuid().ToString("N")[..22],
            ["model_id"] = modelName,
            ["metadata"] = new JsonObject(),
        };
        foreach (var (key, value) in question.AnswerFields ?? new Dictionary<string, string>())
        {
            line[key] = value;
        }
        if (optionScores is not null)
        {
            line[OptionScoresField] = new JsonArray([.. optionScores.Select(v => (JsonNode?)JsonValue.Create(v))]);
        }
        return line.ToJsonString();
    }

    /// <summary>
    /// What identifies an answered question: its id and the prompt the answer records (ids alone
    /// repeat in some benchmarks: LLaVA's TextVQA file uses image ids).
    /// </summary>
    private static string Key(string id, string? prompt) => id + "\u001f" + prompt;

    /// <summary>The prompt an answers line records for <paramref name="question"/>.</summary>
    private static string PromptOf(BenchmarkQuestion question) =>
        question.AnswerFields is { } fields && fields.TryGetValue("prompt", out var prompt) ? prompt : question.Prompt;

    /// <summary>The (id, prompt) keys already answered; a torn last line (no newline: the writer was killed) is cut off first.</summary>
    private static HashSet<string> ExistingAnswers(string path)
    {
        if (!File.Exists(path))
        {
            return new HashSet<string>(StringComparer.Ordinal);
        }
        using (var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite))
        {
            var length = stream.Length;
            var keep = length;
            while (keep > 0)
            {
                stream.Position = keep - 1;
                if (stream.ReadByte() == '\n')
                {
                    break;
                }
                keep--;
            }
            if (keep != length)
            {
                stream.SetLength(keep);
            }
        }
        return AnswerFile.Read(path).All.Select(a => Key(a.QuestionId, PromptText(a))).ToHashSet(StringComparer.Ordinal);
    }
}
