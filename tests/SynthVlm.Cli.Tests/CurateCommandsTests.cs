using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;
using Xunit.Abstractions;

namespace SynthVlm.Cli.Tests;

/// <summary>`synthvlm curate` as a user runs it: the built tool on pools with junk, every output file checked.</summary>
public sealed class CurateCommandsTests(ITestOutputHelper output) : IDisposable
{
    private static readonly string[] DataJuicerKeys = ["alnum_ratio", "char_rep_ratio", "flagged_words_ratio", "perplexity", "special_char_ratio", "word_rep_ratio"];

    // Long enough (45 distinct-ish words) that a one-word change at the end keeps 40 of 42 shingles.
    private const string LongCaption =
        "A weathered fishing boat with peeling blue paint rests on pebbles beside a quiet harbour, while two gulls circle above " +
        "stacked lobster traps, coiled ropes, an orange buoy and a rusty anchor; behind them, whitewashed cottages climb a steep " +
        "green hill toward grey clouds at dusk";

    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cli-curate-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Dll()
    {
        var configuration = typeof(CurateCommandsTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
    }

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args) =>
        ChildProcess.RunAsync("dotnet", new[] { Dll() }.Concat(args), TimeSpan.FromSeconds(120));

    private static string Line(string id, string caption) => JsonSerializer.Serialize(new Dictionary<string, string> { ["id"] = id, ["caption"] = caption });

    /// <summary>A JSONL pool with every kind of junk, and the caption texts by id as the tool should read them.</summary>
    private (string Path, Dictionary<string, string> Texts) JunkPool()
    {
        var texts = new Dictionary<string, string>
        {
            ["good"] = "A brown dog runs along the wet sand of a quiet beach at sunset.",
            ["dup"] = "a brown DOG runs along the wet sand, of a quiet beach at sunset",
            ["long"] = LongCaption,
            ["near"] = LongCaption[..LongCaption.LastIndexOf(' ')] + " night",
            ["emoji"] = "A cat 😀 sits on a red sofa in a bright living room.",
            ["control"] = "A bus\u0007 parked near\u0001 the old station at noon.",
            ["huge"] = string.Concat(Enumerable.Repeat("word ", 20_000)),
            ["symbols"] = "$$$ %%% ### @@@ !!! ??? *** +++ === ~~~",
            ["nasty"] = "A goblin statue with an evil grin stands in a misty garden.",
        };
        var lines = new List<byte[]>
        {
            Encoding.UTF8.GetBytes(Line("good", texts["good"])),
            Encoding.UTF8.GetBytes(Line("dup", texts["dup"])),
            Encoding.UTF8.GetBytes("{\"id\": \"broken\", \"caption\": "),
            Encoding.UTF8.GetBytes(Line("long", texts["long"])),
            Encoding.UTF8.GetBytes(Line("near", texts["near"])),
            Encoding.UTF8.GetBytes(Line("empty", "   ")),
            Encoding.UTF8.GetBytes(Line("emoji", texts["emoji"])),
            Encoding.UTF8.GetBytes(Line("control", texts["control"])),
            Encoding.UTF8.GetBytes(Line("huge", texts["huge"])),
            Encoding.UTF8.GetBytes(Line("symbols", texts["symbols"])),
            Encoding.UTF8.GetBytes(Line("nasty", texts["nasty"])),
            // 0xFF is never UTF-8: the reader replaces it with U+FFFD and says so.
            Encoding.UTF8.GetBytes("{\"id\":\"latin1\",\"caption\":\"A green ").Append((byte)0xFF).Concat(Encoding.UTF8.GetBytes(" tree stands beside a small wooden house.\"}")).ToArray(),
        };
        texts["latin1"] = "A green \uFFFD tree stands beside a small wooden house.";
        var path = Path.Combine(_dir, "pool.jsonl");
        using (var file = File.Create(path))
        {
            foreach (var line in lines)
            {
                file.Write(line);
                file.WriteByte((byte)'\n');
            }
        }
        return (path, texts);
    }

    private static List<JsonElement> ReadJsonl(string path) =>
        [.. File.ReadAllLines(path).Select(l => JsonDocument.Parse(l).RootElement.Clone())];

