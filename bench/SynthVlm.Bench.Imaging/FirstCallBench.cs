using System.Globalization;
using System.Runtime.InteropServices;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Bench.Imaging;

/// <summary>
/// <c>--first-call [WARM]</c>: in this fresh process, each imaging operation's first call, its
/// second call, and its steady state (the minimum of ten calls after WARM calls and a pause that
/// lets tiered compilation finish), in CPU time of this thread. Operations run in the order of an
/// ssim-score / scoring request, so each first call pays only for code no earlier row ran.
/// </summary>
/// <remarks>
/// Run it once per build to compare (it is one process by design); the totals tell how much a
/// first image costs above a warm one, the rows where that cost sits.
/// </remarks>
internal static partial class FirstCallBench
{
    public static int Run(string[] args)
    {
        int warm = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 60;
        using var source = ColdStartBench.MakeImage(1024, 0);
        var png = ImageCodec.Encode(source, ImageFormat.Png, new EncodeOptions { PngCompressionLevel = 1 });
        var jpeg = ImageCodec.Encode(source, ImageFormat.Jpeg);
        using var image = ImageCodec.Decode(png);
        using var small = RgbImage.Allocate(SsimScore.DefaultDown, SsimScore.DefaultDown);
        using var back = RgbImage.Allocate(image.Width, image.Height);
        Resampler.Resize(image, small, ResampleFilter.Bicubic);
        Resampler.Resize(small, back, ResampleFilter.Bicubic);
        var clip = ClipImageProcessor.OpenAiClip();
        var tensor = new float[clip.TensorLength];
        // Setup above ran the resize kernels and the PNG encoder once; start the clock on a new process for them.
        var operations = new (string Name, Action Call)[]
        {
            ("PNG decode 1024x1024", () => ImageCodec.Decode(png).Dispose()),
            ("JPEG decode 1024x1024", () => ImageCodec.Decode(jpeg).Dispose()),
            ("SSIM 1024x1024", () => Ssim.Compute(image, back)),
            ("SSIMScore 1024x1024 (2 resizes + SSIM)", () => SsimScore.Compute(image)),
            ("CLIP preprocess 1024x1024 -> 224", () => clip.Preprocess(image, tensor)),
            ("PNG encode 1024x1024, level 6", () => ImageCodec.Encode(image, ImageFormat.Png)),
            ("JPEG encode 1024x1024, quality 90", () => ImageCodec.Encode(image, ImageFormat.Jpeg)),
        };
        Console.WriteLine($"first call vs steady state in one fresh process ({Environment.Version}; setup already ran the bicubic resize and PNG level-1 encode once); CPU ms of this thread");
        Console.WriteLine($"{"operation",-42} {"1st call",9} {"2nd call",9} {"steady",9} {"1st - steady",13}");
        double firstTotal = 0, steadyTotal = 0;
        foreach (var (name, call) in operations)
        {
            double first = CpuMs(call), second = CpuMs(call);
            for (int i = 0; i < warm; i++)
            {
                call();
            }
            // Let the tiered JIT's background recompiles of the warmed-up methods finish, so the
            // steady-state rows measure tier-1 code (a bench, not a test: nothing asserts on time).
            Thread.Sleep(300);
            double steady = Enumerable.Range(0, 10).Min(_ => CpuMs(call));
            firstTotal += first;
            steadyTotal += steady;
            Console.WriteLine($"{name,-42} {first,9:0.0} {second,9:0.0} {steady,9:0.0} {first - steady,13:0.0}");
        }
        Console.WriteLine($"{"total",-42} {firstTotal,9:0.0} {"",9} {steadyTotal,9:0.0} {firstTotal - steadyTotal,13:0.0}");
        return 0;
    }

    /// <summary>This thread's CPU time for one call, in ms (the JIT compiling on first call runs on it; background recompiles do not count).</summary>
    private static double CpuMs(Action call)
    {
        long t0 = ThreadCpuNs();
        call();
        return (ThreadCpuNs() - t0) / 1e6;
    }

    private static long ThreadCpuNs()
    {
        const int clockThreadCpuTimeId = 3;
        if (ClockGetTime(clockThreadCpuTimeId, out var ts) != 0)
        {
            throw new InvalidOperationException("clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed; --first-call needs Linux.");
        }
        return (ts.Seconds * 1_000_000_000L) + ts.Nanoseconds;
    }

    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);
}
