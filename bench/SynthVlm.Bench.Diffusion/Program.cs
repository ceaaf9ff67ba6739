using System.Diagnostics;
using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Diffusion;

// The SDXL pipeline around ONNX Runtime: what a denoising step and an image cost on the tiny
// base (+ refiner), how much of that is spent outside ONNX Runtime's Run (the pipeline's own
// work: tokenizing, CFG arithmetic, scheduler steps, tensor conversion, VAE post-processing),
// and the process's memory. The reference is ONNX Runtime itself, timed in the same run.
// Usage: [BASE_DIR or ""] [REFINER_DIR or "" or none] [SIZE] [STEPS] [IMAGES]
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
var work = Directory.CreateTempSubdirectory("synthvlm-bench-diffusion-").FullName;
try
{
    string Arg(int i, string fallback) => args.Length > i && args[i].Length > 0 ? args[i] : fallback;
    var baseDir = Arg(0, "") is { Length: > 0 } b ? b : DefaultSdxlModels.EnsureTinyBase(Path.Combine(work, "base"));
    var refinerArg = Arg(1, "");
    var refinerDir = refinerArg == "none" ? null : refinerArg.Length > 0 ? refinerArg : DefaultSdxlModels.EnsureTinyRefiner(Path.Combine(work, "refiner"));
    var size = int.Parse(Arg(2, "256"), CultureInfo.InvariantCulture);
    var steps = int.Parse(Arg(3, "20"), CultureInfo.InvariantCulture);
    var images = int.Parse(Arg(4, "8"), CultureInfo.InvariantCulture);

    using var baseModel = SdxlModel.Load(baseDir);
    using var refiner = refinerDir is null ? null : SdxlModel.Load(refinerDir);
    var pipeline = new SdxlPipeline(baseModel, refiner);
    var settings = new GenerationSettings { Width = size, Height = size, Steps = steps, Guidance = 5, UseRefiner = refiner is not null };
    Console.WriteLine($"SDXL pipeline on {baseDir}{(refinerDir is null ? "" : " + " + refinerDir)}; ONNX Runtime {OrtEnv.Instance().GetVersionString()}; {Environment.ProcessorCount} cores; {size}x{size}, {steps} steps, CFG on");
    pipeline.Generate(["warm-up"], [0UL], settings).Images[0].Image?.Dispose();

    foreach (var batchSize in new[] { 1, 4 })
    {
        double total = 0, inside = 0, denoise = 0;
        var generated = 0;
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < images; i += batchSize)
        {
            var n = Math.Min(batchSize, images - i);
            var batch = pipeline.Generate(Enumerable.Range(i, n).Select(k => $"a photo of thing number {k}").ToArray(), Enumerable.Range(i, n).Select(k => (ulong)k).ToArray(), settings);
            foreach (var r in batch.Images)
            {
                r.Image?.Dispose();
            }
            total += batch.Timings.TotalMs;
            inside += batch.Timings.InsideOnnxRuntimeMs;
            denoise += batch.Timings.DenoiseMs;
            generated += n;
        }
        var perImage = sw.Elapsed.TotalMilliseconds / generated;
        var batches = (generated + batchSize - 1) / batchSize;
        Console.WriteLine($"batch {batchSize}: {perImage,8:F1} ms/image, {denoise / batches / steps,7:F2} ms/step (batch of {batchSize}, CFG x2), outside ONNX Runtime {100 * (total - inside) / total,5:F1} % of the time (ratio inside/total {inside / total:F3})");
    }
    using var process = Process.GetCurrentProcess();
    Console.WriteLine($"memory: peak working set {process.PeakWorkingSet64 / (1 << 20)} MiB, managed heap {GC.GetTotalMemory(false) / (1 << 20)} MiB, GC allocations {GC.GetTotalAllocatedBytes() / (1 << 20)} MiB in total");
    return 0;
}
finally
{
    Directory.Delete(work, recursive: true);
}