    [Fact]
    public async Task Curate_writes_every_record_of_a_pool_with_junk()
    {
        var (pool, texts) = JunkPool();
        var flagged = Path.Combine(_dir, "flagged.txt");
        await File.WriteAllTextAsync(flagged, "evil\n");
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--near-dup", "0.7", "--flagged-words", flagged);
        output.WriteLine(result.StandardOutput);
        result.ExitCode.Should().Be(0, result.StandardError);

        // One JSON line on stdout with the totals.
        result.Lines.Should().ContainSingle();
        using (var line = JsonDocument.Parse(result.Lines[0]))
        {
            var root = line.RootElement;
            root.GetProperty("records").GetInt64().Should().Be(12);
            root.GetProperty("captions").GetInt64().Should().Be(10);
            root.GetProperty("malformed").GetInt64().Should().Be(2);
            root.GetProperty("kept").GetInt64().Should().Be(5);
            root.GetProperty("exact_duplicates").GetInt64().Should().Be(1);
            root.GetProperty("near_duplicates").GetInt64().Should().Be(1);
        }

        var kept = ReadJsonl(Path.Combine(outDir, "kept.jsonl"));
        kept.Select(k => k.GetProperty("id").GetString()).Should().Equal("good", "long", "emoji", "control", "latin1");
        foreach (var k in kept)
        {
            k.GetProperty("caption").GetString().Should().Be(texts[k.GetProperty("id").GetString()!]);
        }

        var rejected = ReadJsonl(Path.Combine(outDir, "rejected.jsonl"));
        rejected.Select(r => (r.GetProperty("id").ValueKind == JsonValueKind.Null ? null : r.GetProperty("id").GetString(), r.GetProperty("line").GetInt64(), r.GetProperty("filter").GetString()))
            .Should().Equal(
                ("dup", 2L, "exact_duplicate"),
                (null, 3L, "input"),
                ("near", 5L, "near_duplicate"),
                ("empty", 6L, "input"),
                ("huge", 9L, "character_repetition_filter"),
                ("symbols", 10L, "alphanumeric_filter"),
                ("nasty", 11L, "flagged_words_filter"));
        rejected.Should().OnlyContain(r => r.GetProperty("reason").GetString()!.Length > 0);
        rejected[2].GetProperty("reason").GetString().Should().Contain("'long'");
        rejected[4].GetProperty("reason").GetString().Should().StartWith("char_rep_ratio");

        // stats.jsonl: every caption (not the malformed records), in pool order, all six keys, values
        // equal to the plain Python implementation of Data-Juicer's statistics.
        var stats = ReadJsonl(Path.Combine(outDir, "stats.jsonl"));
        string[] captionIds = ["good", "dup", "long", "near", "emoji", "control", "huge", "symbols", "nasty", "latin1"];
        stats.Select(s => s.GetProperty("id").GetString()).Should().Equal(captionIds);
        foreach (var s in stats)
        {
            s.EnumerateObject().Select(p => p.Name).Should().Contain(DataJuicerKeys).And.Contain(["code_points", "words"]);
            s.GetProperty("perplexity").ValueKind.Should().Be(JsonValueKind.Null);
            s.GetProperty("flagged_words_ratio").ValueKind.Should().Be(JsonValueKind.Number);
            s.TryGetProperty("replaced_invalid_utf8", out var replaced).Should().Be(s.GetProperty("id").GetString() == "latin1");
            if (replaced.ValueKind != JsonValueKind.Undefined)
            {
                replaced.GetBoolean().Should().BeTrue();
            }
        }
        await ExpectPythonStatistics(captionIds.Select(id => texts[id]).ToArray(), stats, flagged);
        stats.Single(s => s.GetProperty("id").GetString() == "huge").GetProperty("code_points").GetInt32().Should().Be(100_000);
        stats.Single(s => s.GetProperty("id").GetString() == "emoji").GetProperty("code_points").GetInt32()
            .Should().Be(texts["emoji"].Length - 1, "the emoji is one code point in two UTF-16 units");

        using (var summaryDoc = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(outDir, "summary.json"))))
        {
            var summary = summaryDoc.RootElement;
            summary.GetProperty("totals").GetProperty("kept").GetInt64().Should().Be(5);
            summary.GetProperty("totals").GetProperty("dropped").GetInt64().Should().Be(5);
            var byFilter = summary.GetProperty("dropped_by_filter").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
            byFilter.Should().Equal(new Dictionary<string, long>
            {
                ["alphanumeric_filter"] = 1, ["character_repetition_filter"] = 1, ["exact_duplicate"] = 1,
                ["flagged_words_filter"] = 1, ["input"] = 2, ["near_duplicate"] = 1,
            });
            summary.GetProperty("malformed_by_reason").EnumerateObject().Sum(p => p.Value.GetInt64()).Should().Be(2);
            summary.GetProperty("skipped_filters").EnumerateObject().Select(p => p.Name).Should().Equal("perplexity_filter");
            summary.GetProperty("near_duplicates").GetProperty("bands").GetInt32().Should().BeGreaterThan(1);
            summary.GetProperty("captions_per_s").GetDouble().Should().BePositive();
            var pictures = summary.GetProperty("histograms").EnumerateArray().Select(e => e.GetString()!).ToArray();
            pictures.Should().Contain(DataJuicerKeys.Where(k => k != "perplexity").Select(k => $"histograms/{k}.svg"));
            foreach (var picture in pictures)
            {
                var svg = XDocument.Load(Path.Combine(outDir, picture));
                svg.Root!.Name.LocalName.Should().Be("svg");
                svg.Root.Descendants().Count(e => e.Name.LocalName == "rect").Should().BeGreaterThan(1, "{0} draws bars", picture);
            }
            Directory.GetFiles(Path.Combine(outDir, "histograms")).Should().HaveCount(pictures.Length);
        }
        // The staging folder was renamed into place, not left behind.
        Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Should().BeEquivalentTo(["pool.jsonl", "flagged.txt", "out"]);
    }

    private async Task ExpectPythonStatistics(string[] texts, List<JsonElement> stats, string flagged)
    {
        var textsPath = Path.Combine(_dir, "texts.json");
        await File.WriteAllTextAsync(textsPath, JsonSerializer.Serialize(texts));
        var fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Curation.Tests", "Fixtures");
        var emoji = Path.Combine(RepoPaths.Root, "lib", "SynthVlm.Curation", "Data", "emoji_single_codepoints.txt");
        var python = await ChildProcess.RunPythonAsync(Path.Combine(fixtures, "dj_reference.py"), [textsPath, emoji, flagged, "10"], TimeSpan.FromMinutes(2));
        python.ExitCode.Should().Be(0, python.StandardError);
        File.Delete(textsPath);
        var lines = python.Lines;
        lines.Should().HaveCount(texts.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            using var doc = JsonDocument.Parse(lines[i]);
            var expected = doc.RootElement;
            var actual = stats[i];
            // Exact: both sides divide the same two integers in IEEE double.
            foreach (var key in new[] { "alnum_ratio", "special_char_ratio", "flagged_words_ratio" })
            {
                actual.GetProperty(key).GetDouble().Should().Be(expected.GetProperty(key).GetDouble(), "{0} of caption {1}", key, i);
            }
            actual.GetProperty("char_rep_ratio").GetDouble().Should().Be(expected.GetProperty("char_rep_ratio").GetProperty("10").GetDouble(), "char_rep_ratio of caption {0}", i);
            actual.GetProperty("word_rep_ratio").GetDouble().Should().Be(expected.GetProperty("word_rep_ratio").GetProperty("10").GetDouble(), "word_rep_ratio of caption {0}", i);
            actual.GetProperty("words").GetInt32().Should().Be(expected.GetProperty("words").GetArrayLength());
        }
    }

    [Fact]
    public async Task Config_overrides_settings_by_property_name()
    {
        var (pool, _) = JunkPool();
        var config = Path.Combine(_dir, "curation.json");
        await File.WriteAllTextAsync(config, """{"AlnumMinRatio": 0.99, "CharRepMaxRatio": "inf"}""");
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--config", config);
        result.ExitCode.Should().Be(0, result.StandardError);
        ReadJsonl(Path.Combine(outDir, "kept.jsonl")).Should().BeEmpty("no caption is 99% alphanumeric");
        var rejected = ReadJsonl(Path.Combine(outDir, "rejected.jsonl"));
        rejected.Where(r => r.GetProperty("filter").GetString() != "input").Should().OnlyContain(r => r.GetProperty("filter").GetString() == "alphanumeric_filter");
        using var summary = JsonDocument.Parse(await File.ReadAllBytesAsync(Path.Combine(outDir, "summary.json")));
        var settings = summary.RootElement.GetProperty("settings");
        settings.GetProperty("AlnumMinRatio").GetDouble().Should().Be(0.99);
        settings.GetProperty("CharRepMaxRatio").GetString().Should().Be("inf");
        summary.RootElement.GetProperty("skipped_filters").EnumerateObject().Select(p => p.Name).Should().BeEquivalentTo(["flagged_words_filter", "perplexity_filter"]);
        summary.RootElement.GetProperty("near_duplicates").ValueKind.Should().Be(JsonValueKind.Null);
    }

    [Fact]
    public async Task Unknown_config_key_is_a_usage_error_naming_the_key()
    {
        var (pool, _) = JunkPool();
        var config = Path.Combine(_dir, "curation.json");
        await File.WriteAllTextAsync(config, """{"AlnumMinRatio": 0.5, "alnum_min": 0.4}""");
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--config", config);
        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("unknown key 'alnum_min'").And.Contain("AlnumMinRatio").And.Contain(config);
        Directory.Exists(outDir).Should().BeFalse();

        await File.WriteAllTextAsync(config, """{"WordRepLen": 2.5}""");
        result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--config", config);
        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("'WordRepLen' must be an integer");

        await File.WriteAllTextAsync(config, """{"SpecialCharMinRatio": 0.5, "SpecialCharMaxRatio": 0.4}""");
        result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir, "--config", config);
        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("SpecialCharMinRatio");
        Directory.GetFileSystemEntries(_dir).Select(Path.GetFileName).Should().BeEquivalentTo(["pool.jsonl", "curation.json"]);
    }

    [Fact]
    public async Task Missing_input_is_an_input_error_naming_the_file()
    {
        var missing = Path.Combine(_dir, "no-such-pool.jsonl");
        var outDir = Path.Combine(_dir, "out");
        var result = await SynthVlmAsync("curate", "--in", missing, "--out", outDir);
        result.ExitCode.Should().Be(1);
        result.StandardError.Should().Contain(missing).And.Contain("no such file");
        result.StandardOutput.Should().BeEmpty();
        Directory.GetFileSystemEntries(_dir).Should().BeEmpty("nothing is written, not even a staging folder");
    }

    [Fact]
    public async Task An_existing_output_folder_with_files_is_refused()
    {
        var (pool, _) = JunkPool();
        var outDir = Path.Combine(_dir, "out");
        Directory.CreateDirectory(outDir);
        await File.WriteAllTextAsync(Path.Combine(outDir, "keep-me.txt"), "x");
        var result = await SynthVlmAsync("curate", "--in", pool, "--out", outDir);
        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("already exists");
        Directory.GetFiles(outDir).Select(Path.GetFileName).Should().Equal("keep-me.txt");
    }

    /// <summary>
    /// A million captions stream through with bounded memory. Peak resident set of the tool process is
    /// read by GNU time (exact, from the kernel's rusage), or polled from /proc VmHWM when it is absent.
    /// Bound: 400 MB. Expected use: the runtime (~60 MB), one batch of 4,096 records with their results,
    /// and the exact-duplicate set (one 16-byte key per distinct caption, ~28 bytes with the set's entry,
    /// plus its growth slack: ~60 MB at 1M); measured 153 MB on the development machine.
    /// </summary>
    [Fact]
    public async Task A_million_captions_stream_through_with_bounded_memory()
    {
        const int Count = 1_000_000;
        const long BoundKb = 400 * 1024;
        var pool = Path.Combine(_dir, "million.jsonl");
        string[] vocabulary =
        [
            "a", "dog", "cat", "runs", "on", "the", "beach", "under", "blue", "sky", "with", "red", "ball", "near", "old", "wooden",
            "house", "tall", "green", "trees", "while", "children", "play", "in", "park", "bright", "sunny", "day", "small", "boat",
        ];
        var random = new Random(42);
        using (var writer = new StreamWriter(pool, false, new UTF8Encoding(false), 1 << 16))
        {
            var sb = new StringBuilder();
            for (var i = 0; i < Count; i++)
            {
                sb.Clear().Append("{\"id\":\"c").Append(i.ToString(CultureInfo.InvariantCulture)).Append("\",\"caption\":\"");
                var words = random.Next(6, 20);
                for (var w = 0; w < words; w++)
                {
                    sb.Append(w == 0 ? "" : " ").Append(vocabulary[random.Next(vocabulary.Length)]);
                }
                // Every 10th caption is one of 1,000 templates, so 99,000 are exact duplicates of earlier ones.
                writer.WriteLine(i % 10 == 9 ? $"{{\"id\":\"c{i}\",\"caption\":\"the dog {i / 10 % 1000} runs on the beach\"}}" : sb.Append("\"}").ToString());
            }
        }
        var outDir = Path.Combine(_dir, "out");
        var (result, peakKb) = await RunMeasuredAsync(["curate", "--in", pool, "--out", outDir]);
        result.ExitCode.Should().Be(0, result.StandardError);
        using var line = JsonDocument.Parse(result.Lines[^1]);
        line.RootElement.GetProperty("records").GetInt64().Should().Be(Count);
        line.RootElement.GetProperty("exact_duplicates").GetInt64().Should().BeGreaterThanOrEqualTo(99_000);
        output.WriteLine($"{result.Lines[^1]}\npeak resident set: {peakKb / 1024.0:F1} MB");
        CountLines(Path.Combine(outDir, "stats.jsonl")).Should().Be(Count);
        (CountLines(Path.Combine(outDir, "kept.jsonl")) + CountLines(Path.Combine(outDir, "rejected.jsonl"))).Should().Be(Count);
        peakKb.Should().BePositive().And.BeLessThan(BoundKb);
    }

    private static long CountLines(string path)
    {
        long n = 0;
        using var stream = File.OpenRead(path);
        Span<byte> buffer = stackalloc byte[1 << 16];
        int read;
        while ((read = stream.Read(buffer)) > 0)
        {
            n += buffer[..read].Count((byte)'\n');
        }
        return n;
    }

    private static async Task<(ChildProcessResult Result, long PeakKb)> RunMeasuredAsync(string[] args)
    {
        var timeout = TimeSpan.FromMinutes(8);
        const string GnuTime = "/usr/bin/time";
        if (File.Exists(GnuTime))
        {
            var result = await ChildProcess.RunAsync(GnuTime, new[] { "-v", "dotnet", Dll() }.Concat(args), timeout);
            var peak = result.StandardError.Split('\n').Select(l => l.Trim())
                .Where(l => l.StartsWith("Maximum resident set size (kbytes):", StringComparison.Ordinal))
                .Select(l => long.Parse(l[(l.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture)).Single();
            return (result, peak);
        }
        // No GNU time: poll the kernel's high-water mark while the tool runs; it only grows, so the
        // last reading before exit misses at most the final poll interval.
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Dll());
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        long peakKb = 0;
        using var cts = new CancellationTokenSource(timeout);
        while (!process.HasExited)
        {
            try
            {
                foreach (var l in await File.ReadAllLinesAsync($"/proc/{process.Id}/status", cts.Token))
                {
                    if (l.StartsWith("VmHWM:", StringComparison.Ordinal))
                    {
                        peakKb = Math.Max(peakKb, long.Parse(l[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture));
                    }
                }
            }
            catch (IOException)
            {
                // The process exited between the check and the read.
            }
            await Task.Delay(20, cts.Token);
        }
        await process.WaitForExitAsync(cts.Token);
        return (new ChildProcessResult(process.ExitCode, await stdout, await stderr), peakKb);
    }
}
