using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SynthVlm.ChatEndpoints;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Recaptioning;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Testing;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;

// Recaptioning throughput (issue 18), each side against a reference measured in the same run:
//   1. the in-process tiny LLaVA (tests/SynthVlm.Vlm.Tests/Fixtures/tiny-llava-hf) captioning generated PNGs
//      through RecaptionJob: one by one (batch 1, concurrency 1) vs batched (batch 8, concurrency 16); the
//      greedy captions (and empty-caption rejects) must be the same; plus the model alone (LlavaChatModel with
//      every request in flight, no job) as the ceiling the job can reach;
//   2. an OpenAI-compatible endpoint through RecaptionJob + OpenAiChatClient: a local HTTP server answering
//      after a fixed latency (or --endpoint URL --endpoint-model M for a real one) at concurrency 1 vs 16, and
//      the same server answering at once (the client and job's own ceiling);
//   3. what limits each (printed under each section).
// Usage: [--images N] [--batch B] [--concurrency C] [--max-tokens T] [--repeats R] [--endpoint-images N] [--latency-ms L]
//        [--endpoint URL --endpoint-model M] [--skip-model] [--skip-endpoint]
// Exit code 1 when batched captions differ from one-by-one captions.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var options = Options.Parse(args);
var root = RepoRoot();
var work = Directory.CreateTempSubdirectory("synthvlm-bench-recaption-").FullName;
var ok = true;
#if DEBUG
Console.WriteLine("DEBUG build: run with -c Release for numbers worth reading");
#endif
Console.WriteLine($".NET {Environment.Version}; {Environment.ProcessorCount} cores; load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Trim() : "n/a")}");
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
}
finally
{
    Directory.Delete(work, recursive: true);
}
return ok ? 0 : 1;

