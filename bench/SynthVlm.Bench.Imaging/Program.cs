using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using SynthVlm.Bench.Imaging;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

// The imaging hot paths against what a Python user would run (Pillow + scikit-image), on the
// same files, in the same run. Python is single-threaded (one process, OMP/BLAS threads 1), so
// the single-threaded rows compare like with like; the parallel row shows scaling across cores.
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
if (args is ["--cold", ..])
{
    // Cold first call vs warm of the CLI's ssim-score; needs no Python (ColdStartBench.cs).
    Environment.ExitCode = ColdStartBench.Run(args[1..]);
    return;
}
if (args is ["--first-call", ..])
{
    // Each operation's first call vs steady state in this fresh process (FirstCallBench.cs).
    Environment.ExitCode = FirstCallBench.Run(args[1..]);
    return;
}
var python = Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
var script = Path.Combine(AppContext.BaseDirectory, "reference.py");
var folder = Directory.CreateTempSubdirectory("synthvlm-bench-imaging-").FullName;
// --component [REPEAT] [JPEG]: per-stage minimums on one file (one made like the others when not given).
var component = args is ["--component", ..];
var imageCount = component ? 1 : args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 8;
try
{
    var made = Reference("make", folder, imageCount.ToString(CultureInfo.InvariantCulture));
    var files = made.GetProperty("files").EnumerateArray().Select(f => f.GetString()!).ToArray();
    var png = made.GetProperty("png").GetString()!;
    if (component)
    {
        ComponentBench.Run(args.Length > 2 ? args[2] : files[0], args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 50);
        return;
    }
    Console.WriteLine($"{files.Length} JPEGs of 1024x1024 (Pillow, quality 90); {Environment.ProcessorCount} cores; .NET {Environment.Version}");

    // ssim-score: decode + bicubic 1024->336->1024 + SSIM, per image.
    var reference = Reference(["ssim-score", "1", .. files]);
    var pythonMs = reference.GetProperty("ms_per_image").GetDouble();
    var pythonScores = reference.GetProperty("scores");
    var versions = reference.GetProperty("versions");

    double Score(string f)
    {
        using var image = ImageCodec.DecodeFile(f);
        return SsimScore.Compute(image);
    }
    // Warm-up: kernel maps, pools, and tiered compilation. The hot loops are called once per
    // image, so they leave tier 0 / OSR only after 30 calls plus a background rejit; with two
    // warm-up calls most timed images ran partly unoptimised code (33 ms mean against 28 ms with
    // DOTNET_TieredCompilation=0). A scoring run is thousands of images: steady state is what counts.
    for (var i = 0; i < 40; i++)
    {
        Score(files[i % files.Length]);
    }
    Thread.Sleep(500);
    Score(files[0]);
    const int repeat = 3;
    var maxDiff = 0.0;
    var sw = Stopwatch.StartNew();
    for (var r = 0; r < repeat; r++)
    {
        foreach (var f in files)
        {
            var s = Score(f);
            maxDiff = Math.Max(maxDiff, Math.Abs(s - pythonScores.GetProperty(f).GetDouble()));
        }
    }
    var oursMs = sw.Elapsed.TotalMilliseconds / (repeat * files.Length);

    // Where the single-threaded time goes.
    double decodeMs = 0, downMs = 0, upMs = 0, ssimMs = 0;
    for (var r = 0; r < repeat; r++)
    {
        foreach (var f in files)
        {
            var t0 = Stopwatch.GetTimestamp();
            using var image = ImageCodec.DecodeFile(f);
            var t1 = Stopwatch.GetTimestamp();
            using var small = Resampler.Resize(image, SsimScore.DefaultDown, SsimScore.DefaultDown, ResampleFilter.Bicubic);
            var t2 = Stopwatch.GetTimestamp();
            using var back = Resampler.Resize(small, image.Width, image.Height, ResampleFilter.Bicubic);
            var t3 = Stopwatch.GetTimestamp();
            Ssim.Compute(image, back);
            var t4 = Stopwatch.GetTimestamp();
            decodeMs += Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds;
            downMs += Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds;
            upMs += Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds;
            ssimMs += Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds;
        }
    }
    var n = repeat * files.Length;

    sw.Restart();
    var work = Enumerable.Range(0, repeat).SelectMany(_ => files).ToArray();
    Parallel.ForEach(work, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, f => Score(f));
    var parallelMs = sw.Elapsed.TotalMilliseconds / work.Length;

    // Bicubic 1024 -> 336 on a decoded image.
    using var decoded = ImageCodec.DecodeFile(files[0]);
    var pillowResize = Reference("resize", "20", files[0]).GetProperty("ms").GetDouble();
    Resampler.Resize(decoded, 336, 336, ResampleFilter.Bicubic).Dispose();
    sw.Restart();
    for (var i = 0; i < 20; i++)
    {
        Resampler.Resize(decoded, 336, 336, ResampleFilter.Bicubic).Dispose();
    }
    var oursResize = sw.Elapsed.TotalMilliseconds / 20;

    // PNG decode and encode (compression level 6, as Pillow's default).
    var pillowPng = Reference("png", "5", png);
    var pngBytes = File.ReadAllBytes(png);
    ImageCodec.Decode(pngBytes).Dispose();
    sw.Restart();
    for (var i = 0; i < 5; i++)
    {
        ImageCodec.Decode(pngBytes).Dispose();
    }
    var oursPngDecode = sw.Elapsed.TotalMilliseconds / 5;
    using var pngImage = ImageCodec.Decode(pngBytes);
    var encoded = ImageCodec.Encode(pngImage, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 6 });
    sw.Restart();
    for (var i = 0; i < 5; i++)
    {
        encoded = ImageCodec.Encode(pngImage, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 6 });
    }
    var oursPngEncode = sw.Elapsed.TotalMilliseconds / 5;

    Console.WriteLine($"reference: Pillow {versions.GetProperty("pillow")}, scikit-image {versions.GetProperty("skimage")}, numpy {versions.GetProperty("numpy")} ({python})");
    Console.WriteLine($"SSIMScore agreement with scikit-image on these files: max |diff| = {maxDiff:E2}");
    Console.WriteLine();
    Console.WriteLine($"{"operation",-46} {"SynthVlm ms",12} {"Python ms",12} {"speed-up",10}");
    Row("ssim-score per image, 1 thread", oursMs, pythonMs);
    Row($"ssim-score per image, {Environment.ProcessorCount} threads (throughput)", parallelMs, pythonMs);
    Row("bicubic resize 1024x1024 -> 336x336", oursResize, pillowResize);
    Row("PNG decode 1024x1024", oursPngDecode, pillowPng.GetProperty("decode_ms").GetDouble());
    Row("PNG encode 1024x1024, level 6", oursPngEncode, pillowPng.GetProperty("encode_ms").GetDouble());
    Console.WriteLine($"PNG size at level 6: SynthVlm {encoded.Length:N0} B, Pillow {pillowPng.GetProperty("encoded_bytes").GetInt64():N0} B");
    Console.WriteLine($"ssim-score breakdown per image (1 thread): decode JPEG {decodeMs / n:0.0} ms, bicubic down {downMs / n:0.0} ms, bicubic up {upMs / n:0.0} ms, SSIM {ssimMs / n:0.0} ms");
    Console.WriteLine($"parallel scaling: {oursMs / parallelMs:0.00}x on {Environment.ProcessorCount} cores");
}
finally
{
    Directory.Delete(folder, recursive: true);
}

static void Row(string name, double ours, double reference) =>
    Console.WriteLine($"{name,-46} {ours,12:0.00} {reference,12:0.00} {reference / ours,9:0.0}x");

JsonElement Reference(params string[] arguments)
{
    var info = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    info.ArgumentList.Add(script);
    foreach (var a in arguments)
    {
        info.ArgumentList.Add(a);
    }
    // Single-threaded reference, as a per-image comparison needs.
    info.Environment["OMP_NUM_THREADS"] = "1";
    info.Environment["OPENBLAS_NUM_THREADS"] = "1";
    using var process = Process.Start(info)!;
    var stdout = process.StandardOutput.ReadToEnd();
    var stderr = process.StandardError.ReadToEnd();
    process.WaitForExit();
    if (process.ExitCode != 0)
    {
        throw new InvalidOperationException($"{python} {script} {string.Join(' ', arguments)} failed ({process.ExitCode}). " +
            $"Install the references with `bash eng/provision.sh --bench`.\n{stderr}");
    }
    return JsonDocument.Parse(stdout).RootElement.Clone();
}
