using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;

// Evaluation throughput (issue 17), each side measured in the same run:
//   1. the in-process tiny LLaVA (tests/SynthVlm.Vlm.Tests/Fixtures/tiny-llava-hf) answering POPE-style
//      questions about generated PNGs through BenchmarkRunner: one by one vs batched (LlavaChatModel);
//      the answers must be the same;
//   2. an OpenAI-compatible endpoint (a local HTTP server with a fixed service time per request, or
//      --endpoint URL --endpoint-model M for a real one) at concurrency 1, 4 and 16;
//   3. the VQAv2 metric on 100,000 generated answers: Vqav2Benchmark.ScoreAsync against the official
//      vqaEval.py (GT-Vision-Lab/VQA under Python 2.7, VQA_DIR) on the same data; the overall accuracy
//      must agree.
// Usage: [--questions N] [--batch B] [--endpoint-questions N] [--latency-ms L] [--endpoint URL --endpoint-model M]
//        [--vqa-answers N] [--vqa-dir DIR] [--python2 CMD] [--skip-model] [--skip-endpoint] [--skip-vqa]
// Exit code 1 when batched answers differ from one-by-one answers or the two VQAv2 accuracies differ.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var options = Options.Parse(args);
var root = RepoRoot();
var work = Directory.CreateTempSubdirectory("synthvlm-bench-eval-").FullName;
var ok = true;
Console.WriteLine($".NET {Environment.Version}; {Environment.ProcessorCount} cores");
try
{
    if (!options.SkipModel)
    {
        ok &= await InProcessAsync(Path.Combine(root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf"), Path.Combine(work, "model"), options);
    }
    if (!options.SkipEndpoint)
    {
        await EndpointAsync(Path.Combine(work, "endpoint"), options);
    }
    if (!options.SkipVqa)
    {
        ok &= await VqaAsync(Path.Combine(work, "vqav2"), options);
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}
return ok ? 0 : 1;

static async Task<bool> InProcessAsync(string model, string folder, Options options)
{
    var bench = WritePope(Path.Combine(folder, "pope"), options.Questions);
    using var pipeline = LlavaPipeline.Open(model);
    var pope = new PopeBenchmark();
    async Task<(double Seconds, string[] Answers)> RunAsync(int batch, int concurrency, string output)
    {
        using var chat = new LlavaChatModel(pipeline, maxBatchSize: batch);
        var watch = Stopwatch.StartNew();
        var result = await new BenchmarkRunner(chat, new BenchmarkRunOptions(concurrency)).RunAsync(pope, bench, output);
        watch.Stop();
        return (watch.Elapsed.TotalSeconds, [.. File.ReadLines(result.AnswersPath).Select(l => JsonNode.Parse(l)!["text"]!.GetValue<string>())]);
    }
    // A warm-up run so that neither side pays for JIT and LibTorch's first allocations.
    await RunAsync(options.Batch, 2 * options.Batch, Path.Combine(folder, "warm"));
    var single = await RunAsync(1, 1, Path.Combine(folder, "single"));
    var batched = await RunAsync(options.Batch, 2 * options.Batch, Path.Combine(folder, "batched"));
    var differing = single.Answers.Zip(batched.Answers).Where(p => p.First != p.Second).ToList();
    var same = differing.Count == 0;
    Console.WriteLine($"in-process tiny LLaVA, {options.Questions} POPE questions (image 336x336 after padding, greedy, up to 128 new tokens):");
    Console.WriteLine($"  one by one      {options.Questions / single.Seconds,8:F1} questions/s ({single.Seconds:F2} s)");
    Console.WriteLine($"  batched (B={options.Batch})   {options.Questions / batched.Seconds,8:F1} questions/s ({batched.Seconds:F2} s)  ratio {single.Seconds / batched.Seconds:F2}x; answers {(same ? "identical" : $"{differing.Count} of {options.Questions} DIFFERENT")}");
    foreach (var (a, b) in differing.Take(3))
    {
        var common = a.Zip(b).TakeWhile(p => p.First == p.Second).Count();
        Console.WriteLine($"    one by one: {a.Length} chars, batched: {b.Length} chars, same for the first {common}");
    }
    return same;
}

static async Task EndpointAsync(string folder, Options options)
{
    var bench = WritePope(Path.Combine(folder, "pope"), options.EndpointQuestions);
    await using var fake = options.Endpoint is null ? new FakeChatServer(_ => FakeChatReply.Answer("Yes") with { Delay = TimeSpan.FromMilliseconds(options.LatencyMs) }) : null;
    var url = options.Endpoint ?? fake!.BaseUri;
    var model = options.EndpointModel ?? "fake-model";
    Console.WriteLine(options.Endpoint is null
        ? $"endpoint: local OpenAI-compatible server answering after {options.LatencyMs} ms, {options.EndpointQuestions} questions with a PNG each (base64 in the request):"
        : $"endpoint: {url} ({model}), {options.EndpointQuestions} questions:");
    double? first = null;
    foreach (var concurrency in new[] { 1, 4, 16 })
    {
        using var client = EvaluationEndpoints.Open(url, model, concurrency, cacheDirectory: null);
        var watch = Stopwatch.StartNew();
        await new BenchmarkRunner(client, new BenchmarkRunOptions(concurrency)).RunAsync(new PopeBenchmark(), bench, Path.Combine(folder, $"c{concurrency}"));
        var rate = options.EndpointQuestions / watch.Elapsed.TotalSeconds;
        first ??= rate;
        var ideal = options.Endpoint is null ? $", ideal {concurrency * 1000.0 / options.LatencyMs:F1}" : "";
        Console.WriteLine($"  concurrency {concurrency,2}  {rate,8:F1} questions/s  ratio {rate / first.Value:F2}x{ideal}");
    }
}

static async Task<bool> VqaAsync(string folder, Options options)
{
    Directory.CreateDirectory(folder);
    var (annotations, questions, answers, results) = WriteVqa(folder, options.VqaAnswers);
    var watch = Stopwatch.StartNew();
    var metrics = await new Vqav2Benchmark().ScoreAsync(new BenchmarkScoring(folder, AnswerFile.Read(answers)));
    watch.Stop();
    var ours = metrics.Metrics["overall"]!.GetValue<double>();
    Console.WriteLine($"VQAv2 metric, {options.VqaAnswers:N0} answers (10 human answers each):");
    Console.WriteLine($"  SynthVlm Vqav2Benchmark   {watch.Elapsed.TotalSeconds,7:F2} s  overall {ours} (reads the answers JSONL, EvalAI processing, vqaEval)");
    var vqaDir = options.VqaDir ?? Environment.GetEnvironmentVariable("VQA_DIR");
    if (vqaDir is null)
    {
        Console.WriteLine("  official vqaEval.py       not run: set VQA_DIR to a checkout of GT-Vision-Lab/VQA (and PYENV_VERSION=2.7.18 or --python2)");
        return true;
    }
    var script = Path.Combine(AppContext.BaseDirectory, "vqa_bench.py");
    var start = new ProcessStartInfo(options.Python2, [script, vqaDir, annotations, questions, results]) { RedirectStandardOutput = true, RedirectStandardError = true };
    if (Environment.GetEnvironmentVariable("PYENV_VERSION") is null && options.Python2 == "python")
    {
        start.Environment["PYENV_VERSION"] = "2.7.18";
    }
    using var process = Process.Start(start)!;
    var output = await process.StandardOutput.ReadToEndAsync();
    var error = await process.StandardError.ReadToEndAsync();
    await process.WaitForExitAsync();
    if (process.ExitCode != 0)
    {
        Console.WriteLine($"  official vqaEval.py       failed ({process.ExitCode}): {error.Trim()}");
        return false;
    }
    var official = JsonNode.Parse(output)!;
    var seconds = official["seconds"]!.GetValue<double>();
    var overall = official["overall"]!.GetValue<double>();
    Console.WriteLine($"  official vqaEval.py       {seconds,7:F2} s  overall {overall} (VQA + loadRes + evaluate on the results JSON, Python 2.7)  ratio {seconds / watch.Elapsed.TotalSeconds:F1}x");
    var agree = Math.Abs(overall - ours) < 1e-9;
    if (!agree)
    {
        Console.WriteLine("  the two overall accuracies DIFFER");
    }
    return agree;
}

// POPE's layout with `count` questions over three splits and small PNGs.
static string WritePope(string folder, int count)
{
    string[] splits = ["adversarial", "popular", "random"];
    string[] objects = ["dog", "car", "tree", "person", "cup", "bird", "chair", "bus"];
    Directory.CreateDirectory(Path.Combine(folder, "coco"));
    Directory.CreateDirectory(Path.Combine(folder, "val2014"));
    var questions = new StringBuilder();
    var labels = splits.ToDictionary(s => s, _ => new StringBuilder());
    for (var i = 0; i < count; i++)
    {
        var image = $"COCO_val2014_{i:D12}.png";
        using (var rgb = RgbImage.Allocate(64 + (i % 7 * 9), 48 + (i % 5 * 11)))
        {
            var px = rgb.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)((p * (i + 3)) >> 2);
            }
            ImageCodec.EncodeFile(rgb, Path.Combine(folder, "val2014", image));
        }
        var split = splits[i % 3];
        var text = $"Is there a {objects[i % objects.Length]} in the image?";
        questions.AppendLine(JsonSerializer.Serialize(new { question_id = i + 1, image, text = text + "\nAnswer the question using a single word or phrase.", category = split }));
        labels[split].AppendLine(JsonSerializer.Serialize(new { question_id = i + 1, image, text, label = i % 2 == 0 ? "yes" : "no" }));
    }
    File.WriteAllText(Path.Combine(folder, "llava_pope_test.jsonl"), questions.ToString());
    foreach (var (split, text) in labels)
    {
        File.WriteAllText(Path.Combine(folder, "coco", $"coco_pope_{split}.json"), text.ToString());
    }
    return folder;
}

// The official annotation and question files, LLaVA's answers JSONL and the results JSON the
// official code reads (answers chosen so that the EvalAI processing leaves them as they are).
static (string Annotations, string Questions, string Answers, string Results) WriteVqa(string folder, int count)
{
    string[] vocabulary = ["yes", "no", "2", "3", "red", "blue", "dog", "cat", "tennis", "pizza", "1", "white", "kitchen", "10"];
    string[] types = ["yes/no", "number", "other"];
    var random = new Random(17);
    var annotations = new JsonArray();
    var questions = new JsonArray();
    var answers = new StringBuilder();
    var results = new JsonArray();
    for (var i = 0; i < count; i++)
    {
        var id = 1000 + i;
        var human = new JsonArray();
        var common = vocabulary[random.Next(vocabulary.Length)];
        for (var k = 0; k < 10; k++)
        {
            human.Add(new JsonObject { ["answer"] = random.Next(4) == 0 ? vocabulary[random.Next(vocabulary.Length)] : common, ["answer_confidence"] = "yes", ["answer_id"] = k + 1 });
        }
        annotations.Add(new JsonObject { ["question_id"] = id, ["image_id"] = i / 3, ["question_type"] = "what is", ["answer_type"] = types[i % 3], ["multiple_choice_answer"] = common, ["answers"] = human });
        questions.Add(new JsonObject { ["question_id"] = id, ["image_id"] = i / 3, ["question"] = "What is it?" });
        var predicted = random.Next(3) == 0 ? vocabulary[random.Next(vocabulary.Length)] : common;
        answers.Append("{\"question_id\": ").Append(id.ToString(CultureInfo.InvariantCulture)).Append(", \"text\": ").Append(JsonSerializer.Serialize(predicted)).Append("}\n");
        results.Add(new JsonObject { ["question_id"] = id, ["answer"] = predicted });
    }
    var a = Path.Combine(folder, Vqav2Benchmark.AnnotationFile);
    var q = Path.Combine(folder, Vqav2Benchmark.OfficialQuestionFile);
    var l = Path.Combine(folder, "answers.jsonl");
    var r = Path.Combine(folder, "results.json");
    File.WriteAllText(a, new JsonObject { ["info"] = new JsonObject(), ["license"] = new JsonObject(), ["data_subtype"] = "val2014", ["data_type"] = "mscoco", ["annotations"] = annotations }.ToJsonString());
    File.WriteAllText(q, new JsonObject { ["info"] = new JsonObject(), ["license"] = new JsonObject(), ["task_type"] = "Open-Ended", ["data_type"] = "mscoco", ["data_subtype"] = "val2014", ["questions"] = questions }.ToJsonString());
    File.WriteAllText(l, answers.ToString());
    File.WriteAllText(r, results.ToJsonString());
    return (a, q, l, r);
}

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
        {
            return dir.FullName;
        }
    }
    throw new InvalidOperationException("run from a build inside the repository");
}

