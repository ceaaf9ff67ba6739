using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Bench.Vlm;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

// The tiny LLaVA-1.5 (tests/SynthVlm.Vlm.Tests/Fixtures/tiny-llava-hf) in TorchSharp against the
// same weights and batch in PyTorch (vlm_bench.py, which imports the parity reference model by
// path), in the same run, same thread count and step count, best of 3 alternated rounds:
//   1. forward + loss + backward tokens/s (real tokens after splicing the image in)
//   2. greedy generation tokens/s with a KV cache (needs lib/SynthVlm.Vlm/Generation; see below)
//   3. memory over 1,000 forward/backward steps with an SGD update: RSS and live tensors
// Usage: [--steps N] [--batch B] [--memory-steps N] [--threads 1,4] [--model DIR]
//        [--device cpu|cuda] [--dtype float32|bfloat16] [--no-python] [--python PATH]
// Exit code 1 when live tensors grow during the memory run.
// --synthetic-7b [...]: LLaVA-1.5-7B's shapes with random weights instead (Synthetic7B.cs; for GPU nodes).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args.Contains("--synthetic-7b"))
{
    return Synthetic7B.Run(args);
}
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
var root = RepoRoot();
var modelDir = options.Model ?? Path.Combine(root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");
var referenceScript = Path.Combine(root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "make_llava_reference.py");
var runtime = TorchRuntime.Initialize();
if (options.Device == "cuda")
{
    // Loads LibTorch's CUDA backend (TorchSharp-cuda-linux, -p:SynthVlmTorchBackend=Cuda); throws when absent.
    string? problem = null;
    try
    {
        InitializeDeviceType(DeviceType.CUDA);
        problem = cuda.is_available() ? null : "LibTorch sees no CUDA device";
    }
    catch (Exception e) when (e is InvalidOperationException or NotSupportedException or DllNotFoundException or TypeInitializationException)
    {
        problem = e.Message.Split('\n')[0];
    }
    if (problem is not null)
    {
        Console.Error.WriteLine($"--device cuda: {problem}. Build with -p:SynthVlmTorchBackend=Cuda on a GPU node (eng/gpu/check_vlm.sh).");
        return 2;
    }
}
var device = options.Device == "cuda" ? CUDA : CPU;
var dtype = options.DType == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
// The PyTorch reference is an fp32 CPU model; on CUDA or in bf16 only the TorchSharp side runs.
var withPython = !options.NoPython && options.Device == "cpu" && dtype == ScalarType.Float32;
var work = Directory.CreateTempSubdirectory("synthvlm-bench-vlm-").FullName;
try
{
    using var model = LlavaModelLoader.Load(modelDir, new LlavaLoadOptions(device, dtype));
    var config = model.Config;
    var sequences = TrainingBatch(config, options.Batch);
    using var pixels = BenchInputs.Pixels(options.Batch, config.Vision.ImageSize, device, dtype);
    var pythonVersion = withPython ? BenchInputs.PythonTorchVersion(options.Python) : "not run";
    Console.WriteLine($"model {modelDir} ({config.Text.NumHiddenLayers}+{config.Vision.NumHiddenLayers} layers, hidden {config.Text.HiddenSize}, vocab {config.Text.VocabSize}, {config.ImageTokenCount} image tokens)");
    Console.WriteLine($"TorchSharp {runtime.TorchSharpVersion}, LibTorch {runtime.LibTorchVersion}; PyTorch {pythonVersion} ({options.Python}); {Environment.ProcessorCount} cores; threads {string.Join(",", options.Threads)}; .NET {Environment.Version}; device {options.Device}, {options.DType}");
    if (!withPython)
    {
        Console.WriteLine(options.NoPython ? "PyTorch column skipped (--no-python)" : "PyTorch column skipped: the reference runs fp32 on the CPU only");
    }

    // 1. Forward + backward.
    Console.WriteLine();
    var tokensPerStep = 0L;
    using (var output = model.Forward(sequences, pixels))
    {
        tokensPerStep = output.Batch.Lengths.Sum();
    }
    Console.WriteLine($"forward+loss+backward, batch {options.Batch} with images ({tokensPerStep} real tokens after splicing, {options.Steps} steps per round, best of 3 alternated)");
    Console.WriteLine($"{"threads",7} {"TorchSharp tok/s",17} {"PyTorch tok/s",14} {"TS/PT",7} {"TS ms/step",11} {"PT ms/step",11} {"loss TS",9} {"loss PT",9}");
    foreach (var threads in options.Threads)
    {
        var oursBest = double.MaxValue;
        var theirsBest = double.MaxValue;
        double oursLoss = 0, theirsLoss = 0;
        for (var round = 0; round < 3; round++)
        {
            var (seconds, loss) = TrainRound(model, sequences, pixels, threads, options.Steps);
            oursBest = Math.Min(oursBest, seconds);
            oursLoss = loss;
            if (withPython)
            {
                var result = BenchInputs.RunPython(options.Python, work, BenchInputs.Request("train", modelDir, referenceScript, sequences, options.Batch, config.Vision.ImageSize, threads, options.Steps, 0));
                theirsBest = Math.Min(theirsBest, result.GetProperty("seconds").GetDouble());
                theirsLoss = result.GetProperty("loss").GetDouble();
                if (result.GetProperty("tokens_per_step").GetInt64() != tokensPerStep)
                {
                    Console.WriteLine($"  PyTorch counted {result.GetProperty("tokens_per_step").GetInt64()} tokens per step, TorchSharp {tokensPerStep}: BATCHES DIFFER");
                }
            }
        }
        var ours = tokensPerStep * options.Steps / oursBest;
        var pt = withPython ? $"{tokensPerStep * options.Steps / theirsBest,14:F0} {theirsBest / oursBest,6:F2}x" : $"{"-",14} {"-",7}";
        var ptMs = withPython ? $"{1000 * theirsBest / options.Steps,11:F2}" : $"{"-",11}";
        var ptLoss = withPython ? $"{theirsLoss,9:F5}" : $"{"-",9}";
        // Same weights and batch: the losses agree to fp32 rounding (the parity tests hold them to 1e-5).
        var lossCheck = withPython && Math.Abs(oursLoss - theirsLoss) > 1e-4 ? " LOSSES DIFFER" : "";
        Console.WriteLine($"{threads,7} {ours,17:F0} {pt} {1000 * oursBest / options.Steps,11:F2} {ptMs} {oursLoss,9:F5} {ptLoss}{lossCheck}");
    }
    Console.WriteLine("TS/PT = TorchSharp tokens/s over PyTorch tokens/s: above 1, TorchSharp is faster. Both sides splice, pad, run the vision tower, the projector and the decoder, and backpropagate into every weight.");
    if (withPython)
    {
        // What limits the rows above: the BLAS each side links. The lm_head product of this batch alone.
        long[] shape = [tokensPerStep, config.Text.HiddenSize, config.Text.VocabSize];
        foreach (var threads in options.Threads)
        {
            var ms = MatmulMs(shape, threads, device, dtype);
            var request = new JsonObject { ["mode"] = "matmul", ["shape"] = new JsonArray(shape.Select(v => (JsonNode)v).ToArray()), ["threads"] = threads, ["steps"] = 200, ["warmup"] = 20 };
            var theirs = 1000 * BenchInputs.RunPython(options.Python, work, request).GetProperty("seconds").GetDouble() / 200;
            var flops = 2.0 * shape[0] * shape[1] * shape[2];
            Console.WriteLine($"limit: linear [{shape[0]}x{shape[1]}]x[{shape[1]}x{shape[2]}] at {threads} thread(s): LibTorch {ms:F3} ms ({flops / ms / 1e6:F1} GFLOP/s), PyTorch {theirs:F3} ms ({flops / theirs / 1e6:F1} GFLOP/s)");
        }
    }

    // 2. Generation.
    Console.WriteLine();
    Console.WriteLine(GenerationBench.Run(model, options, modelDir, referenceScript, work, withPython));

    // 3. Building a 7B graph: parameters are created uninitialised (torch.empty), so the cost is
    // allocation, not random numbers; the reference is what initialising them would add.
    Console.WriteLine();
    GraphBuild();

    // 4. Memory.
    Console.WriteLine();
    return MemoryRun(model, sequences, pixels, options.MemorySteps, options.Threads[^1]) ? 0 : 1;
}
finally
{
    Directory.Delete(work, recursive: true);
}

static void GraphBuild()
{
    // LLaVA-1.5-7B: CLIP ViT-L/14-336 and Vicuna-7B v1.5, as their config.json files give them.
    var config = new LlavaConfig(
        new VisionTowerConfig(1024, 4096, 24, 16, 336, 14),
        new LlamaConfig(32000, 4096, 11008, 32, 32, 32, 4096),
        "mlp2x_gelu", -2, true, LlavaConfig.LlavaImageTokenIndex, "pad", 2048, 0, LlavaLayout.Original);
    var rssBefore = RssMiB();
    var sw = Stopwatch.StartNew();
    using var big = new LlavaModel(config, CPU, ScalarType.BFloat16);
    var build = sw.Elapsed.TotalSeconds;
    var parameters = big.parameters().Sum(p => p.numel());
    var rssAfter = RssMiB();
    // Reference: fill one decoder layer the way an initialiser would (normal_), scaled to all parameters.
    var layer = big.named_parameters().Where(p => p.name.StartsWith("language_model.model.layers.0.", StringComparison.Ordinal)).Select(p => p.parameter).ToList();
    var layerCount = layer.Sum(p => p.numel());
    sw.Restart();
    using (no_grad())
    {
        foreach (var p in layer)
        {
            p.normal_(0, 0.02);
        }
    }
    var initPerParameter = sw.Elapsed.TotalSeconds / layerCount;
    var initAll = initPerParameter * parameters;
    Console.WriteLine($"LLaVA-1.5-7B graph (CLIP-L/336 + Vicuna-7B, bf16, CPU): {parameters / 1e9:F2} B parameters built uninitialised in {build:F2} s (RSS {rssBefore:F0} -> {rssAfter:F0} MiB: pages are touched only when loaded)");
    Console.WriteLine($"  reference: initialising them (normal_, measured on one decoder layer of {layerCount / 1e6:F0} M) would add ~{initAll:F0} s; build / (build + init) = {build / (build + initAll):F3}");
}

static double MatmulMs(long[] shape, int threads, Device device, ScalarType dtype)
{
    set_num_threads(threads);
    using var x = ones([shape[0], shape[1]], dtype, device).div_(shape[1]);
    using var w = ones([shape[2], shape[1]], dtype, device).div_(shape[1]);
    for (var i = 0; i < 20; i++)
    {
        nn.functional.linear(x, w).Dispose();
    }
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < 200; i++)
    {
        nn.functional.linear(x, w).Dispose();
    }
    return sw.Elapsed.TotalMilliseconds / 200;
}

