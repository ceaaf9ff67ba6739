using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Cli;

/// <summary>`ssim`, `ssim-score` and `resize`: the imaging library from the terminal.</summary>
internal static class ImagingCommands
{
    /// <summary>Exit code when an image could not be read or written.</summary>
    private const int ImageError = 1;

    /// <summary>Exit code for an argument out of range.</summary>
    private const int UsageError = 2;

    private static Option<long> MaxPixelsOption() => new("--max-pixels")
    {
        Description = "Refuse images with more pixels than this (decompression bombs).",
        DefaultValueFactory = _ => ImageLimits.DefaultMaxPixels,
    };

    /// <summary>`synthvlm ssim A B`: prints {"ssim": value}.</summary>
    public static Command Ssim()
    {
        var a = new Argument<string>("a") { Description = "First image (PNG, JPEG or WebP)." };
        var b = new Argument<string>("b") { Description = "Second image, same size." };
        var maxPixels = MaxPixelsOption();
        var command = new Command("ssim", "SSIM between two same-size images (scikit-image conventions: Gaussian σ 1.5, K1 0.01, K2 0.03, L 255, mean over RGB).") { a, b, maxPixels };
        command.SetAction(parse =>
        {
            var options = new DecodeOptions { MaxPixels = parse.GetValue(maxPixels) };
            return Run(() =>
            {
                using var first = ImageCodec.DecodeFile(parse.GetRequiredValue(a), options);
                using var second = ImageCodec.DecodeFile(parse.GetRequiredValue(b), options);
                var value = Imaging.Ssim.Compute(first, second);
                Console.WriteLine(JsonLine.Of(w => w.WriteNumber("ssim", value)));
                return 0;
            });
        });
        return command;
    }

    /// <summary>
    /// `synthvlm ssim-score IMG... [--down 336]`: one JSON line per image, in the order given,
    /// computed in parallel across cores.
    /// </summary>
    public static Command SsimScore()
    {
        var images = new Argument<string[]>("images") { Description = "Images to score.", Arity = ArgumentArity.OneOrMore };
        var down = new Option<int>("--down") { Description = "Intermediate size of the bicubic round trip.", DefaultValueFactory = _ => 336 };
        var parallelism = new Option<int>("--parallelism", "-j") { Description = "Images scored at once (default: the number of cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var maxPixels = MaxPixelsOption();
        var command = new Command("ssim-score", "SynthVLM SSIMScore of each image: SSIM(I, up(down(I, 336), original size)), bicubic both ways.")
        {
            images, down, parallelism, maxPixels,
        };
        command.SetAction(async (parse, ct) =>
        {
            // Checked here rather than in a validator: validators see 0 for options left at their default.
            if (parse.GetValue(down) is < 1 or > 65535 || parse.GetValue(parallelism) < 1)
            {
                await Console.Error.WriteLineAsync($"ssim-score: --down must be between 1 and 65535 (got {parse.GetValue(down)}) and --parallelism at least 1 (got {parse.GetValue(parallelism)}).").ConfigureAwait(false);
                return UsageError;
            }
            var paths = parse.GetRequiredValue(images);
            var options = new DecodeOptions { MaxPixels = parse.GetValue(maxPixels) };
            var size = parse.GetValue(down);
            var failures = new StrongBox<int>();
            // Scored in parallel, printed in the order given: a bounded window of tasks awaited in order.
            var window = new Queue<Task<string>>();
            using var gate = new SemaphoreSlim(parse.GetValue(parallelism));
            async Task<string> ScoreAsync(string path)
            {
                await gate.WaitAsync(ct).ConfigureAwait(false);
                try
                {
                    return await Task.Run(() => ScoreOne(path, size, options, failures), ct).ConfigureAwait(false);
                }
                finally
                {
                    gate.Release();
                }
            }
            var stdout = Console.Out;
            foreach (var path in paths)
            {
                window.Enqueue(ScoreAsync(path));
                if (window.Count >= 2 * parse.GetValue(parallelism))
                {
                    await stdout.WriteLineAsync(await window.Dequeue().ConfigureAwait(false)).ConfigureAwait(false);
                }
            }
            while (window.Count > 0)
            {
                await stdout.WriteLineAsync(await window.Dequeue().ConfigureAwait(false)).ConfigureAwait(false);
            }
            return failures.Value == 0 ? 0 : ImageError;
        });
        return command;
    }

    private static string ScoreOne(string path, int down, DecodeOptions options, StrongBox<int> failures)
    {
        try
        {
            using var image = ImageCodec.DecodeFile(path, options);
            var score = Imaging.SsimScore.Compute(image, down);
            return JsonLine.Of(w =>
            {
                w.WriteString("image", path);
                w.WriteNumber("ssim", score);
            });
        }
        catch (Exception e) when (e is ImagingException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Interlocked.Increment(ref failures.Value);
            Console.Error.WriteLine(e.Message);
            return JsonLine.Of(w =>
            {
                w.WriteString("image", path);
                w.WriteString("error", e.Message);
            });
        }
    }

    /// <summary>`synthvlm resize IN OUT --width W --height H [--filter bicubic]`: the format comes from OUT's extension.</summary>
    public static Command Resize()
    {
        var input = new Argument<string>("in") { Description = "Image to resize." };
        var output = new Argument<string>("out") { Description = "Where to write; .png, .jpg/.jpeg or .webp picks the format." };
        var width = new Option<int>("--width", "-W") { Description = "Target width in pixels.", Required = true };
        var height = new Option<int>("--height", "-H") { Description = "Target height in pixels.", Required = true };
        var filter = new Option<ResampleFilter>("--filter") { Description = "nearest, box, bilinear, bicubic or lanczos3 (Pillow's filters).", DefaultValueFactory = _ => ResampleFilter.Bicubic };
        var quality = new Option<int?>("--quality") { Description = "JPEG/WebP quality (1-100)." };
        var maxPixels = MaxPixelsOption();
        var command = new Command("resize", "Resize an image with Pillow's resampling filters.") { input, output, width, height, filter, quality, maxPixels };
        command.Validators.Add(r =>
        {
            foreach (var (name, value) in new[] { ("--width", r.GetValue(width)), ("--height", r.GetValue(height)) })
            {
                if (value is < 1 or > 65535)
                {
                    r.AddError($"{name} must be between 1 and 65535; got {value}.");
                }
            }
        });
        command.SetAction(parse => Run(() =>
        {
            using var source = ImageCodec.DecodeFile(parse.GetRequiredValue(input), new DecodeOptions { MaxPixels = parse.GetValue(maxPixels) });
            using var resized = Resampler.Resize(source, parse.GetValue(width), parse.GetValue(height), parse.GetValue(filter));
            var encode = parse.GetValue(quality) is { } q ? new EncodeOptions { JpegQuality = q, WebPQuality = q } : new EncodeOptions();
            ImageCodec.EncodeFile(resized, parse.GetRequiredValue(output), encode);
            return 0;
        }));
        return command;
    }

    private static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ImagingException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            Console.Error.WriteLine(e.Message);
            return ImageError;
        }
    }
}