static async Task<bool> InProcessAsync(string model, string folder, Options options)
{
    var images = WriteImages(Path.Combine(folder, "images"), options.Images);
    using var pipeline = LlavaPipeline.Open(model);
    var length = new LengthControl(options.MaxTokens);
    var prompt = CaptionPrompt.Custom(Options.PromptText);

    async Task<JobRun> JobAsync(int batch, int concurrency, string name)
    {
        using var chat = new LlavaChatModel(pipeline, maxBatchSize: batch);
        var job = new RecaptionJob(chat, new RecaptionJobOptions { OutputDirectory = Path.Combine(folder, name), Concurrency = concurrency, Prompt = prompt, Length = length });
        var watch = Stopwatch.StartNew();
        var summary = await job.RunAsync(ImageSources.Open(images));
        watch.Stop();
        return new JobRun(watch.Elapsed.TotalSeconds, Outcomes(summary), chat.Batches, summary.Captioned, summary.RejectedTotal);
    }

    // The model alone: every request in flight at once, no job (no image check, no pool, no reorder window).
    async Task<(double Seconds, string[] Replies, int Batches)> ModelAsync(int batch)
    {
        using var chat = new LlavaChatModel(pipeline, maxBatchSize: batch);
        var paths = Directory.GetFiles(images).Order(StringComparer.Ordinal).ToList();
        var watch = Stopwatch.StartNew();
        string[] replies;
        if (batch == 1)
        {
            replies = new string[paths.Count];
            for (var i = 0; i < paths.Count; i++)
            {
                replies[i] = (await chat.CompleteAsync(Request(paths[i]))).Text;
            }
        }
        else
        {
            replies = [.. (await Task.WhenAll(paths.Select(p => chat.CompleteAsync(Request(p))))).Select(r => r.Text)];
        }
        watch.Stop();
        return (watch.Elapsed.TotalSeconds, replies, chat.Batches);
    }

    ChatRequest Request(string path) => new([ChatMessage.User(prompt.Render(null), path)], 0, options.MaxTokens);

    // Warm-up runs so that neither side pays for JIT and LibTorch's first allocations; then each side is run
    // --repeats times, interleaved, and its fastest run is kept (a shared machine's noise only ever adds time).
    await JobAsync(options.Batch, options.Concurrency, "warm-batched");
    await JobAsync(1, 1, "warm-single");
    JobRun? single = null, batched = null;
    (double Seconds, string[] Replies, int Batches)? modelSingle = null, modelBatched = null;
    for (var r = 0; r < options.Repeats; r++)
    {
        var s = await JobAsync(1, 1, $"single{r}");
        var b = await JobAsync(options.Batch, options.Concurrency, $"batched{r}");
        var ms = await ModelAsync(1);
        var mb = await ModelAsync(options.Batch);
        single = single is null || s.Seconds < single.Seconds ? s : single;
        batched = batched is null || b.Seconds < batched.Seconds ? b : batched;
        modelSingle = modelSingle is null || ms.Seconds < modelSingle.Value.Seconds ? ms : modelSingle;
        modelBatched = modelBatched is null || mb.Seconds < modelBatched.Value.Seconds ? mb : modelBatched;
        if (s.Outcomes.Count != b.Outcomes.Count || s.Outcomes.Any(p => !b.Outcomes.TryGetValue(p.Key, out var c) || c != p.Value))
        {
            batched = b;
            single = s;
            break;
        }
    }
    var (ms1, mb1) = (modelSingle!.Value, modelBatched!.Value);
    var differing = single!.Outcomes.Where(p => !batched!.Outcomes.TryGetValue(p.Key, out var b) || b != p.Value).ToList();
    var same = differing.Count == 0 && single.Outcomes.Count == batched!.Outcomes.Count;
    var n = options.Images;
    Console.WriteLine($"in-process tiny LLaVA via RecaptionJob, fastest of {options.Repeats} interleaved runs each, {n} PNGs (42x42 after padding), prompt \"{Options.PromptText}\", greedy, up to {options.MaxTokens} new tokens:");
    Console.WriteLine($"  one by one (B=1, C=1)          {n / single.Seconds,8:F1} captions/s ({single.Seconds:F2} s; {single.Captioned} captions, {single.Rejected} rejected)");
    Console.WriteLine($"  batched (B={options.Batch}, C={options.Concurrency})         {n / batched!.Seconds,8:F1} captions/s ({batched.Seconds:F2} s)  ratio {single.Seconds / batched.Seconds:F2}x; captions {(same ? "identical" : $"{differing.Count} of {n} DIFFERENT")}");
    Console.WriteLine($"  model alone, one by one        {n / ms1.Seconds,8:F1} captions/s ({ms1.Seconds:F2} s)");
    Console.WriteLine($"  model alone, all in flight B={options.Batch} {n / mb1.Seconds,8:F1} captions/s ({mb1.Seconds:F2} s)  ratio {ms1.Seconds / mb1.Seconds:F2}x");
    Console.WriteLine("  what limits it:");
    Console.WriteLine($"    batches: one by one {single.Batches} (1 caption each), batched {batched.Batches} (mean {(double)n / batched.Batches:F1} of {options.Batch}), model alone {mb1.Batches} (mean {(double)n / mb1.Batches:F1})");
    Console.WriteLine($"    the job's share of the time: one by one {100 * (1 - (ms1.Seconds / single.Seconds)),5:F1} %, batched {100 * (1 - (mb1.Seconds / batched.Seconds)),5:F1} % (image check, pool lines, reorder window)");
    Console.WriteLine("    the rest is the model's forward passes: prefill of each prompt, then one decode step per new token for the whole batch;");
    var perBatch = mb1.Seconds / mb1.Batches / (ms1.Seconds / n);
    Console.WriteLine($"    a batch of {(double)n / mb1.Batches:F0} took {perBatch:F1}x the time of one caption alone: a model this small is bound by the fixed cost of each step");
    Console.WriteLine("    (LibTorch dispatch of every op), not by arithmetic, so batching divides that cost among the rows");
    foreach (var (id, caption) in differing.Take(3))
    {
        Console.WriteLine($"    {id}: one by one {caption} / batched {(batched.Outcomes.TryGetValue(id, out var b) ? b : "(missing)")}");
    }
    return same;
}

