using System.Diagnostics;
using System.Globalization;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Bench.Imaging;

/// <summary>
/// <c>--component [REPEAT] [JPEG]</c>: the minimum over REPEAT runs of each ssim-score stage on one
/// file. The cores are shared, so means drift with other work; a minimum is what the code costs
/// when nothing interrupts it, which is what a before/after comparison of a change needs.
/// </summary>
internal static class ComponentBench
{
    public static void Run(string jpeg, int repeat)
    {
        var bytes = File.ReadAllBytes(jpeg);
        using var image = ImageCodec.Decode(bytes);
        using var small = RgbImage.Allocate(SsimScore.DefaultDown, SsimScore.DefaultDown);
        using var back = RgbImage.Allocate(image.Width, image.Height);
        double decode = double.MaxValue, down = double.MaxValue, up = double.MaxValue, ssim = double.MaxValue, total = double.MaxValue;
        double score = 0;
        double ssim256 = double.MaxValue;
        for (var i = 0; i < repeat; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            ImageCodec.Decode(bytes).Dispose();
            var t1 = Stopwatch.GetTimestamp();
            Resampler.Resize(image, small, ResampleFilter.Bicubic);
            var t2 = Stopwatch.GetTimestamp();
            Resampler.Resize(small, back, ResampleFilter.Bicubic);
            var t3 = Stopwatch.GetTimestamp();
            score = Ssim.Compute(image, back);
            var t4 = Stopwatch.GetTimestamp();
            using (var decoded = ImageCodec.Decode(bytes))
            {
                SsimScore.Compute(decoded);
            }
            var t5 = Stopwatch.GetTimestamp();
            Ssim.Compute(image, back, SsimOptions.Default, useSimd: true, allowVector512: false);
            ssim256 = Math.Min(ssim256, Stopwatch.GetElapsedTime(t5).TotalMilliseconds);
            decode = Math.Min(decode, Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            down = Math.Min(down, Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            up = Math.Min(up, Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
            ssim = Math.Min(ssim, Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds);
            total = Math.Min(total, Stopwatch.GetElapsedTime(t4, t5).TotalMilliseconds);
        }
        PassTimes(image, small, repeat);
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"min of {repeat}: decode {decode:0.00} ms, bicubic down {down:0.00} ms, bicubic up {up:0.00} ms, SSIM {ssim:0.00} ms (without AVX-512 {ssim256:0.00} ms), ssim-score {total:0.00} ms (score {score:R})"));
    }

    /// <summary>Minimums of the horizontal and vertical passes of both resizes, SIMD paths.</summary>
    private static void PassTimes(RgbImage image, RgbImage small, int repeat)
    {
        var downH = KernelMap.Get(image.Width, small.Width, ResampleFilter.Bicubic);
        var downV = KernelMap.Get(image.Height, small.Height, ResampleFilter.Bicubic);
        var upH = KernelMap.Get(small.Width, image.Width, ResampleFilter.Bicubic);
        var upV = KernelMap.Get(small.Height, image.Height, ResampleFilter.Bicubic);
        var tempDown = new byte[small.Width * Channels * image.Height];
        var tempUp = new byte[image.Width * Channels * small.Height];
        var outDown = new byte[small.Width * Channels * small.Height];
        var outUp = new byte[image.Width * Channels * image.Height];
        double h1 = double.MaxValue, v1 = double.MaxValue, h2 = double.MaxValue, v2 = double.MaxValue;
        for (var i = 0; i < repeat; i++)
        {
            var t0 = Stopwatch.GetTimestamp();
            Resampler.Horizontal(image.Pixels, image.Width, 0, tempDown, small.Width, image.Height, downH, useSimd: true, allowVector512: true);
            var t1 = Stopwatch.GetTimestamp();
            Resampler.Vertical(tempDown, small.Width * Channels, 0, outDown, small.Height, downV, useSimd: true, allowVector512: true);
            var t2 = Stopwatch.GetTimestamp();
            Resampler.Horizontal(outDown, small.Width, 0, tempUp, image.Width, small.Height, upH, useSimd: true, allowVector512: true);
            var t3 = Stopwatch.GetTimestamp();
            Resampler.Vertical(tempUp, image.Width * Channels, 0, outUp, image.Height, upV, useSimd: true, allowVector512: true);
            var t4 = Stopwatch.GetTimestamp();
            h1 = Math.Min(h1, Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds);
            v1 = Math.Min(v1, Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds);
            h2 = Math.Min(h2, Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
            v2 = Math.Min(v2, Stopwatch.GetElapsedTime(t3, t4).TotalMilliseconds);
        }
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"passes, min of {repeat}: down horizontal {h1:0.00} ms, down vertical {v1:0.00} ms, up horizontal {h2:0.00} ms, up vertical {v2:0.00} ms"));
    }

    private const int Channels = RgbImage.Channels;
}