// One round: warm-up, then `steps` timed forward+backward steps; returns seconds and the last loss.
static (double Seconds, double Loss) TrainRound(LlavaModel model, List<LlavaSequence> sequences, Tensor pixels, int threads, int steps)
{
    set_num_threads(threads);
    var loss = 0.0;
    for (var i = 0; i < 2; i++)
    {
        loss = TrainStep(model, sequences, pixels);
    }
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < steps; i++)
    {
        TrainStep(model, sequences, pixels);
    }
    return (sw.Elapsed.TotalSeconds, loss);
}

static double TrainStep(LlavaModel model, List<LlavaSequence> sequences, Tensor pixels)
{
    using var scope = NewDisposeScope();
    using var output = model.Forward(sequences, pixels);
    output.Loss!.backward();
    var loss = output.Loss.to_type(ScalarType.Float32).item<float>();
    model.zero_grad();
    return loss;
}

// 1,000 steps (or --memory-steps) with a manual SGD update under no_grad, each inside its own
// dispose scope; RSS and TorchSharp's live tensor count at steps 1, 10, 100, 500 and the last.
static bool MemoryRun(LlavaModel model, List<LlavaSequence> sequences, Tensor pixels, int steps, int threads)
{
    set_num_threads(threads);
    var probes = new SortedSet<int>(new[] { 1, 10, 100, 500, steps }.Where(s => s <= steps));
    Console.WriteLine($"memory: {steps} forward+backward steps with an SGD update (p -= 1e-4 * grad under no_grad), {threads} thread(s)");
    Console.WriteLine($"{"step",6} {"RSS MiB",9} {"live tensors",13} {"loss",9} {"ms/step",8}");
    var lastProbe = (Step: 0, Ms: 0.0);
    var parameters = model.parameters().ToList();
    var sw = Stopwatch.StartNew();
    var live = new Dictionary<int, long>();
    var rss = new Dictionary<int, double>();
    for (var step = 1; step <= steps; step++)
    {
        float loss;
        using (var scope = NewDisposeScope())
        {
            using var output = model.Forward(sequences, pixels);
            output.Loss!.backward();
            loss = output.Loss.to_type(ScalarType.Float32).item<float>();
            using (no_grad())
            {
                foreach (var p in parameters)
                {
                    if (p.grad is { } grad)
                    {
                        p.sub_(grad.mul(1e-4));
                    }
                }
            }
            model.zero_grad();
        }
        if (probes.Contains(step))
        {
            live[step] = DisposeScopeManager.Statistics.ThreadTotalLiveCount;
            rss[step] = RssMiB();
            var now = sw.Elapsed.TotalMilliseconds;
            Console.WriteLine($"{step,6} {rss[step],9:F1} {live[step],13} {loss,9:F5} {(now - lastProbe.Ms) / (step - lastProbe.Step),8:F2}");
            lastProbe = (step, now);
        }
    }
    var from = probes.Count > 1 ? probes.ElementAt(1) : probes.Min;
    var growth = live[steps] - live[from];
    Console.WriteLine($"after warm-up (step {from} to {steps}): live tensors {growth:+0;-0;0}, RSS {rss[steps] - rss[from]:+0.0;-0.0;0.0} MiB; {1000 * sw.Elapsed.TotalSeconds / steps:F2} ms/step");
    if (growth > 0)
    {
        Console.WriteLine($"LEAK: {growth} tensors more are alive after step {steps} than after step {from}");
        return false;
    }
    return true;
}

