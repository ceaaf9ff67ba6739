using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Vlm.Model;
using static TorchSharp.torch;

namespace SynthVlm.Bench.Vlm;

/// <summary>Command-line options of the bench.</summary>
internal sealed record BenchOptions(
    int Steps,
    int Batch,
    int MemorySteps,
    int NewTokens,
    int[] Threads,
    string? Model,
    string Device,
    string DType,
    bool NoPython,
    string Python)
{
    public static BenchOptions Parse(string[] args)
    {
        var o = new BenchOptions(
            Steps: 20,
            Batch: 8,
            MemorySteps: 1000,
            NewTokens: 32,
            Threads: Environment.ProcessorCount > 1 ? [1, Environment.ProcessorCount] : [1],
            Model: null,
            Device: "cpu",
            DType: "float32",
            NoPython: false,
            Python: Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3");
        for (var i = 0; i < args.Length; i++)
        {
            string Value() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"Option {args[i]} needs a value.");
            int Positive() => Value() is var v && int.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
                ? n
                : throw new ArgumentException($"Option {args[i - 1]} expects a positive integer, found '{args[i]}'.");
            o = args[i] switch
            {
                "--steps" => o with { Steps = Positive() },
                "--batch" => o with { Batch = Positive() },
                "--memory-steps" => o with { MemorySteps = Positive() },
                "--new-tokens" => o with { NewTokens = Positive() },
                "--threads" => o with { Threads = Value().Split(',').Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0 ? n : throw new ArgumentException($"--threads expects positive integers separated by commas, found '{t}'.")).ToArray() },
                "--model" => o with { Model = Path.GetFullPath(Value()) },
                "--device" => o with
                {
                    Device = Value() switch
                    {
                        "cpu" => "cpu",
                        "cuda" => "cuda",
                        var d => throw new ArgumentException($"--device expects cpu or cuda, found '{d}'."),
                    },
                },
                "--dtype" => o with
                {
                    DType = Value() switch
                    {
                        "float32" or "fp32" => "float32",
                        "bfloat16" or "bf16" => "bfloat16",
                        var d => throw new ArgumentException($"--dtype expects float32 or bfloat16, found '{d}'."),
                    },
                },
                "--no-python" => o with { NoPython = true },
                "--python" => o with { Python = Value() },
                var other => throw new ArgumentException($"Unknown option '{other}'. Options: --steps N --batch B --memory-steps N --new-tokens N --threads 1,4 --model DIR --device cpu|cuda --dtype float32|bfloat16 --no-python --python PATH"),
            };
        }
        return o;
    }
}

/// <summary>Inputs both sides use, and the PyTorch script's request.</summary>
internal static class BenchInputs
{
    /// <summary>Deterministic pixel values in [-1, 1), [count, 3, side, side].</summary>
    public static float[] PixelValues(int count, int side)
    {
        var data = new float[count * 3 * side * side];
        for (var i = 0; i < data.Length; i++)
        {
            data[i] = (float)((i * 7919L % 1000) / 500.0 - 1);
        }
        return data;
    }

    public static Tensor Pixels(int count, int side, Device device, ScalarType dtype)
    {
        using var cpu = tensor(PixelValues(count, side), [count, 3, side, side]);
        return cpu.to(dtype, device, copy: true);
    }

    public static string PythonTorchVersion(string python) =>
        BenchProcess.Run(python, ["-c", "import re, torch; b = re.search(r'BLAS_INFO=(\\w+)', torch.__config__.show()); print(torch.__version__ + ' (BLAS ' + (b.group(1) if b else '?') + ', ' + str(torch.get_num_threads()) + ' default threads)')"]).Trim();

    public static JsonObject Request(string mode, string modelDir, string reference, IReadOnlyList<LlavaSequence> sequences, int images, int side, int threads, int steps, int newTokens) => new()
    {
        ["mode"] = mode,
        ["model"] = modelDir,
        ["reference"] = reference,
        ["threads"] = threads,
        ["steps"] = steps,
        ["warmup"] = 2,
        ["new_tokens"] = newTokens,
        ["sequences"] = new JsonArray(sequences.Select(s => (JsonNode)new JsonObject
        {
            ["input_ids"] = new JsonArray(s.InputIds.Select(i => (JsonNode)i).ToArray()),
            ["labels"] = s.Labels is null ? null : new JsonArray(s.Labels.Select(i => (JsonNode)i).ToArray()),
        }).ToArray()),
        ["pixels"] = new JsonObject
        {
            ["shape"] = new JsonArray(images, 3, side, side),
            ["values"] = new JsonArray(PixelValues(images, side).Select(v => (JsonNode)v).ToArray()),
        },
    };

    public static JsonElement RunPython(string python, string work, JsonObject request)
    {
        var path = Path.Combine(work, "request.json");
        File.WriteAllText(path, request.ToJsonString());
        var output = BenchProcess.Run(python, [Path.Combine(AppContext.BaseDirectory, "vlm_bench.py"), path]);
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}

/// <summary>Runs a child process to completion and returns its standard output.</summary>
internal static class BenchProcess
{
    public static string Run(string file, IEnumerable<string> arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info) ?? throw new InvalidOperationException($"{file} did not start.");
        var stderr = process.StandardError.ReadToEndAsync();
        var stdout = process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(10)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', info.ArgumentList)} ran over 10 minutes.");
        }
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', info.ArgumentList)} exited with {process.ExitCode}: {stderr.Result.Trim()}");
        }
        return stdout;
    }
}
