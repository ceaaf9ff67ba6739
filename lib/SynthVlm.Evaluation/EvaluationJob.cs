using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation;

/// <summary>What to evaluate.</summary>
/// <param name="BenchmarkRoot">The folder holding one folder per benchmark, as LLaVA's playground/data/eval does (vqav2/, gqa/, MME/, mm-vet/ ...).</param>
/// <param name="Only">The benchmarks to run by name; null or empty = every benchmark whose folder exists.</param>
/// <param name="OutputDirectory">Where answers, metrics and summary.json go.</param>
/// <param name="Options">How questions are asked.</param>
public sealed record EvaluationRequest(string BenchmarkRoot, IReadOnlyList<string>? Only, string OutputDirectory, BenchmarkRunOptions? Options = null);

/// <summary>One benchmark's outcome in an evaluation.</summary>
/// <param name="Benchmark">The benchmark's name.</param>
/// <param name="Folder">Its folder.</param>
/// <param name="Result">The run, or null when it did not run.</param>
/// <param name="Error">Why it did not run or could not be scored, or null.</param>
public sealed record BenchmarkOutcome(string Benchmark, string Folder, BenchmarkRunResult? Result, string? Error);

/// <summary>
/// Evaluates one model on several benchmarks in LLaVA's evaluation layout: each benchmark's folder
/// is {root}/{LLaVA's folder name}; a benchmark asked for whose folder is missing or malformed is
/// reported and the others run. The outcome is {out}/summary.json: the model and, per benchmark,
/// its metrics or the reason it has none.
/// </summary>
public static class EvaluationJob
{
    /// <summary>The summary file's name.</summary>
    public const string SummaryFileName = "summary.json";

    /// <summary>The folder LLaVA's scripts use for each benchmark under playground/data/eval (the benchmark's name otherwise).</summary>
    public static IReadOnlyDictionary<string, string> LlavaFolders { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["mme"] = "MME",
        ["mmvet"] = "mm-vet",
        ["seed"] = "seed_bench",
        ["scienceqa"] = "scienceqa",
    };

    /// <summary>The folder of <paramref name="benchmark"/> under <paramref name="root"/>.</summary>
    public static string FolderOf(string root, string benchmark) =>
        Path.Combine(root, LlavaFolders.TryGetValue(benchmark, out var folder) ? folder : benchmark);

    /// <summary>Runs the request's benchmarks one after another and writes the summary.</summary>
    /// <exception cref="ArgumentException">A name in <see cref="EvaluationRequest.Only"/> is not a benchmark (the message lists them).</exception>
    public static async Task<IReadOnlyList<BenchmarkOutcome>> RunAsync(
        IChatModel model, EvaluationRequest request, IChatModel? judge = null,
        IProgress<BenchmarkProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(request);
        var root = Path.GetFullPath(request.BenchmarkRoot);
        var asked = request.Only is { Count: > 0 } only ? only.Select(BenchmarkRegistry.Get).ToList() : null;
        var benchmarks = asked ?? [.. BenchmarkRegistry.All.Where(b => Directory.Exists(FolderOf(root, b.Name)))];
        if (benchmarks.Count == 0)
        {
            throw new ArgumentException($"{root} holds no benchmark folder; expected any of {string.Join(", ", BenchmarkRegistry.All.Select(b => FolderOf(root, b.Name)))}.", nameof(request));
        }
        var runner = new BenchmarkRunner(model, request.Options);
        var outcomes = new List<BenchmarkOutcome>();
        foreach (var benchmark in benchmarks)
        {
            var folder = FolderOf(root, benchmark.Name);
            if (!Directory.Exists(folder))
            {
                outcomes.Add(new BenchmarkOutcome(benchmark.Name, folder, null, $"no folder {folder} (expected: {benchmark.ExpectedLayout})"));
                continue;
            }
            try
            {
                var result = await runner.RunAsync(benchmark, folder, request.OutputDirectory, judge, progress, cancellationToken).ConfigureAwait(false);
                outcomes.Add(new BenchmarkOutcome(benchmark.Name, folder, result, result.Error));
            }
            catch (BenchmarkFormatException e)
            {
                outcomes.Add(new BenchmarkOutcome(benchmark.Name, folder, null, e.Message));
            }
        }
        WriteSummary(Path.Combine(Path.GetFullPath(request.OutputDirectory), SummaryFileName), model.ModelName, outcomes);
        return outcomes;
    }

    /// <summary>Writes summary.json: {"model", "benchmarks": {name: {"metrics", "scored", "questions", "unanswered", "problems"} or {"error"}}}.</summary>
    public static void WriteSummary(string path, string modelName, IReadOnlyList<BenchmarkOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(outcomes);
        var benchmarks = new JsonObject();
        foreach (var outcome in outcomes)
        {
            var entry = new JsonObject { ["folder"] = outcome.Folder };
            if (outcome.Result?.Metrics is { } metrics)
            {
                entry["metrics"] = metrics.Metrics.DeepClone();
                entry["scored"] = metrics.Scored;
                entry["questions"] = metrics.Questions;
                entry["problems"] = metrics.Problems.Count;
                entry["unanswered"] = outcome.Result.Failures.Count;
                entry["answers"] = outcome.Result.AnswersPath;
            }
            if (outcome.Error is { } error)
            {
                entry["error"] = error;
            }
            benchmarks[outcome.Benchmark] = entry;
        }
        var summary = new JsonObject { ["model"] = modelName, ["benchmarks"] = benchmarks };
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        IO.AtomicFile.WriteAllText(path, summary.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }
}