// `batch` sequences: BOS, the image, then text ids; 100, 97, 94, 91 real tokens after splicing
// (capped at the model's max length), labels = the text (BOS and image ignored).
static List<LlavaSequence> TrainingBatch(LlavaConfig config, int batch)
{
    var list = new List<LlavaSequence>(batch);
    for (var b = 0; b < batch; b++)
    {
        var total = Math.Min(100, config.ModelMaxLength) - (3 * (b % 4));
        var textLength = Math.Max(1, total - 1 - config.ImageTokenCount);
        var ids = new int[2 + textLength];
        var labels = new int[ids.Length];
        ids[0] = 1;
        ids[1] = LlavaConfig.LlavaImageTokenIndex;
        labels[0] = labels[1] = LlavaConfig.IgnoreIndex;
        for (var t = 0; t < textLength; t++)
        {
            ids[2 + t] = labels[2 + t] = TextId(config, (b * 131) + (t * 17));
        }
        list.Add(new LlavaSequence(ids, labels));
    }
    return list;
}

// An ordinary token id (3..vocab): not BOS/EOS/UNK and not the llava-hf image or pad token.
static int TextId(LlavaConfig config, int seed)
{
    var id = 3 + (seed % (Math.Min(config.Text.VocabSize, 512) - 3));
    return config.IsImageToken(id) ? 3 : id;
}

static double RssMiB()
{
    foreach (var line in File.ReadLines("/proc/self/status"))
    {
        if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
        {
            return double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024;
        }
    }
    return double.NaN;
}

static string RepoRoot()
{
    foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
            {
                return dir.FullName;
            }
        }
    }
    throw new InvalidOperationException($"SynthVlm.sln not found above {AppContext.BaseDirectory} or {Directory.GetCurrentDirectory()}: run the bench from the repository (it reads the tiny model fixture and the reference script there).");
}

