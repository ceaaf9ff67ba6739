using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Bench.Imaging;

/// <summary>
/// <c>--cold [IMAGES] [RUNS] [--cli [NAME=]PATH]... [--env-variants] [--jpeg] [--core N]</c>: what
/// a user pays on the first images of a fresh <c>synthvlm ssim-score -j 1</c> against what the
/// same process pays once warm. Each run starts the CLI on IMAGES generated 1024×1024 images
/// listed twice; stdout lines are timestamped as they arrive, so the first IMAGES lines (process
/// start included) are the cold pass and the next IMAGES lines the warm pass of the same process.
/// The child is pinned to one core with taskset when it exists, as a one-core container runs it.
/// </summary>
/// <remarks>
/// RUNS runs per variant, variants interleaved so drifting load on a shared host hits them alike;
/// the minimum is what the code costs when nothing else interrupts it, the median what a user
/// typically sees here. Each <c>--cli</c> is a build to compare (copy one build's output folder
/// aside before rebuilding with a change); <c>--env-variants</c> adds runs of each build with
/// runtime settings given as DOTNET_* environment variables, the settings a csproj or
/// runtimeconfig.json can carry.
/// </remarks>
internal static partial class ColdStartBench
{
    private sealed record Variant(string Name, string Cli, IReadOnlyDictionary<string, string> Environment);

    /// <summary>One run's passes: wall time, and the process's CPU time (all its threads, the JIT's included).</summary>
    private sealed record Timing(double ColdMs, double WarmMs, double ColdCpuMs, double WarmCpuMs);

