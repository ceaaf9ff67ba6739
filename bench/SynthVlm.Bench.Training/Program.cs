using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Bench.Training;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Prompts;
using SynthVlm.Vlm.Training;
using static TorchSharp.torch;

// LLaVA stage-1 training of the tiny LLaVA-1.5 (tests/SynthVlm.Vlm.Tests/Fixtures/tiny-llava-hf) on
// a generated LLaVA JSON with PNG images (issue 16):
//   1. throughput: LlavaTrainer.Run end to end (index, loader worker threads decoding and
//      preprocessing the PNGs, forward/backward, clipping, master-weight AdamW, schedule) against
//      the PyTorch loop of train_bench.py (same weights, same samples in the same micro-batches and
//      steps, PIL preprocessing in the loop, and again pre-decoded), same thread count, in the same
//      run; the loader alone too, to name the limit.
//   2. host memory over a 5,000- and a 50,000-sample epoch, each in a fresh child process: the
//      data index, the real MicroBatchLoader over the whole epoch, then LlavaTrainer for a bounded
//      number of steps (--full-epoch: the whole epoch), RSS at intervals.
// Usage: [--steps N] [--batch G] [--micro M] [--threads T] [--workers W] [--epochs 5000,50000]
//        [--memory-batch G] [--memory-steps N] [--full-epoch] [--checkpointing] [--no-python]
//        [--no-throughput] [--no-memory] [--python PATH]
//        --scalar-race [SECONDS] [kept]: the TorchSharp 0.107 Scalar finalizer race alone (ScalarRace.cs)
// Exit code 1 when the losses of the two sides differ or RSS grows with the epoch size.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == "--memory-child")
{
    return MemoryChild.Run(args[1..]);
}
if (args.Length > 0 && args[0] == "--scalar-race")
{
    return ScalarRace.Run(args[1..]);
}
TrainBenchOptions options;
try
{
    options = TrainBenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
var root = RepoRoot();
var fixtures = Path.Combine(root, "tests", "SynthVlm.Vlm.Tests", "Fixtures");
var modelDir = Path.Combine(fixtures, "tiny-llava-hf");
var runtime = TorchRuntime.Initialize();
var withPython = !options.NoPython;
var pythonVersions = withPython
    ? BenchProcess.Run(options.Python, ["-c", "import re, torch, PIL, numpy; b = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show()); print('PyTorch ' + torch.__version__ + ' (BLAS ' + (b.group(1) if b else '?') + '), Pillow ' + PIL.__version__ + ', numpy ' + numpy.__version__)"]).Trim()
    : "PyTorch not run (--no-python)";
Console.WriteLine($"TorchSharp {runtime.TorchSharpVersion}, LibTorch {runtime.LibTorchVersion}; .NET {Environment.Version}; {pythonVersions} ({options.Python}); {Environment.ProcessorCount} cores; torch threads {options.Threads}, loader workers {options.Workers}");
var ok = true;
var work = Directory.CreateTempSubdirectory("synthvlm-bench-train-").FullName;
try
{
    if (!options.SkipThroughput)
    {
        ok &= Throughput.Run(options, modelDir, fixtures, work, withPython);
    }
    if (!options.SkipMemory)
    {
        Console.WriteLine();
        ok &= MemoryRun(options, work);
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}
return ok ? 0 : 1;

static bool MemoryRun(TrainBenchOptions options, string work)
{
    const int DistinctImages = 8;
    var steps = options.FullEpoch ? "the whole epoch" : $"{options.MemorySteps} steps";
    Console.WriteLine($"host memory: per epoch size a fresh process opens the model, indexes the JSON, runs the real MicroBatchLoader over the whole epoch (micro-batch {options.MicroBatch}, {options.Workers} workers: read + encode + PNG decode + preprocess), then LlavaTrainer for {steps} (global batch {options.MemoryBatch}); {DistinctImages} distinct PNGs reused by path");
    var (self, prefix) = BenchProcess.Self();
    var rows = new List<JsonObject>();
    var crashed = false;
    foreach (var size in options.EpochSizes)
    {
        var folder = Path.Combine(work, $"epoch-{size}");
        TrainData.WriteImages(folder, DistinctImages);
        var json = Path.Combine(folder, "data.json");
        var bytes = TrainData.WriteJson(json, size, DistinctImages);
        Console.WriteLine($"-- {size} samples ({bytes / 1048576.0:F1} MiB JSON)");
        string[] childArgs =
        [
            .. prefix, "--memory-child", json, folder, Path.Combine(work, $"out-{size}"),
            Invariant(options.MicroBatch), Invariant(options.MemoryBatch), options.FullEpoch ? "0" : Invariant(options.MemorySteps),
            Invariant(options.Workers), Invariant(options.Threads), options.Checkpointing ? "1" : "0",
        ];
        JsonObject? result = null;
        try
        {
            BenchProcess.Run(self, childArgs, line =>
            {
                if (line.StartsWith("RESULT ", StringComparison.Ordinal))
                {
                    result = JsonNode.Parse(line["RESULT ".Length..])!.AsObject();
                }
                else
                {
                    Console.WriteLine("   " + line);
                }
            });
        }
        catch (InvalidOperationException e)
        {
            // Seen: TorchSharp 0.107 frees an implicitly converted Scalar in a finalizer while the
            // native op still reads it (see --scalar-race); the row is reported, not retried.
            var first = e.Message.Split('\n').FirstOrDefault(l => l.Contains("Exception", StringComparison.Ordinal)) ?? e.Message.Split('\n')[0];
            Console.WriteLine($"   CRASHED: {first.Trim()}");
            crashed = true;
            continue;
        }
        result!["json_mib"] = bytes / 1048576.0;
        rows.Add(result);
    }
    Console.WriteLine();
    Console.WriteLine($"{"samples",8} {"JSON MiB",9} {"index s",8} {"index B/smp",12} {"order B/smp",12} {"loader smp/s",13} {"RSS open",9} {"RSS loader end",15} {"settled",8} {"train steps",12} {"ms/step",8} {"RSS train end",14} {"settled",8} {"peak RSS",9}");
    foreach (var r in rows)
    {
        Console.WriteLine($"{(int)r["samples"]!,8} {(double)r["json_mib"]!,9:F1} {(double)r["index_seconds"]!,8:F2} {(double)r["index_bytes_per_sample"]!,12:F1} {(double)r["order_bytes_per_sample"]!,12:F1} {(double)r["loader_samples_per_s"]!,13:F0} {(double)r["rss_open"]!,9:F1} {(double)r["rss_loader_end"]!,15:F1} {(double)r["settled_loader"]!,8:F1} {(int)r["train_steps"]!,12} {(double)r["ms_per_step"]!,8:F1} {(double)r["rss_train_end"]!,14:F1} {(double)r["settled_train"]!,8:F1} {(double)r["peak_rss"]!,9:F1}");
    }
    Console.WriteLine("RSS in MiB (VmRSS; settled = after a compacting aggressive GC, i.e. what is really kept; peak = VmHWM, transients included). index B/smp: managed bytes the LlavaDataIndex keeps per sample (offset, length, modality length); order B/smp: the epoch's order array.");
    if (rows.Count < 2)
    {
        return !crashed;
    }
    var small = rows[0];
    var large = rows[^1];
    var growth = (double)large["settled_train"]! - (double)small["settled_train"]!;
    var peakGrowth = (double)large["peak_rss"]! - (double)small["peak_rss"]!;
    var expected = ((double)large["index_bytes_per_sample"]! + (double)large["order_bytes_per_sample"]!) * ((int)large["samples"]! - (int)small["samples"]!) / 1048576.0;
    var full = options.FullEpoch ? "" : $"; a full {(int)large["samples"]!}-sample epoch at global batch {options.MemoryBatch} would take ~{(double)large["ms_per_step"]! * Math.Ceiling((int)large["samples"]! / (double)options.MemoryBatch) / 60000:F1} min of training at this rate";
    Console.WriteLine($"{(int)small["samples"]!} -> {(int)large["samples"]!} samples: settled RSS after training {growth:+0.0;-0.0} MiB, peak RSS {peakGrowth:+0.0;-0.0} MiB (index + order must add {expected:F1} MiB){full}");
    // Flat means: settled RSS within 8 MiB plus what the index and order must hold. More per sample than that is a leak.
    if (growth > 8 + expected)
    {
        Console.WriteLine($"GROWTH: settled RSS grew {growth:F1} MiB with the epoch size, more than the {expected:F1} MiB the index and order account for");
        return false;
    }
    return !crashed;
}

static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

static string RepoRoot()
{
    for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
        {
            return dir.FullName;
        }
    }
    throw new InvalidOperationException($"SynthVlm.sln not found above {AppContext.BaseDirectory}.");
}

/// <summary>Part 1: LlavaTrainer against the PyTorch loop, and the loader alone.</summary>
internal static class Throughput
{
    public static bool Run(TrainBenchOptions o, string modelDir, string fixtures, string work, bool withPython)
    {
        const int DistinctImages = 16;
        var folder = Path.Combine(work, "throughput");
        TrainData.WriteImages(folder, DistinctImages);
        var json = Path.Combine(folder, "data.json");
        var totalSteps = o.Steps + 1;
        TrainData.WriteJson(json, totalSteps * o.GlobalBatch, DistinctImages);
        var accumulation = o.GlobalBatch / o.MicroBatch;
        TrainingSettings Settings(string output) => TrainingSettings.Pretrain([new TrainingDataSource(json, folder)], output) with
        {
            GlobalBatchSize = o.GlobalBatch,
            MicroBatchSize = o.MicroBatch,
            MaxSteps = totalSteps,
            SaveEvery = 0,
            DataWorkers = o.Workers,
            GradientCheckpointing = o.Checkpointing,
        };
        set_num_threads(o.Threads);
        Console.WriteLine();
        Console.WriteLine($"stage-1 training throughput: {o.Steps} timed steps after 1 warm-up step, global batch {o.GlobalBatch} = {accumulation} micro-batches of {o.MicroBatch}, {DistinctImages} distinct PNGs (36-144 px) in a generated LLaVA JSON, gradient checkpointing {(o.Checkpointing ? "on" : "off")}, best of 2 alternated rounds");

        // The samples of each micro-batch, encoded from the order the trainer follows (seed 42, epoch 0).
        var index = LlavaDataIndex.Build(json, folder);
        var order = TrainingOrder.ForEpoch([index], [1.0], Settings(work).Seed, 0, false, o.MicroBatch);
        var request = new JsonObject
        {
            ["model"] = modelDir,
            ["reference"] = Path.Combine(fixtures, "make_llava_reference.py"),
            ["image_reference"] = Path.Combine(fixtures, "make_llava_image_reference.py"),
            ["vlm_bench"] = Path.Combine(AppContext.BaseDirectory, "vlm_bench.py"),
            ["threads"] = o.Threads,
            ["steps"] = totalSteps,
            ["lr"] = Settings(work).LearningRate,
            ["warmup_ratio"] = Settings(work).WarmupRatio,
            ["max_grad_norm"] = Settings(work).MaxGradNorm,
            ["modes"] = new JsonArray("decode", "predecoded"),
        };
        var imageTokens = 0;
        using (var encoder = LlavaPipeline.Open(modelDir))
        {
            request["image_size"] = encoder.Images.Height;
            imageTokens = encoder.Model.Config.ImageTokenCount;
            var steps = new JsonArray();
            for (var s = 0; s < totalSteps; s++)
            {
                var micro = new JsonArray();
                for (var m = 0; m < accumulation; m++)
                {
                    var samples = new JsonArray();
                    for (var i = 0; i < o.MicroBatch; i++)
                    {
                        var reference = order[(s * o.GlobalBatch) + (m * o.MicroBatch) + i];
                        var conversation = index.Read(reference.Index);
                        var prepared = encoder.Prompts.Encode(conversation, ConversationTemplate.Plain);
                        samples.Add(new JsonObject
                        {
                            ["input_ids"] = new JsonArray([.. prepared.InputIds.Select(v => (JsonNode)v)]),
                            ["labels"] = new JsonArray([.. prepared.Labels.Select(v => (JsonNode)v)]),
                            ["image"] = Path.Combine(folder, conversation.Image!),
                        });
                    }
                    micro.Add(samples);
                }
                steps.Add(micro);
            }
            request["batches"] = steps;
        }

        var ours = new List<(double Seconds, long Tokens, List<double> Losses, List<long> StepTokens)>();
        var theirs = new List<JsonElement>();
        var loaderSeconds = double.MaxValue;
        for (var round = 0; round < 2; round++)
        {
            ours.Add(TrainOurs(modelDir, Settings(Path.Combine(work, $"out-{round}"))));
            loaderSeconds = Math.Min(loaderSeconds, LoaderAlone(modelDir, Settings(Path.Combine(work, "loader")), json, folder, accumulation));
            if (withPython)
            {
                var path = Path.Combine(work, "request.json");
                File.WriteAllText(path, request.ToJsonString());
                var output = BenchProcess.Run(o.Python, [Path.Combine(AppContext.BaseDirectory, "train_bench.py"), path]);
                theirs.Add(JsonDocument.Parse(output).RootElement.Clone());
            }
        }
        var samplesTimed = (double)o.Steps * o.GlobalBatch;
        var best = ours.MinBy(r => r.Seconds);
        var tokens = best.Tokens;
        Console.WriteLine($"tokens = sequence positions after splicing the {imageTokens} image positions in (padding excluded): {tokens / (double)o.Steps:F0} per step");
        Console.WriteLine($"{"side",-44} {"samples/s",10} {"tokens/s",10} {"ms/step",8} {"TS/PT",6}");
        Row("TorchSharp LlavaTrainer.Run (end to end)", best.Seconds, null);
        var ok = true;
        if (withPython)
        {
            foreach (var mode in new[] { "decode", "predecoded" })
            {
                var seconds = theirs.Min(t => t.GetProperty(mode).GetProperty("seconds").GetDouble());
                var label = mode == "decode" ? "PyTorch loop, PIL decode+preprocess in loop" : "PyTorch loop, images pre-decoded";
                Row(label, seconds, best.Seconds);
            }
            var py = theirs[0].GetProperty("decode");
            var pyTokens = py.GetProperty("tokens").EnumerateArray().Select(t => t.GetInt64()).ToList();
            var pyLosses = py.GetProperty("losses").EnumerateArray().Select(t => t.GetDouble()).ToList();
            var imageSeconds = theirs.Min(t => t.GetProperty("decode").GetProperty("image_seconds").GetDouble());
            Console.WriteLine($"PyTorch's PIL decode + preprocess alone (1 thread, in the loop): {samplesTimed / imageSeconds,8:F0} samples/s ({100 * imageSeconds / theirs.Min(t => t.GetProperty("decode").GetProperty("seconds").GetDouble()):F0} % of its loop)");
            var maxDiff = best.Losses.Zip(pyLosses).Max(p => Math.Abs(p.First - p.Second));
            var sameTokens = best.StepTokens.SequenceEqual(pyTokens);
            Console.WriteLine($"same work: tokens per step {(sameTokens ? "equal" : "DIFFER")} on both sides; per-step losses max |TS - PT| = {maxDiff:E1} over {pyLosses.Count} steps (first {best.Losses[0]:F5} / {pyLosses[0]:F5}, last {best.Losses[^1]:F5} / {pyLosses[^1]:F5})");
            if (!sameTokens || maxDiff > 1e-3)
            {
                Console.WriteLine("BATCHES OR LOSSES DIFFER: the two sides did not train on the same data");
                ok = false;
            }
        }
        var loaderRate = samplesTimed / loaderSeconds;
        var trainRate = samplesTimed / best.Seconds;
        Console.WriteLine($"TorchSharp loader alone (MicroBatchLoader: read + encode + PNG decode + preprocess, {o.Workers} workers, one micro-batch ahead): {loaderRate,8:F0} samples/s, {1000 * loaderSeconds / o.Steps:F1} ms per step's samples");
        var limit = loaderRate > 2 * trainRate
            ? $"the model step (forward, backward, optimizer): the loader alone delivers {loaderRate / trainRate:F1}x the samples training consumes, and it runs one micro-batch ahead on worker threads, so image work is hidden behind compute"
            : $"the data loader: it delivers only {loaderRate / trainRate:F1}x the samples training consumes; decoding and preprocessing compete with the model for the {Environment.ProcessorCount} cores";
        Console.WriteLine($"limit: {limit}");
        Console.WriteLine("TS/PT = TorchSharp samples/s over PyTorch samples/s. TorchSharp includes JSON indexing and reading, tokenization, PNG decode and preprocessing on worker threads (overlapped with compute), the model step and the per-step log line; PyTorch includes PIL decode and preprocessing in the main thread (decode row) or nothing of the data (pre-decoded row); token ids are encoded once by C# for it.");
        return ok;

        void Row(string label, double seconds, double? ourSeconds)
        {
            var ratio = ourSeconds is { } s ? $"{seconds / s,6:F2}" : $"{"",6}";
            Console.WriteLine($"{label,-44} {samplesTimed / seconds,10:F0} {tokens / seconds,10:F0} {1000 * seconds / o.Steps,8:F1} {ratio}");
        }
    }

    /// <summary>LlavaTrainer.Run on a fresh copy of the model; seconds from the end of step 1 to the end of the last step.</summary>
    private static (double Seconds, long Tokens, List<double> Losses, List<long> StepTokens) TrainOurs(string modelDir, TrainingSettings settings)
    {
        using var pipeline = LlavaPipeline.Open(modelDir);
        var clock = Stopwatch.StartNew();
        var ends = new List<double>();
        var stepTokens = new List<long>();
        var result = new LlavaTrainer(pipeline, settings).Run(step =>
        {
            ends.Add(clock.Elapsed.TotalSeconds);
            stepTokens.Add(step.Tokens);
        });
        Directory.Delete(settings.OutputDirectory, recursive: true);
        return (ends[^1] - ends[0], stepTokens.Skip(1).Sum(), [.. result.Losses], stepTokens);
    }

    /// <summary>The real MicroBatchLoader over the same samples; seconds for all micro-batches after the first step's.</summary>
    private static double LoaderAlone(string modelDir, TrainingSettings settings, string json, string folder, int accumulation)
    {
        using var pipeline = LlavaPipeline.Open(modelDir);
        var index = LlavaDataIndex.Build(json, folder);
        using var loader = new MicroBatchLoader(pipeline, [index], [1.0], settings, ConversationTemplate.Plain, ImageAspectMode.Crop, 0, 0);
        for (var m = 0; m < accumulation; m++)
        {
            _ = loader.Next();
        }
        var clock = Stopwatch.StartNew();
        var count = 0;
        while (loader.Next() is { } batch)
        {
            count += batch.Sequences.Count;
        }
        return clock.Elapsed.TotalSeconds;
    }
}

/// <summary>Part 2, one epoch size in its own process: index, loader over the epoch, bounded training.</summary>
internal static class MemoryChild
{
    public static int Run(string[] args)
    {
        var (json, folder, output) = (args[0], args[1], args[2]);
        int Int(int i) => int.Parse(args[i], CultureInfo.InvariantCulture);
        var (micro, global, maxSteps, workers, threads, checkpointing) = (Int(3), Int(4), Int(5), Int(6), Int(7), Int(8) == 1);
        TorchRuntime.Initialize();
        set_num_threads(threads);
        var modelDir = ModelDirectory();
        using var pipeline = LlavaPipeline.Open(modelDir);
        var rssOpen = HostMemory.RssMiB();

        var before = GC.GetTotalMemory(forceFullCollection: true);
        var clock = Stopwatch.StartNew();
        var index = LlavaDataIndex.Build(json, folder);
        var indexSeconds = clock.Elapsed.TotalSeconds;
        var indexBytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        before = GC.GetTotalMemory(forceFullCollection: true);
        var order = TrainingOrder.ForEpoch([index], [1.0], 42, 0, false, micro);
        var orderBytes = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(order);
        var samples = index.Count;
        Console.WriteLine($"index: {samples} samples in {indexSeconds:F2} s, {indexBytes / (double)samples:F1} B/sample kept; order {orderBytes / (double)samples:F1} B/sample; RSS {HostMemory.RssMiB():F1} MiB (after opening the model {rssOpen:F1})");

        var settings = TrainingSettings.Pretrain([new TrainingDataSource(json, folder)], output) with
        {
            GlobalBatchSize = global,
            MicroBatchSize = micro,
            MaxSteps = maxSteps == 0 ? null : maxSteps,
            SaveEvery = 0,
            DataWorkers = workers,
            GradientCheckpointing = checkpointing,
        };
        var microBatches = (samples + micro - 1) / micro;
        var every = Math.Max(1, microBatches / 5);
        Console.WriteLine($"{"loader",-8} {"samples",8} {"RSS MiB",8} {"GC heap MiB",12} {"s",7}");
        clock.Restart();
        var seen = 0;
        var count = 0;
        using (var loader = new MicroBatchLoader(pipeline, [index], [1.0], settings, ConversationTemplate.Plain, ImageAspectMode.Crop, 0, 0))
        {
            while (loader.Next() is { } batch)
            {
                seen += batch.Sequences.Count;
                if (++count % every == 0 || count == microBatches)
                {
                    Console.WriteLine($"{"",-8} {seen,8} {HostMemory.RssMiB(),8:F1} {GC.GetTotalMemory(false) / 1048576.0,12:F1} {clock.Elapsed.TotalSeconds,7:F1}");
                }
            }
        }
        var loaderRate = seen / clock.Elapsed.TotalSeconds;
        var rssLoaderEnd = HostMemory.RssMiB();
        var settledLoader = Settled();
        GC.KeepAlive(index);

        var trainClock = Stopwatch.StartNew();
        var ends = new List<double>();
        var probeEvery = 0;
        Console.WriteLine($"{"train",-8} {"step",8} {"RSS MiB",8} {"GC heap MiB",12} {"s",7} {"loss",8}");
        var result = new LlavaTrainer(pipeline, settings).Run(step =>
        {
            ends.Add(trainClock.Elapsed.TotalSeconds);
            if (probeEvery == 0)
            {
                probeEvery = Math.Max(1, step.TotalSteps / 5);
            }
            if (step.Step == 1 || step.Step % probeEvery == 0 || step.Step == step.TotalSteps)
            {
                Console.WriteLine($"{"",-8} {step.Step,8} {HostMemory.RssMiB(),8:F1} {GC.GetTotalMemory(false) / 1048576.0,12:F1} {trainClock.Elapsed.TotalSeconds,7:F1} {step.Loss,8:F4}");
            }
        });
        var rssTrainEnd = HostMemory.RssMiB();
        var settledTrain = Settled();
        var msPerStep = ends.Count > 1 ? 1000 * (ends[^1] - ends[0]) / (ends.Count - 1) : 1000 * ends[0];
        var summary = new JsonObject
        {
            ["samples"] = samples,
            ["index_seconds"] = indexSeconds,
            ["index_bytes_per_sample"] = indexBytes / (double)samples,
            ["order_bytes_per_sample"] = orderBytes / (double)samples,
            ["loader_samples_per_s"] = loaderRate,
            ["rss_open"] = rssOpen,
            ["rss_loader_end"] = rssLoaderEnd,
            ["train_steps"] = result.Steps,
            ["ms_per_step"] = msPerStep,
            ["rss_train_end"] = rssTrainEnd,
            ["settled_loader"] = settledLoader,
            ["settled_train"] = settledTrain,
            ["peak_rss"] = HostMemory.PeakMiB(),
        };
        Console.WriteLine("RESULT " + summary.ToJsonString());
        return 0;
    }

    /// <summary>RSS after a blocking, compacting, aggressive GC (which returns free GC memory to the OS): what is really kept.</summary>
    private static double Settled()
    {
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        return HostMemory.RssMiB();
    }

    private static string ModelDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
            {
                return Path.Combine(dir.FullName, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
            }
        }
        throw new InvalidOperationException($"SynthVlm.sln not found above {AppContext.BaseDirectory}.");
    }
}
