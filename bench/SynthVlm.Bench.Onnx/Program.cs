using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Clip;
using SynthVlm.Diffusion;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Onnx;

// Tiny CLIP and tiny SDXL per call through ONNX Runtime's managed package (Microsoft.ML.OnnxRuntime),
// each row printed with its ratio against what the previous in-tree C-API binding measured (the
// constants below), and against onnxruntime-node in the same run when that is installed; then CLIP
// preprocessing of 1024x1024 JPEGs against Pillow + numpy.
// Usage: [CLIP_DIR or ""] [RUNS] [SDXL_IMAGES]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var work = Directory.CreateTempSubdirectory("synthvlm-bench-onnx-").FullName;
try
{
    var modelDir = args.Length > 0 && args[0].Length > 0 ? Path.GetFullPath(args[0]) : DefaultModels.EnsureTinyClip(Path.Combine(work, "clip"));
    var iterations = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 200;
    var sdxlImages = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 8;
    var nodeModules = Environment.GetEnvironmentVariable("SYNTHVLM_BENCH_NODE_MODULES") is { Length: > 0 } nm
        ? nm
        : Path.Combine(Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } x ? x : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache"), "synthvlm", "bench-node", "node_modules");
    var withNode = Directory.Exists(Path.Combine(nodeModules, "onnxruntime-node"));
    using var model = ClipModel.Load(modelDir);
    var modelPath = Path.Combine(modelDir, ClipModel.ModelFileName);
    var vocab = model.Tokenizer.VocabSize;
    var side = model.ImageProcessor.CropHeight;
    Console.WriteLine($"model {modelDir}; ONNX Runtime {OrtEnv.Instance().GetVersionString()} (managed package, native from {OnnxSessions.NativeFolder()}); {Environment.ProcessorCount} cores; .NET {Environment.Version}; {iterations} runs per row");
    Console.WriteLine(withNode ? $"onnxruntime-node found in {nodeModules}" : $"onnxruntime-node not installed in {nodeModules}: node column skipped (optional; see README)");
    Console.WriteLine();
    Console.WriteLine($"{"tiny CLIP run",-34} {"threads",7} {"managed ms",11} {"previous ms",12} {"prev/managed",13} {"node ms",9} {"node/managed",13} {"items/s",8}");
    foreach (var threads in new[] { 1, Environment.ProcessorCount })
    {
        foreach (var (mode, batch) in new[] { ("images", 1), ("images", 8), ("texts", 1), ("texts", 8) })
        {
            // Alternated three times, best of each: a busy machine slows whichever runs at the time.
            (double Ms, double TextSum, double ImageSum) ours = (double.MaxValue, 0, 0);
            var nodeMs = double.MaxValue;
            var same = true;
            for (var round = 0; round < 3; round++)
            {
                var o = RunOurs(modelPath, threads, batch, mode, iterations, vocab, side);
                ours = o.Ms < ours.Ms ? o : ours;
                if (withNode)
                {
                    var node = RunNode(nodeModules, modelPath, threads, batch, mode, iterations, vocab, side);
                    nodeMs = Math.Min(nodeMs, node.GetProperty("ms_per_run").GetDouble());
                    same &= Math.Abs(o.TextSum - node.GetProperty("text_sum").GetDouble()) < 1e-3
                        && Math.Abs(o.ImageSum - node.GetProperty("image_sum").GetDouble()) < 1e-3;
                }
            }
            var label = mode == "images" ? $"{batch} image(s) + 1 text per run" : $"{batch} text(s) + 1 image per run";
            var previous = PreviousBinding.ClipMs(mode, batch, threads == 1);
            var nodeText = withNode ? $"{nodeMs,9:F3} {nodeMs / ours.Ms,12:F2}x{(same ? "" : " OUTPUTS DIFFER")}" : $"{"-",9} {"-",13}";
            Console.WriteLine($"{label,-34} {threads,7} {ours.Ms,11:F3} {previous,12:F3} {previous / ours.Ms,12:F2}x {nodeText} {batch * 1000 / ours.Ms,8:F0}");
        }
    }
    Console.WriteLine($"prev/managed = the previous binding's ms ({PreviousBinding.Source}) / managed ms: above 1, the managed package is faster.");

    // Tiny SDXL: the whole pipeline (base + refiner, 256x256, 20 steps, CFG), as bench/SynthVlm.Bench.Diffusion runs it.
    Console.WriteLine();
    var baseDir = DefaultSdxlModels.EnsureTinyBase(Path.Combine(work, "base"));
    var refinerDir = DefaultSdxlModels.EnsureTinyRefiner(Path.Combine(work, "refiner"));
    using (var baseModel = SdxlModel.Load(baseDir))
    using (var refiner = SdxlModel.Load(refinerDir))
    {
        var pipeline = new SdxlPipeline(baseModel, refiner);
        var settings = new GenerationSettings { Width = 256, Height = 256, Steps = 20, Guidance = 5, UseRefiner = true };
        pipeline.Generate(["warm-up"], [0UL], settings).Images[0].Image?.Dispose();
        Console.WriteLine($"{"tiny SDXL (256x256, 20 steps, CFG, refiner)",-44} {"managed",9} {"previous",9} {"prev/managed",13} {"outside ORT",12}");
        foreach (var batchSize in new[] { 1, 4 })
        {
            // One pass over the images, as bench/SynthVlm.Bench.Diffusion measured the previous numbers.
            double bestImage = double.MaxValue, bestStep = double.MaxValue, outside = 0;
            for (var round = 0; round < 1; round++)
            {
                double total = 0, inside = 0, denoise = 0;
                var sw = Stopwatch.StartNew();
                for (var i = 0; i < sdxlImages; i += batchSize)
                {
                    var n = Math.Min(batchSize, sdxlImages - i);
                    var batch = pipeline.Generate(Enumerable.Range(i, n).Select(k => $"a photo of thing number {k}").ToArray(), Enumerable.Range(i, n).Select(k => (ulong)k).ToArray(), settings);
                    foreach (var r in batch.Images)
                    {
                        r.Image?.Dispose();
                    }
                    total += batch.Timings.TotalMs;
                    inside += batch.Timings.InsideOnnxRuntimeMs;
                    denoise += batch.Timings.DenoiseMs;
                }
                var perImage = sw.Elapsed.TotalMilliseconds / sdxlImages;
                if (perImage < bestImage)
                {
                    bestImage = perImage;
                    bestStep = denoise / ((sdxlImages + batchSize - 1) / batchSize) / settings.Steps;
                    outside = 100 * (total - inside) / total;
                }
            }
            var (prevImage, prevStep) = PreviousBinding.SdxlMs(batchSize);
            Console.WriteLine($"{$"batch {batchSize}: per image",-44} {bestImage,9:F1} {prevImage,9:F1} {prevImage / bestImage,12:F2}x {outside,11:F1}%");
            Console.WriteLine($"{$"batch {batchSize}: per denoising step (UNet x2 CFG)",-44} {bestStep,9:F2} {prevStep,9:F2} {prevStep / bestStep,12:F2}x");
        }
    }

    // Preprocessing: decode + shortest-edge bicubic + crop + normalise of 1024x1024 JPEGs.
    var files = MakeJpegs(work, 6);
    var python = Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
    var reference = JsonDocument.Parse(Run(python, [Path.Combine(AppContext.BaseDirectory, "reference_preprocess.py"), side.ToString(CultureInfo.InvariantCulture), .. files])).RootElement;
    var buffer = new float[model.ImageProcessor.TensorLength];
    void Preprocess(string f)
    {
        using var image = ImageCodec.DecodeFile(f);
        model.ImageProcessor.Preprocess(image, buffer);
    }
    foreach (var f in files.Take(2))
    {
        Preprocess(f);
    }
    var best = double.MaxValue;
    for (var round = 0; round < 5; round++)
    {
        var sw = Stopwatch.StartNew();
        foreach (var f in files)
        {
            Preprocess(f);
        }
        best = Math.Min(best, sw.Elapsed.TotalMilliseconds / files.Length);
    }
    var pyMs = reference.GetProperty("ms_per_image").GetDouble();
    Console.WriteLine();
    Console.WriteLine($"CLIP preprocessing per 1024x1024 JPEG (decode, resize to {side}, crop, normalise), 1 thread: SynthVlm {best:F2} ms, Pillow+numpy {pyMs:F2} ms, {pyMs / best:F1}x ({reference.GetProperty("versions")})");
    return 0;
}
finally
{
    Directory.Delete(work, recursive: true);
}