    public static int Run(string[] args)
    {
        var positional = new List<string>();
        var clis = new List<string>();
        string core = "0";
        bool jpeg = false, envVariants = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--cli" when i + 1 < args.Length: clis.Add(args[++i]); break;
                case "--core" when i + 1 < args.Length: core = args[++i]; break;
                case "--jpeg": jpeg = true; break;
                case "--env-variants": envVariants = true; break;
                default: positional.Add(args[i]); break;
            }
        }
        int images = 40, runs = 3;
        if (positional.Count > 2 || positional.Any(p => !int.TryParse(p, CultureInfo.InvariantCulture, out int n) || n < 1)
            || (positional.Count > 0 && !int.TryParse(positional[0], CultureInfo.InvariantCulture, out images))
            || (positional.Count > 1 && !int.TryParse(positional[1], CultureInfo.InvariantCulture, out runs)))
        {
            Console.Error.WriteLine($"--cold: expected [IMAGES [RUNS]] (positive integers) [--cli [NAME=]PATH]... [--env-variants] [--jpeg] [--core N]; got {string.Join(' ', args)}.");
            return 2;
        }
        if (clis.Count == 0)
        {
            clis.Add(DefaultCli());
        }
        var variants = new List<Variant>();
        foreach (var spec in clis)
        {
            // NAME=PATH names a build in the table; a bare PATH is named by its folder.
            int eq = spec.IndexOf('=', StringComparison.Ordinal);
            var (name, cli) = eq > 0 ? (spec[..eq], spec[(eq + 1)..]) : (Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(spec)))!, spec);
            if (!File.Exists(cli))
            {
                Console.Error.WriteLine($"--cold: the CLI {cli} does not exist; build it first (dotnet build -c Release Cli) or pass --cli [NAME=]PATH/synthvlm.dll.");
                return 2;
            }
            variants.Add(new(name, cli, new Dictionary<string, string>()));
            if (envVariants)
            {
                variants.Add(new($"{name}, TieredPGO=0", cli, new Dictionary<string, string> { ["DOTNET_TieredPGO"] = "0" }));
                variants.Add(new($"{name}, TC_QuickJitForLoops=0", cli, new Dictionary<string, string> { ["DOTNET_TC_QuickJitForLoops"] = "0" }));
                variants.Add(new($"{name}, TieredCompilation=0", cli, new Dictionary<string, string> { ["DOTNET_TieredCompilation"] = "0" }));
            }
        }

        var folder = Directory.CreateTempSubdirectory("synthvlm-bench-cold-").FullName;
        try
        {
            var files = MakeImages(folder, images, jpeg);
            bool pin = File.Exists("/usr/bin/taskset");
            Console.WriteLine($"cold vs warm `synthvlm ssim-score -j 1` on {images} generated 1024x1024 {(jpeg ? "JPEGs" : "PNGs")}; {runs} runs per variant, interleaved; " +
                $"{(pin ? $"pinned to core {core}" : "not pinned (no taskset)")}; CLIs {string.Join(", ", variants.Select(v => v.Cli).Distinct())}; .NET {Environment.Version}; load average {LoadAverage()}");
            var results = variants.ToDictionary(v => v, _ => new List<Timing>());
            for (int r = 0; r < runs; r++)
            {
                foreach (var variant in variants)
                {
                    results[variant].Add(Measure(files, variant, pin ? core : null));
                }
            }
            Console.WriteLine();
            Console.WriteLine($"{"variant",-40} {"",5} {"cold total",11} {"warm total",11} {"cold/img",9} {"warm/img",9} {"cold-warm",10} {"ratio",6}   min over runs (median)");
            foreach (var variant in variants)
            {
                var list = results[variant];
                Print(variant.Name, "wall", list.Select(x => x.ColdMs).ToArray(), list.Select(x => x.WarmMs).ToArray(), images);
                Print("", "CPU", list.Select(x => x.ColdCpuMs).ToArray(), list.Select(x => x.WarmCpuMs).ToArray(), images);
            }
            Console.WriteLine($"load average after: {LoadAverage()}");
            return 0;
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static void Print(string name, string kind, double[] cold, double[] warm, int images)
    {
        double coldMin = cold.Min(), warmMin = warm.Min(), coldMedian = Median(cold), warmMedian = Median(warm);
        Console.WriteLine($"{name,-40} {kind,5} {coldMin,8:0} ms {warmMin,8:0} ms {coldMin / images,6:0.0} ms {warmMin / images,6:0.0} ms {coldMin - warmMin,7:0} ms {coldMin / warmMin,5:0.00}x");
        Console.WriteLine($"{"",-40} {"",5} {$"({coldMedian:0})",11} {$"({warmMedian:0})",11} {$"({coldMedian / images:0.0})",9} {$"({warmMedian / images:0.0})",9} {$"({coldMedian - warmMedian:0})",10} {$"({coldMedian / warmMedian:0.00})",6}");
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }

    /// <summary>One process: the images twice; the time to the last line of each pass.</summary>
    private static Timing Measure(string[] files, Variant variant, string? core)
    {
        var info = new ProcessStartInfo(core is null ? "dotnet" : "/usr/bin/taskset")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (core is not null)
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add(core);
            info.ArgumentList.Add("dotnet");
        }
        info.ArgumentList.Add(variant.Cli);
        info.ArgumentList.Add("ssim-score");
        foreach (var f in files.Concat(files))
        {
            info.ArgumentList.Add(f);
        }
        info.ArgumentList.Add("-j");
        info.ArgumentList.Add("1");
        foreach (var (key, value) in variant.Environment)
        {
            info.Environment[key] = value;
        }
        double childrenCpu = ChildrenCpuMs();
        var start = Stopwatch.GetTimestamp();
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<(long At, double CpuMs, string Line)>();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            lines.Add((Stopwatch.GetTimestamp(), lines.Count == files.Length - 1 ? CpuMs(process.Id) : 0, line));
        }
        process.WaitForExit();
        if (process.ExitCode != 0 || lines.Count != 2 * files.Length)
        {
            throw new InvalidOperationException($"{variant.Cli} ssim-score ({variant.Name}) exited {process.ExitCode} after {lines.Count} of {2 * files.Length} lines: {stderr.Result}");
        }
        for (int i = 0; i < files.Length; i++)
        {
            if (lines[i].Line != lines[i + files.Length].Line)
            {
                throw new InvalidOperationException($"{variant.Name}: cold and warm passes disagree on {files[i]}: {lines[i].Line} vs {lines[i + files.Length].Line}");
            }
        }
        var cold = Stopwatch.GetElapsedTime(start, lines[files.Length - 1].At).TotalMilliseconds;
        var warm = Stopwatch.GetElapsedTime(lines[files.Length - 1].At, lines[^1].At).TotalMilliseconds;
        // The whole process's CPU once it has been reaped (its exit, after the last line, included).
        var coldCpu = lines[files.Length - 1].CpuMs;
        return new Timing(cold, warm, coldCpu, ChildrenCpuMs() - childrenCpu - coldCpu);
    }

    /// <summary>Photo-like test images: gradients, hard-edged discs, noise; deterministic.</summary>
    private static string[] MakeImages(string folder, int count, bool jpeg)
    {
        var files = new string[count];
        for (int i = 0; i < count; i++)
        {
            using var image = MakeImage(1024, i);
            files[i] = Path.Combine(folder, string.Create(CultureInfo.InvariantCulture, $"photo-{i:00}.{(jpeg ? "jpg" : "png")}"));
            ImageCodec.EncodeFile(image, files[i], new EncodeOptions { JpegQuality = 90, PngCompressionLevel = 1 });
        }
        return files;
    }

    /// <summary>Image <paramref name="index"/> of the series, <paramref name="size"/> square.</summary>
    internal static RgbImage MakeImage(int size, int index)
    {
        var random = new Random(1234 + index);
        var image = RgbImage.Allocate(size, size);
        var discs = Enumerable.Range(0, 12).Select(_ => (X: random.Next(size), Y: random.Next(size), R: random.Next(20, 160), C: random.Next(256))).ToArray();
        for (int y = 0; y < size; y++)
        {
            var row = image.Row(y);
            for (int x = 0; x < size; x++)
            {
                double r = 128 + (100 * Math.Sin(x / (60.0 + (7 * index))) * Math.Cos(y / (90.0 + (5 * index))));
                double g = 128 + (90 * Math.Cos((x + y) / (120.0 + (3 * index))));
                double b = 255.0 * x / (size - 1) * (1 - ((double)y / (size - 1)));
                foreach (var d in discs)
                {
                    if (((x - d.X) * (x - d.X)) + ((y - d.Y) * (y - d.Y)) < d.R * d.R)
                    {
                        (r, g, b) = (d.C, 255 - d.C, d.C / 2);
                    }
                }
                double noise = random.Next(-12, 13);
                row[3 * x] = (byte)Math.Clamp(r + noise, 0, 255);
                row[(3 * x) + 1] = (byte)Math.Clamp(g + noise, 0, 255);
                row[(3 * x) + 2] = (byte)Math.Clamp(b + noise, 0, 255);
            }
        }
        return image;
    }

    private static string DefaultCli()
    {
        // The CLI built in this bench's configuration, found from the repository root.
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
        {
            dir = dir.Parent;
        }
#if DEBUG
        const string configuration = "Debug";
#else
        const string configuration = "Release";
#endif
        return Path.Combine(dir?.FullName ?? ".", "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
    }

    /// <summary>User + system CPU time of a live process so far (/proc/PID/stat, clock ticks of 10 ms); NaN where /proc is missing.</summary>
    private static double CpuMs(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // Fields 14 and 15 of stat(5); the split starts at field 3.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10.0;
        }
        catch (IOException)
        {
            return double.NaN;
        }
    }

    /// <summary>User + system CPU time of this process's reaped children so far (getrusage RUSAGE_CHILDREN).</summary>
    private static double ChildrenCpuMs()
    {
        const int rusageChildren = -1;
        if (GetRUsage(rusageChildren, out var usage) != 0)
        {
            return double.NaN;
        }
        return ((usage.UserSeconds + usage.SystemSeconds) * 1000.0) + ((usage.UserMicroseconds + usage.SystemMicroseconds) / 1000.0);
    }

    /// <summary>The head of Linux x86-64/arm64 <c>struct rusage</c>: two timevals, then 14 longs this bench does not read.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 144)]
    private struct RUsage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int GetRUsage(int who, out RUsage usage);

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
