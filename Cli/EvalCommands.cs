using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm eval`: a model on the benchmarks (in-process LLaVA checkpoint), `eval score` for
/// answers produced elsewhere, `eval report` for the Table 1 of several evaluations, `eval list`.
/// </summary>
internal static class EvalCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>The command group.</summary>
    public static Command Eval()
    {
        var model = new Option<string?>("--model") { Description = "A LLaVA checkpoint folder (either layout; TrainingService's model/ output) run in-process." };
        var endpoint = new Option<string?>("--endpoint") { Description = "Or an OpenAI-compatible chat endpoint that accepts images (base URL, e.g. http://gpu-node:8000/v1; key from OPENAI_API_KEY)." };
        var endpointModel = new Option<string?>("--endpoint-model") { Description = "The model the endpoint serves (required with --endpoint)." };
        var judge = JudgeOption();
        var judgeModel = JudgeModelOption();
        var bench = new Option<string>("--bench") { Description = "Folder with one folder per benchmark in LLaVA's evaluation layout (playground/data/eval: vqav2/, gqa/, MME/, mm-vet/, ...).", Required = true };
        var only = new Option<string?>("--only") { Description = "Benchmarks to run, comma-separated (default: every benchmark whose folder exists); `synthvlm eval list` names them." };
        var output = new Option<string>("--out") { Description = "Output folder: {benchmark}/answers.jsonl and metrics.json, summary.json; the same folder again resumes.", Required = true };
        var batch = new Option<int>("--batch") { Description = "In-process model: questions generated together (8).", DefaultValueFactory = _ => 8 };
        var concurrency = new Option<int?>("--concurrency") { Description = "Questions in flight (default: twice --batch)." };
        var dtype = VlmCommands.DTypeOption();
        var device = VlmCommands.DeviceOption();
        var json = new Option<bool>("--json") { Description = "Print summary.json's content instead of the table." };
        var generateChoices = new Option<bool>("--generate-choices") { Description = "MMLU: generate the answer letter instead of reading the model's A–D scores (the official argmax; endpoints need logprobs)." };
        var command = new Command("eval", "Evaluate a model on the paper's benchmarks with the official metrics; writes answers, metrics and summary.json.")
        {
            model, endpoint, endpointModel, bench, only, output, batch, concurrency, dtype, device, judge, judgeModel, json, generateChoices,
            Score(), Report(), List(), Compare(),
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var checkpoint = parse.GetValue(model);
            var url = parse.GetValue(endpoint);
            if ((checkpoint is null) == (url is null))
            {
                Console.Error.WriteLine("eval: give --model CKPT (a LLaVA checkpoint folder) or --endpoint URL --endpoint-model NAME, not both.");
                return UsageError;
            }
            var batchSize = parse.GetValue(batch);
            if (batchSize < 1 || parse.GetValue(concurrency) is < 1)
            {
                Console.Error.WriteLine("eval: --batch and --concurrency must be at least 1.");
                return UsageError;
            }
            if (VlmCommands.ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), null, out var load) is { } loadProblem)
            {
                Console.Error.WriteLine($"eval: {loadProblem}");
                return UsageError;
            }
            IReadOnlyList<string>? names = parse.GetValue(only) is { } list ? list.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : null;
            var outDir = Path.GetFullPath(parse.GetRequiredValue(output));
            var inFlight = parse.GetValue(concurrency) ?? 2 * batchSize;
            var request = new EvaluationRequest(parse.GetRequiredValue(bench), names, outDir, new BenchmarkRunOptions(inFlight, ScoreOptions: !parse.GetValue(generateChoices)));
            try
            {
                using var grader = OpenJudge(parse.GetValue(judge), parse.GetValue(judgeModel), Path.Combine(outDir, "cache"));
                if (url is not null)
                {
                    using var client = EvaluationEndpoints.Open(Url(url, "--endpoint"), parse.GetValue(endpointModel) ?? throw new ArgumentException("--endpoint-model NAME is required with --endpoint."), inFlight, Path.Combine(outDir, "cache"));
                    return await RunAsync(client, request, grader, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
                }
                using var pipeline = LlavaPipeline.Open(checkpoint!, load);
                using var chat = new LlavaChatModel(pipeline, maxBatchSize: batchSize);
                return await RunAsync(chat, request, grader, parse.GetValue(json), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is VlmModelException or ArgumentException or IOException or BenchmarkFormatException or ChatModelException)
            {
                Console.Error.WriteLine($"eval: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
        });
        return command;
    }

    /// <summary>Runs the evaluation with a progress line per benchmark, then prints the table (or the summary as JSON).</summary>
    internal static async Task<int> RunAsync(IChatModel chat, EvaluationRequest request, IChatModel? judge, bool asJson, CancellationToken cancellationToken)
    {
        var progress = new Progress<BenchmarkProgress>(p =>
            Console.Error.Write(string.Create(CultureInfo.InvariantCulture, $"\r{p.Benchmark}: {p.Answered} answered, {p.Failed} unanswered   ")));
        var outcomes = await EvaluationJob.RunAsync(chat, request, judge, progress, cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine();
        var summary = Path.Combine(request.OutputDirectory, EvaluationJob.SummaryFileName);
        foreach (var outcome in outcomes.Where(o => o.Error is not null))
        {
            Console.Error.WriteLine($"eval: {outcome.Benchmark}: {outcome.Error}");
        }
        foreach (var outcome in outcomes.Where(o => o.Result is { Failures.Count: > 0 }))
        {
            Console.Error.WriteLine($"eval: {outcome.Benchmark}: {outcome.Result!.Failures.Count} questions unanswered (first: {outcome.Result.Failures[0].Problem})");
        }
        if (asJson)
        {
            Console.WriteLine(await File.ReadAllTextAsync(summary, cancellationToken).ConfigureAwait(false));
        }
        else
        {
            Console.WriteLine(EvaluationReport.Markdown([EvaluationReport.ReadSummary(summary)]));
            Console.WriteLine($"summary: {summary}");
        }
        return outcomes.Any(o => o.Result?.Metrics is not null) ? 0 : InputError;
    }

    private static Command Score()
    {
        var name = new Option<string>("--bench") { Description = "The benchmark's name (`synthvlm eval list`).", Required = true };
        var data = new Option<string>("--data") { Description = "The benchmark's folder (LLaVA's evaluation layout).", Required = true };
        var answers = new Option<string>("--answers") { Description = "Answers file: LLaVA's JSONL ({\"question_id\", \"text\", ...} per line) or a JSON array.", Required = true };
        var variant = new Option<string?>("--variant") { Description = "A named variant of the metric (e.g. lmms-eval's); default: the official script's." };
        var judge = JudgeOption();
        var judgeModel = JudgeModelOption();
        var command = new Command("score", "Score answers produced elsewhere (LLaVA's scripts, lmms-eval, an earlier run); prints the metrics as one JSON object with the official names.")
        {
            name, data, answers, variant, judge, judgeModel,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var benchmark = BenchmarkRegistry.Get(parse.GetRequiredValue(name));
                var file = AnswerFile.Read(parse.GetRequiredValue(answers));
                using var grader = OpenJudge(parse.GetValue(judge), parse.GetValue(judgeModel), Path.Combine(Path.GetDirectoryName(file.Path)!, "cache"));
                var metrics = await benchmark.ScoreAsync(new BenchmarkScoring(Path.GetFullPath(parse.GetRequiredValue(data)), file, parse.GetValue(variant), grader), cancellationToken).ConfigureAwait(false);
                foreach (var problem in metrics.Problems)
                {
                    Console.Error.WriteLine($"eval score: skipped {problem}");
                }
                foreach (var note in metrics.Notes)
                {
                    Console.Error.WriteLine($"eval score: {note}");
                }
                if (metrics.Problems.Count > 0)
                {
                    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"eval score: {metrics.Problems.Count} lines skipped; the metrics are computed on the other {metrics.Scored} answers."));
                }
                Console.WriteLine(metrics.MetricsJson());
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or BenchmarkFormatException or ChatModelException)
            {
                Console.Error.WriteLine($"eval score: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
        });
        return command;
    }

    private static Command Report()
    {
        var summaries = new Option<string[]>("--summaries") { Description = "summary.json files (or evaluation output folders), one row each, comma-separated or repeated; the first is the baseline of the Δ rows.", Required = true, AllowMultipleArgumentsPerToken = true };
        var output = new Option<string>("--out") { Description = "Folder for report.md and report.svg.", Required = true };
        var command = new Command("report", "The paper's Table 1 for several evaluations: Markdown (best in bold, Δ rows) and an SVG chart.") { summaries, output };
        command.SetAction(parse =>
        {
            try
            {
                var paths = parse.GetRequiredValue(summaries)
                    .SelectMany(s => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                    .Select(p => Directory.Exists(p) ? Path.Combine(p, EvaluationJob.SummaryFileName) : p)
                    .ToList();
                var (markdown, svg) = EvaluationReport.Write(paths, parse.GetRequiredValue(output));
                Console.WriteLine(File.ReadAllText(markdown));
                Console.WriteLine($"report: {markdown}, chart: {svg}");
                return 0;
            }
            catch (Exception e) when (e is IOException or BenchmarkFormatException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"eval report: {e.Message}");
                return InputError;
            }
        });
        return command;
    }

    private static Command Compare()
    {
        var a = new Option<string>("--a") { Description = "Dataset A: a LLaVA JSON, or a folder holding one (images relative to it), e.g. SynthVlm's selected pairs.", Required = true };
        var b = new Option<string>("--b") { Description = "Dataset B, paired with A by sample id, e.g. the original captions with their real images.", Required = true };
        var judge = JudgeOption();
        var judgeModel = JudgeModelOption();
        var sample = new Option<int>("--sample") { Description = "Items compared (a seeded sample of the ids both datasets share).", DefaultValueFactory = _ => 200 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the sample.", DefaultValueFactory = _ => 0 };
        var output = new Option<string?>("--out") { Description = "Write the result JSON (every comparison with both replies) to this file." };
        var command = new Command("compare", "SynthVLM's Table 2: a VLM judge compares the pairs of two datasets, both orders, win/tie/loss with 95% Wilson intervals.")
        {
            a, b, judge, judgeModel, sample, seed, output,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var first = Dataset(parse.GetRequiredValue(a), "--a");
                var second = Dataset(parse.GetRequiredValue(b), "--b");
                var cache = Path.Combine(Path.GetDirectoryName(first.JsonPath)!, ".judge-cache");
                using var grader = OpenJudge(parse.GetValue(judge), parse.GetValue(judgeModel), cache) ?? throw new ArgumentException("--judge URL --judge-model NAME is required.");
                var result = await new DatasetComparison(grader, new DatasetComparisonOptions { SampleSize = parse.GetValue(sample), Seed = parse.GetValue(seed) })
                    .CompareAsync(first, second, cancellationToken).ConfigureAwait(false);
                var json = result.ToJson();
                if (parse.GetValue(output) is { } path)
                {
                    IO.AtomicFile.WriteAllText(Path.GetFullPath(path), json.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
                }
                foreach (var problem in result.Problems)
                {
                    Console.Error.WriteLine($"eval compare: {problem}");
                }
                json.Remove("comparisons");
                Console.WriteLine(json.ToJsonString());
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or BenchmarkFormatException or ChatModelException)
            {
                Console.Error.WriteLine($"eval compare: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
        });
        return command;
    }

    /// <summary>A dataset for the comparison: a LLaVA JSON file, or a folder with exactly one.</summary>
    private static ComparisonDataset Dataset(string path, string option)
    {
        var full = Path.GetFullPath(path);
        if (File.Exists(full))
        {
            return new ComparisonDataset(Path.GetFileName(Path.GetDirectoryName(full)!), full, Path.GetDirectoryName(full)!);
        }
        if (!Directory.Exists(full))
        {
            throw new ArgumentException($"{option}: {full} does not exist.");
        }
        var json = Directory.GetFiles(full, "*.json");
        return json.Length == 1
            ? new ComparisonDataset(Path.GetFileName(full), json[0], full)
            : throw new ArgumentException($"{option}: {full} holds {json.Length} JSON files; name the LLaVA JSON itself.");
    }

    private static Option<string?> JudgeOption() => new("--judge") { Description = "An OpenAI-compatible endpoint (base URL) for the grader or judge (MM-Vet's GPT-4 grader, Table 2's VLM judge)." };

    private static Option<string?> JudgeModelOption() => new("--judge-model") { Description = "The judge's model name (MM-Vet: gpt-4-0613).", DefaultValueFactory = _ => "gpt-4-0613" };

    /// <summary>The judge's client with its reply cache under <paramref name="cacheDirectory"/>, or null without --judge.</summary>
    private static ChatEndpoints.OpenAiChatClient? OpenJudge(string? url, string? model, string cacheDirectory) =>
        url is null ? null : EvaluationEndpoints.Open(Url(url, "--judge"), model ?? throw new ArgumentException("--judge-model NAME is required with --judge."), 8, cacheDirectory);

    private static Uri Url(string text, string option) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"{option}: '{text}' is not an http(s) URL.");

    private static Command List()
    {
        var command = new Command("list", "The benchmarks, their folders under --bench and the layout each expects.");
        command.SetAction(_ =>
        {
            foreach (var b in BenchmarkRegistry.All)
            {
                var node = new JsonObject
                {
                    ["name"] = b.Name,
                    ["display"] = b.DisplayName,
                    ["folder"] = EvaluationJob.LlavaFolders.TryGetValue(b.Name, out var f) ? f : b.Name,
                    ["layout"] = b.ExpectedLayout,
                    ["variants"] = new JsonArray([.. b.Variants.Select(v => JsonValue.Create(v))]),
                };
                Console.WriteLine(node.ToJsonString());
            }
            return 0;
        });
        return command;
    }
}