static (double Ms, double TextSum, double ImageSum) RunOurs(string modelPath, int threads, int batch, string mode, int iterations, int vocab, int side)
{
    using var session = OnnxSessions.Load(modelPath, new OnnxSessionSettings { IntraOpThreads = threads, InterOpThreads = 1, OptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL });
    var images = mode == "images" ? batch : 1;
    var texts = mode == "texts" ? batch : 1;
    var (ids, mask) = Ids(texts, vocab);
    using var idValue = OrtValue.CreateTensorValueFromMemory(ids, [texts, 77]);
    using var maskValue = OrtValue.CreateTensorValueFromMemory(mask, [texts, 77]);
    using var pixelValue = OrtValue.CreateTensorValueFromMemory(Pixels(images, side), [images, 3, side, side]);
    var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = idValue, ["attention_mask"] = maskValue, ["pixel_values"] = pixelValue };
    string[] outputs = ["text_embeds", "image_embeds"];
    using var runOptions = new RunOptions();
    double textSum = 0, imageSum = 0;
    for (var i = 0; i < 3; i++)
    {
        using var warm = session.Run(runOptions, inputs, outputs);
        textSum = warm[0].GetTensorDataAsSpan<float>().ToArray().Sum(v => (double)v);
        imageSum = warm[1].GetTensorDataAsSpan<float>().ToArray().Sum(v => (double)v);
    }
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < iterations; i++)
    {
        using var result = session.Run(runOptions, inputs, outputs);
    }
    return (sw.Elapsed.TotalMilliseconds / iterations, textSum, imageSum);
}

