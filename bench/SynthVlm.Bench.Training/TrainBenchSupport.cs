using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Bench.Training;

/// <summary>Command-line options of the bench.</summary>
internal sealed record TrainBenchOptions(
    int Steps,
    int GlobalBatch,
    int MicroBatch,
    int Threads,
    int Workers,
    int[] EpochSizes,
    int MemoryBatch,
    int MemorySteps,
    bool FullEpoch,
    bool Checkpointing,
    bool NoPython,
    bool SkipThroughput,
    bool SkipMemory,
    string Python)
{
    public const string Usage = "Options: --steps N --batch G --micro M --threads T --workers W --epochs 5000,50000 --memory-batch G --memory-steps N --full-epoch --checkpointing --no-python --no-throughput --no-memory --python PATH";

    public static TrainBenchOptions Parse(string[] args)
    {
        var cores = Environment.ProcessorCount;
        var o = new TrainBenchOptions(
            Steps: 10,
            GlobalBatch: 32,
            MicroBatch: 8,
            Threads: 1,
            Workers: cores,
            EpochSizes: [5_000, 50_000],
            MemoryBatch: 32,
            MemorySteps: 60,
            FullEpoch: false,
            Checkpointing: false,
            NoPython: false,
            SkipThroughput: false,
            SkipMemory: false,
            Python: Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"Option {args[i]} needs a value.");
            int Parse(string name, string text) => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new ArgumentException($"Option {name} expects a positive integer, found '{text}'.");
            int Positive() => Parse(args[i], Value());
            o = args[i] switch
            {
                "--steps" => o with { Steps = Positive() },
                "--batch" => o with { GlobalBatch = Positive() },
                "--micro" => o with { MicroBatch = Positive() },
                "--threads" => o with { Threads = Positive() },
                "--workers" => o with { Workers = Positive() },
                "--epochs" => o with { EpochSizes = [.. Value().Split(',').Select(t => Parse("--epochs", t))] },
                "--memory-batch" => o with { MemoryBatch = Positive() },
                "--memory-steps" => o with { MemorySteps = Positive() },
                "--full-epoch" => o with { FullEpoch = true },
                "--checkpointing" => o with { Checkpointing = true },
                "--no-python" => o with { NoPython = true },
                "--no-throughput" => o with { SkipThroughput = true },
                "--no-memory" => o with { SkipMemory = true },
                "--python" => o with { Python = Value() },
                var other => throw new ArgumentException($"Unknown option '{other}'. {Usage}"),
            };
        }
        if (o.GlobalBatch % o.MicroBatch != 0 || o.MemoryBatch % o.MicroBatch != 0)
        {
            throw new ArgumentException($"--batch {o.GlobalBatch} and --memory-batch {o.MemoryBatch} must be multiples of --micro {o.MicroBatch}.");
        }
        return o;
    }
}

/// <summary>Generated LLaVA stage-1 data: a JSON array in LLaVA's format and a few PNGs reused by path.</summary>
internal static class TrainData
{
    private static readonly string[] Words =
    [
        "a", "red", "bird", "on", "snowy", "mountain", "at", "dawn", "blue", "boat", "near", "small", "shop",
        "two", "cats", "sit", "green", "field", "an", "old", "bridge", "over", "river", "with", "trees",
    ];

    /// <summary>Writes <paramref name="images"/> PNGs of 48x36 .. 144x108 pixels (landscape and portrait) to <paramref name="folder"/>.</summary>
    public static void WriteImages(string folder, int images)
    {
        Directory.CreateDirectory(folder);
        for (var i = 0; i < images; i++)
        {
            var (w, h) = (48 + (i * 12 % 97), 36 + (i * 9 % 73));
            if (i % 3 == 2)
            {
                (w, h) = (h, w);
            }
            using var image = RgbImage.Allocate(w, h);
            var px = image.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)(((p / 3 % w) * 255 / w) ^ ((p / 3 / w) * 7 * (i + 1)) ^ (p % 3 * 85));
            }
            ImageCodec.EncodeFile(image, Path.Combine(folder, Image(i)));
        }
    }

    public static string Image(int i) => string.Create(CultureInfo.InvariantCulture, $"img{i:D3}.png");

    /// <summary>
    /// Writes a LLaVA-Pretrain-style JSON of <paramref name="count"/> samples (id, image, two turns:
    /// "&lt;image&gt;\n" + an instruction, then a caption of 6-17 words) streaming, image i mod
    /// <paramref name="images"/>; returns the file's size in bytes.
    /// </summary>
    public static long WriteJson(string path, int count, int images)
    {
        string[] instructions = ["Describe the image briefly.", "Give a short caption.", "What is shown here?"];
        using (var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        using (var json = new Utf8JsonWriter(stream))
        {
            json.WriteStartArray();
            var caption = new StringBuilder();
            for (var i = 0; i < count; i++)
            {
                caption.Clear();
                var words = 6 + (i * 7 % 12);
                for (var w = 0; w < words; w++)
                {
                    caption.Append(w == 0 ? "" : " ").Append(Words[((i * 31) + (w * 17)) % Words.Length]);
                }
                caption.Append('.');
                json.WriteStartObject();
                json.WriteString("id", string.Create(CultureInfo.InvariantCulture, $"{i:D8}"));
                json.WriteString("image", Image(i % images));
                json.WriteStartArray("conversations");
                json.WriteStartObject();
                json.WriteString("from", "human");
                json.WriteString("value", "<image>\n" + instructions[i % instructions.Length]);
                json.WriteEndObject();
                json.WriteStartObject();
                json.WriteString("from", "gpt");
                json.WriteString("value", caption.ToString());
                json.WriteEndObject();
                json.WriteEndArray();
                json.WriteEndObject();
            }
            json.WriteEndArray();
        }
        return new FileInfo(path).Length;
    }
}

/// <summary>This process's memory as Linux reports it.</summary>
internal static class HostMemory
{
    /// <summary>Resident set size now (VmRSS), MiB.</summary>
    public static double RssMiB() => Field("VmRSS:");

    /// <summary>Peak resident set size of the process so far (VmHWM), MiB.</summary>
    public static double PeakMiB() => Field("VmHWM:");

    private static double Field(string name)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
            {
                var kib = long.Parse(line[name.Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                return kib / 1024.0;
            }
        }
        return double.NaN;
    }
}

/// <summary>Runs a child process to completion; its standard error is passed through.</summary>
internal static class BenchProcess
{
    public static string Run(string file, IEnumerable<string> arguments, Action<string>? onLine = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = new StringBuilder();
        while (process.StandardOutput.ReadLine() is { } line)
        {
            stdout.AppendLine(line);
            onLine?.Invoke(line);
        }
        if (!process.WaitForExit(TimeSpan.FromMinutes(30)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} ran over 30 minutes.");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode}: {stderr.Result.Trim()}");
        }
        return stdout.ToString();
    }

    /// <summary>How to start this bench again: the apphost, or dotnet with the dll.</summary>
    public static (string File, List<string> Prefix) Self()
    {
        var path = Environment.ProcessPath ?? throw new InvalidOperationException("The bench cannot find its own executable.");
        return Path.GetFileNameWithoutExtension(path) == "dotnet"
            ? (path, [typeof(BenchProcess).Assembly.Location])
            : (path, []);
    }
}