static async Task EndpointAsync(string folder, Options options)
{
    var images = WriteImages(Path.Combine(folder, "images"), options.EndpointImages);
    var n = options.EndpointImages;
    long delayMs = options.LatencyMs;
    await using var fake = options.Endpoint is null ? new FakeChatServer(_ => FakeChatReply.Answer("A small square tile in one shade of grey.") with { Delay = TimeSpan.FromMilliseconds(Volatile.Read(ref delayMs)) }) : null;
    var url = options.Endpoint ?? fake!.BaseUri;
    var model = options.EndpointModel ?? "fake-model";
    Console.WriteLine(options.Endpoint is null
        ? $"endpoint via RecaptionJob + OpenAiChatClient: local OpenAI-compatible server answering after {options.LatencyMs} ms, {n} PNGs (base64 in each request), fastest of {options.Repeats} runs:"
        : $"endpoint via RecaptionJob + OpenAiChatClient: {url} ({model}), {n} images:");

    async Task<double> RunAsync(int concurrency, string name)
    {
        using var client = new OpenAiChatClient(new OpenAiChatOptions { Endpoint = url, Model = model, MaxConcurrency = concurrency, Cache = false, ApiKey = "unused", Timeout = TimeSpan.FromSeconds(60) });
        var job = new RecaptionJob(client, new RecaptionJobOptions { OutputDirectory = Path.Combine(folder, name), Concurrency = concurrency, Prompt = CaptionPrompt.Detailed, Length = new LengthControl(options.MaxTokens) });
        var watch = Stopwatch.StartNew();
        var summary = await job.RunAsync(ImageSources.Open(images));
        watch.Stop();
        if (summary.Captioned != n)
        {
            Console.WriteLine($"  {name}: only {summary.Captioned} of {n} captioned ({summary.RejectedTotal} rejected)");
        }
        return n / watch.Elapsed.TotalSeconds;
    }

    // The fastest of --repeats runs (a shared machine's noise only ever adds time).
    async Task<double> BestAsync(int concurrency, string name)
    {
        var best = 0.0;
        for (var r = 0; r < options.Repeats; r++)
        {
            best = Math.Max(best, await RunAsync(concurrency, $"{name}-{r}"));
        }
        return best;
    }

    await RunAsync(options.Concurrency, "warm");
    var one = await BestAsync(1, "c1");
    var many = await BestAsync(options.Concurrency, $"c{options.Concurrency}");
    var ideal = options.Endpoint is null ? $", ideal {1000.0 / options.LatencyMs:F1}" : "";
    var idealMany = options.Endpoint is null ? $", ideal {options.Concurrency * 1000.0 / options.LatencyMs:F1}" : "";
    Console.WriteLine($"  concurrency  1  {one,8:F1} captions/s{ideal}");
    Console.WriteLine($"  concurrency {options.Concurrency,2}  {many,8:F1} captions/s{idealMany}  ratio {many / one:F2}x");
    if (fake is not null)
    {
        Volatile.Write(ref delayMs, 0);
        var freeOne = await BestAsync(1, "free-c1");
        var free = await BestAsync(options.Concurrency, "free-cN");
        Console.WriteLine($"  the same server answering at once: concurrency 1 {freeOne,8:F1} captions/s ({1000 / freeOne:F1} ms each), concurrency {options.Concurrency} {free,8:F1} captions/s");
        Console.WriteLine("  what limits it:");
        Console.WriteLine($"    the server's latency: in flight / latency = {options.Concurrency} / {options.LatencyMs} ms = {options.Concurrency * 1000.0 / options.LatencyMs:F0}/s at best (Little's law);");
        Console.WriteLine($"    measured {100 * many / (options.Concurrency * 1000.0 / options.LatencyMs):F0} % of it at {options.Concurrency} and {100 * one / (1000.0 / options.LatencyMs):F0} % at 1: each request took {1000 / one:F1} ms at 1, {1000 / one - options.LatencyMs:F1} ms beyond the latency;");
        Console.WriteLine($"    our side (image check, base64, HTTP round trip, pool line) costs {1000 / freeOne:F1} ms a request when the server answers at once,");
        Console.WriteLine("    so the rest is waiting outside our code (the server's timer, thread-pool scheduling on a loaded machine, the run's first and last wave);");
        Console.WriteLine($"    with no latency at all, concurrency {options.Concurrency} reaches {free:F0}/s: our side's ceiling on this machine ({Environment.ProcessorCount} cores, shared with the server)");
    }
}