static JsonElement RunNode(string nodeModules, string modelPath, int threads, int batch, string mode, int iterations, int vocab, int side)
{
    var env = new Dictionary<string, string>
    {
        ["SYNTHVLM_BENCH_NODE_MODULES"] = nodeModules,
        ["SYNTHVLM_BENCH_VOCAB"] = vocab.ToString(CultureInfo.InvariantCulture),
        ["SYNTHVLM_BENCH_IMAGE_SIDE"] = side.ToString(CultureInfo.InvariantCulture),
    };
    var output = Run("node", [Path.Combine(AppContext.BaseDirectory, "reference.mjs"), modelPath, threads.ToString(CultureInfo.InvariantCulture), batch.ToString(CultureInfo.InvariantCulture), mode, iterations.ToString(CultureInfo.InvariantCulture)], env);
    return JsonDocument.Parse(output).RootElement;
}

// The same deterministic inputs reference.mjs makes.
static float[] Pixels(int count, int side)
{
    var data = new float[count * 3 * side * side];
    for (var i = 0; i < data.Length; i++)
    {
        data[i] = (float)((i * 7919L % 1000) / 500.0 - 1);
    }
    return data;
}

static (long[] Ids, long[] Mask) Ids(int count, int vocab)
{
    var ids = new long[count * 77];
    var mask = new long[count * 77];
    for (var t = 0; t < count; t++)
    {
        var length = 8 + (t % 20);
        for (var j = 0; j < 77; j++)
        {
            ids[(t * 77) + j] = j == 0 ? vocab - 2 : j < length - 1 ? ((t * 31) + (j * 17)) % (vocab - 2) : vocab - 1;
            mask[(t * 77) + j] = j < length ? 1 : 0;
        }
    }
    return (ids, mask);
}

static string[] MakeJpegs(string folder, int count)
{
    var files = new string[count];
    for (var n = 0; n < count; n++)
    {
        using var image = RgbImage.Allocate(1024, 1024);
        var px = image.Pixels;
        for (var y = 0; y < 1024; y++)
        {
            for (var x = 0; x < 1024; x++)
            {
                var o = ((y * 1024) + x) * 3;
                px[o] = (byte)((x + (n * 40)) & 255);
                px[o + 1] = (byte)((((x >> 5) + (y >> 5) + n) & 1) * 200);
                px[o + 2] = (byte)(((x * x) + (y * y)) >> 10);
            }
        }
        files[n] = Path.Combine(folder, $"img{n}.jpg");
        ImageCodec.EncodeFile(image, files[n], new EncodeOptions { JpegQuality = 90 });
    }
    return files;
}

static string Run(string file, string[] arguments, IDictionary<string, string>? env = null)
{
    var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var a in arguments)
    {
        info.ArgumentList.Add(a);
    }
    foreach (var (k, v) in env ?? new Dictionary<string, string>())
    {
        info.Environment[k] = v;
    }
    using var process = Process.Start(info)!;
    var stderr = process.StandardError.ReadToEndAsync();
    var stdout = process.StandardOutput.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}: {stderr.Result}");
    }
    return stdout;
}

/// <summary>
/// What the previous in-tree binding (lib/SynthVlm.Onnx over ONNX Runtime 1.30.0's C API, the
/// library from npm onnxruntime-node) measured with this program's rows and bench/SynthVlm.Bench.Diffusion's
/// defaults, on this project's 2-core development machine on 2026-12-07 (commit 90e41b3, load
/// average 1-6; output kept in the P8 ONNX report).
/// </summary>
internal static class PreviousBinding
{
    public const string Source = "in-tree binding over ORT 1.30.0, 2-core dev machine, 2026-12-07";

    /// <summary>ms per CLIP call; the second thread count was that machine's 2 cores.</summary>
    public static double ClipMs(string mode, int batch, bool oneThread) => (mode, batch, oneThread) switch
    {
        ("images", 1, true) => 0.666,
        ("images", 8, true) => 3.209,
        ("texts", 1, true) => 0.625,
        ("texts", 8, true) => 1.497,
        ("images", 1, false) => 0.540,
        ("images", 8, false) => 2.064,
        ("texts", 1, false) => 0.534,
        ("texts", 8, false) => 1.194,
        _ => double.NaN,
    };

    /// <summary>Tiny SDXL base + refiner, 256x256, 20 steps, CFG: ms per image and per denoising step.</summary>
    public static (double PerImage, double PerStep) SdxlMs(int batch) => batch switch
    {
        1 => (127.1, 5.12),
        4 => (95.9, 14.59),
        _ => (double.NaN, double.NaN),
    };
}