/// <summary>The bench's options.</summary>
internal sealed record Options
{
    public int Questions { get; init; } = 48;

    public int Batch { get; init; } = 8;

    public int EndpointQuestions { get; init; } = 240;

    public int LatencyMs { get; init; } = 40;

    public Uri? Endpoint { get; init; }

    public string? EndpointModel { get; init; }

    public int VqaAnswers { get; init; } = 100_000;

    public string? VqaDir { get; init; }

    public string Python2 { get; init; } = "python";

    public bool SkipModel { get; init; }

    public bool SkipEndpoint { get; init; }

    public bool SkipVqa { get; init; }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            o = args[i] switch
            {
                "--questions" => o with { Questions = Int() },
                "--batch" => o with { Batch = Int() },
                "--endpoint-questions" => o with { EndpointQuestions = Int() },
                "--latency-ms" => o with { LatencyMs = Int() },
                "--endpoint" => o with { Endpoint = new Uri(Next()) },
                "--endpoint-model" => o with { EndpointModel = Next() },
                "--vqa-answers" => o with { VqaAnswers = Int() },
                "--vqa-dir" => o with { VqaDir = Next() },
                "--python2" => o with { Python2 = Next() },
                "--skip-model" => o with { SkipModel = true },
                "--skip-endpoint" => o with { SkipEndpoint = true },
                "--skip-vqa" => o with { SkipVqa = true },
                var other => throw new ArgumentException($"unknown option {other}"),
            };
        }
        return o;
    }
}
