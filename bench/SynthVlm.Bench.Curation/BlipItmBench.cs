using System.Diagnostics;
using System.Globalization;
using SynthVlm.Blip;
using SynthVlm.Imaging;
using SynthVlm.Onnx;
using SynthVlm.Testing;

/// <summary>
/// BLIP image–text matching throughput as `synthvlm curate --itm-model` runs it: pairs/s through
/// <see cref="BlipItmModel.Match"/> in batches of 16 against the same pairs one call each, in the same
/// process, on the same decoded images (decoding is not timed: it is the same in both modes). The
/// preprocessing row (resize + normalise alone) says how much of a pair's time is outside ONNX Runtime.
/// </summary>
internal static class BlipItmBench
{
    private static readonly string[] Subjects = ["a red car", "two dogs", "a small boat", "an old house", "a cat", "three children", "a tall tree", "a bicycle"];
    private static readonly string[] Places = ["on the road", "in a park", "near the lake", "under a blue sky", "on a sofa", "by the sea at sunset", "in the snow", "beside a wooden fence"];

    /// <summary>Runs the measurement and prints a Markdown table; returns false when the two modes disagree.</summary>
    public static bool Run(string? modelFolder, int pairCount, double minSeconds)
    {
        var folder = modelFolder ?? Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Blip.Tests", "Fixtures", "tiny-blip");
        var random = new Random(7);
        var images = new List<RgbImage>(pairCount);
        try
        {
            var pairs = new ImageCaptionPair[pairCount];
            for (var i = 0; i < pairCount; i++)
            {
                images.Add(Picture(random, 320, 240));
                var caption = $"{Subjects[random.Next(Subjects.Length)]} {Places[random.Next(Places.Length)]}";
                pairs[i] = new ImageCaptionPair(images[i], random.Next(3) == 0 ? caption + " with " + Subjects[random.Next(Subjects.Length)] : caption);
            }
            Console.WriteLine();
            Console.WriteLine($"# BLIP ITM ({folder}), {pairCount} pairs of 320x240 RGB images (decoded) and captions; probabilities as `curate --itm-model` computes them");
            Console.WriteLine($"# wall-clock pairs/s, over whole passes, at least {minSeconds} s; {Environment.ProcessorCount} cores, load average {(File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a")}");
            Console.WriteLine("| threads | mode | pairs/s | batched / one by one | preprocessing share |");
            Console.WriteLine("|---:|---|---:|---:|---:|");
            var agree = true;
            foreach (var threads in new[] { 1, Environment.ProcessorCount }.Distinct())
            {
                using var model = BlipItmModel.Load(folder, 16, new OnnxSessionSettings { IntraOpThreads = threads });
                var pixels = new float[model.ImageProcessor.TensorLength];
                var preRate = Measure(() =>
                {
                    foreach (var p in pairs)
                    {
                        model.ImageProcessor.Preprocess(p.Image, pixels);
                    }
                }, pairCount, minSeconds);
                double[] batchedP = [], singleP = new double[pairCount];
                var batched = Measure(() => batchedP = model.MatchProbabilities(pairs), pairCount, minSeconds);
                var single = Measure(() =>
                {
                    for (var i = 0; i < pairs.Length; i++)
                    {
                        singleP[i] = model.MatchProbabilities([pairs[i]])[0];
                    }
                }, pairCount, minSeconds);
                // Padding to the longest caption of a batch changes float rounding only.
                var maxDiff = batchedP.Zip(singleP, (a, b) => Math.Abs(a - b)).Max();
                agree &= maxDiff < 1e-5;
                // Preprocessing runs on up to `threads` cores inside Match (Parallel.For) but was timed on one here.
                Console.WriteLine($"| {threads} | one by one | {single:F0} | 1.00 | {Share(single, preRate, threads)} |");
                Console.WriteLine($"| {threads} | batches of 16 | {batched:F0} | {batched / single:F2} | {Share(batched, preRate, threads)} |");
                Console.WriteLine($"|  | preprocessing alone (1 thread) | {preRate:F0} | - | - |");
                Console.WriteLine($"max |p(batched) - p(one by one)| at {threads} thread(s): {maxDiff:E1}");
            }
            return agree;
        }
        finally
        {
            foreach (var image in images)
            {
                image.Dispose();
            }
        }
    }

    private static string Share(double pairsPerSecond, double preprocessPerSecond, int threads) =>
        (pairsPerSecond / (preprocessPerSecond * Math.Min(threads, 16))).ToString("P0", CultureInfo.InvariantCulture);

    // Wall-clock pairs/s over whole passes (at least minSeconds in all), after one warm-up pass.
    private static double Measure(Action pass, int pairs, double minSeconds)
    {
        pass();
        var clock = Stopwatch.StartNew();
        var passes = 0;
        do
        {
            pass();
            passes++;
        }
        while (clock.Elapsed.TotalSeconds < minSeconds);
        return passes * (double)pairs / clock.Elapsed.TotalSeconds;
    }

    // Smooth gradients with a few blocks: resizing costs what it costs on a photo of that size.
    private static RgbImage Picture(Random random, int width, int height)
    {
        var image = RgbImage.Allocate(width, height);
        var (r, g, b) = (random.Next(256), random.Next(256), random.Next(256));
        for (var y = 0; y < height; y++)
        {
            var row = image.Row(y);
            for (var x = 0; x < width; x++)
            {
                var block = ((x / 40) + (y / 30)) % 3 == 0;
                row[3 * x] = (byte)((r + x) % 256);
                row[(3 * x) + 1] = (byte)(block ? 255 - g : (g + y) % 256);
                row[(3 * x) + 2] = (byte)((b + x + y) % 256);
            }
        }
        return image;
    }
}