// Pool captions by id ("caption:…") and rejects by id ("kind:reply").
static SortedDictionary<string, string> Outcomes(RecaptionSummary summary)
{
    var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
    foreach (var shard in summary.Shards)
    {
        foreach (var line in File.ReadLines(shard))
        {
            using var doc = JsonDocument.Parse(line);
            all[doc.RootElement.GetProperty("id").GetString()!] = "caption:" + doc.RootElement.GetProperty("caption").GetString();
        }
    }
    if (File.Exists(summary.RejectsFile))
    {
        foreach (var line in File.ReadLines(summary.RejectsFile))
        {
            using var doc = JsonDocument.Parse(line);
            var reply = doc.RootElement.TryGetProperty("reply", out var r) ? r.ToString() : "";
            all[doc.RootElement.GetProperty("id").GetString()!] = doc.RootElement.GetProperty("kind").GetString() + ":" + reply;
        }
    }
    return all;
}

// `count` PNGs of a few sizes and patterns, img0000.png…
static string WriteImages(string folder, int count)
{
    Directory.CreateDirectory(folder);
    for (var i = 0; i < count; i++)
    {
        using var rgb = RgbImage.Allocate(64 + (i % 7 * 13), 48 + (i % 5 * 17));
        var px = rgb.Pixels;
        for (var p = 0; p < px.Length; p++)
        {
            px[p] = (byte)((p * (i + 3)) >> 2);
        }
        ImageCodec.EncodeFile(rgb, Path.Combine(folder, $"img{i:D4}.png"));
    }
    return folder;
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

/// <summary>One RecaptionJob run: seconds, outcome per id, batches the model made, counts.</summary>
internal sealed record JobRun(double Seconds, SortedDictionary<string, string> Outcomes, int Batches, long Captioned, long Rejected);

/// <summary>The bench's options.</summary>
internal sealed record Options
{
    /// <summary>The instruction: short enough for the tiny model's 128-token context with the image and a caption.</summary>
    public const string PromptText = "Describe the image.";

    public int Images { get; init; } = 64;

    public int Batch { get; init; } = 8;

    public int Concurrency { get; init; } = 16;

    public int MaxTokens { get; init; } = 32;

    public int Repeats { get; init; } = 3;

    public int EndpointImages { get; init; } = 160;

    public int LatencyMs { get; init; } = 40;

    public Uri? Endpoint { get; init; }

    public string? EndpointModel { get; init; }

    public bool SkipModel { get; init; }

    public bool SkipEndpoint { get; init; }

    public static Options Parse(string[] args)
    {
        var o = new Options();
        for (var i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            int Int() => int.Parse(Next(), CultureInfo.InvariantCulture);
            o = args[i] switch
            {
                "--images" => o with { Images = Int() },
                "--batch" => o with { Batch = Int() },
                "--concurrency" => o with { Concurrency = Int() },
                "--max-tokens" => o with { MaxTokens = Int() },
                "--repeats" => o with { Repeats = Int() },
                "--endpoint-images" => o with { EndpointImages = Int() },
                "--latency-ms" => o with { LatencyMs = Int() },
                "--endpoint" => o with { Endpoint = new Uri(Next()) },
                "--endpoint-model" => o with { EndpointModel = Next() },
                "--skip-model" => o with { SkipModel = true },
                "--skip-endpoint" => o with { SkipEndpoint = true },
                var other => throw new ArgumentException($"unknown option {other}"),
            };
        }
        return o;
    }
}
