using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Curation;
using SynthVlm.Curation.NearDuplicates;
using SynthVlm.Testing;

// Rule-filter throughput per core: CaptionCurator.Evaluate (all six filters, flagged words on) on one
// thread, next to the plain Python statistics of dj_reference.py on the same texts in the same run,
// with an exact parity check on a sample; then BLIP image–text matching pairs/s, batched against one by one
// (BlipItmBench.cs). Usage: [--count N] [--seconds S] [--itm-pairs N] [--blip DIR] (defaults 20000, 3, 64,
// the tiny BLIP of SynthVlm.Blip.Tests; DIR: any folder eng/export_blip_itm.py wrote).
var count = ArgValue("--count", 20_000);
var minSeconds = ArgValue("--seconds", 3);
const int RepLen = 10;
const int Sample = 2_000;

var texts = Captions.Generate(count, seed: 2024);
var work = Directory.CreateTempSubdirectory("synthvlm-bench-curation-").FullName;
try
{
    var textsPath = Path.Combine(work, "texts.json");
    var flaggedPath = Path.Combine(work, "flagged.txt");
    var samplePath = Path.Combine(work, "python-sample.jsonl");
    await File.WriteAllTextAsync(textsPath, JsonSerializer.Serialize(texts));
    await File.WriteAllLinesAsync(flaggedPath, Captions.Flagged);

    // C#: warm up, then whole passes until the time is long enough to read.
    var curator = new CaptionCurator(new RuleFilterSettings { FlaggedWordsPath = flaggedPath });
    var checksum = 0.0;
    foreach (var t in texts.Take(2_000))
    {
        checksum += curator.Evaluate(t).Statistics.AlnumRatio;
    }
    var (csRate, csPasses) = Measure(() =>
    {
        foreach (var t in texts)
        {
            checksum += curator.Evaluate(t).Statistics.CharRepRatio;
        }
    });

    // MinHash LSH near-duplicate index (no Python twin here): signatures + band lookups per caption.
    var (nearRate, _) = Measure(() =>
    {
        var index = new NearDuplicateIndex();
        for (var i = 0; i < texts.Length; i++)
        {
            index.TryAdd(i.ToString(CultureInfo.InvariantCulture), texts[i], out _);
        }
    });

    // Exact-duplicate key (normalisation + SHA-256).
    var (hashRate, _) = Measure(() =>
    {
        foreach (var t in texts)
        {
            checksum += (double)(CaptionNormalizer.Hash128(t) & 1);
        }
    });

    var script = Path.Combine(RepoPaths.Root, "bench", "SynthVlm.Bench.Curation", "dj_bench.py");
    var reference = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Curation.Tests", "Fixtures", "dj_reference.py");
    var emoji = Path.Combine(RepoPaths.Root, "lib", "SynthVlm.Curation", "Data", "emoji_single_codepoints.txt");
    var python = await ChildProcess.RunPythonAsync(script,
        [reference, textsPath, emoji, flaggedPath, RepLen.ToString(CultureInfo.InvariantCulture), samplePath, Sample.ToString(CultureInfo.InvariantCulture)],
        TimeSpan.FromMinutes(30));
    if (python.ExitCode != 0)
    {
        Console.Error.WriteLine($"python reference failed ({python.ExitCode}):\n{python.StandardError}");
        return 1;
    }
    using var pyDoc = JsonDocument.Parse(python.Lines[^1]);
    var pyRate = pyDoc.RootElement.GetProperty("count").GetInt32() / pyDoc.RootElement.GetProperty("seconds").GetDouble();

    // Parity: every statistic of the sample equal to Python's, exactly (same integer ratios in IEEE double).
    var mismatches = 0;
    var lines = await File.ReadAllLinesAsync(samplePath);
    for (var i = 0; i < lines.Length; i++)
    {
        using var doc = JsonDocument.Parse(lines[i]);
        var e = doc.RootElement;
        var s = curator.Evaluate(texts[i]).Statistics;
        var same = e.GetProperty("alnum_ratio").GetDouble() == s.AlnumRatio
            && e.GetProperty("char_rep_ratio").GetDouble() == s.CharRepRatio
            && e.GetProperty("flagged_words_ratio").GetDouble() == s.FlaggedWordsRatio
            && e.GetProperty("special_char_ratio").GetDouble() == s.SpecialCharRatio
            && e.GetProperty("word_rep_ratio").GetDouble() == s.WordRepRatio
            && e.GetProperty("words").GetInt32() == s.Words;
        if (!same && mismatches++ < 5)
        {
            Console.Error.WriteLine($"mismatch on text {i}: python {lines[i]} vs C# {s}");
        }
    }

    var avgChars = texts.Average(t => t.Length);
    Console.WriteLine($"# Curation rule filters, {texts.Length} synthetic captions (mean {avgChars:F0} UTF-16 units), rep_len {RepLen}, one thread each");
    Console.WriteLine($"# machine: {Environment.ProcessorCount} cores, load average {LoadAverage()}; C# passes: {csPasses}");
    Console.WriteLine();
    Console.WriteLine("| implementation | captions/s per core | ratio vs Python |");
    Console.WriteLine("|---|---:|---:|");
    Console.WriteLine($"| Python dj_reference.py (statistics loop only) | {pyRate:F0} | 1.0 |");
    Console.WriteLine($"| C# CaptionCurator.Evaluate (6 filters, verdicts) | {csRate:F0} | {csRate / pyRate:F1} |");
    Console.WriteLine($"| C# CaptionNormalizer.Hash128 (exact-dup key) | {hashRate:F0} | - |");
    Console.WriteLine($"| C# NearDuplicateIndex.TryAdd (MinHash 256, LSH) | {nearRate:F0} | - |");
    Console.WriteLine();
    Console.WriteLine($"parity: {lines.Length - mismatches}/{lines.Length} sample captions with every statistic equal to Python's");
    GC.KeepAlive(checksum);
    var itmAgrees = BlipItmBench.Run(ArgString("--blip"), ArgValue("--itm-pairs", 64), minSeconds);
    return mismatches == 0 && itmAgrees ? 0 : 2;

    (double Rate, int Passes) Measure(Action pass)
    {
        pass();
        var clock = Stopwatch.StartNew();
        var passes = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        do
        {
            pass();
            passes++;
        }
        while (clock.Elapsed.TotalSeconds < minSeconds);
        // Per core: CPU time of this single-threaded loop, so other load on a shared machine does not count.
        var used = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
        return ((double)passes * texts.Length / Math.Max(used, 1e-9), passes);
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}

int ArgValue(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
}

string? ArgString(string name)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
}

static string LoadAverage() => File.Exists("/proc/loadavg") ? File.ReadAllText("/proc/loadavg").Split(' ')[0] : "n/a";

/// <summary>Deterministic synthetic captions shaped like scraped alt-text: mostly plain English, some junk.</summary>
internal static class Captions
{
    public static readonly string[] Flagged = ["gore", "nsfw", "xxx"];

    private static readonly string[] Words =
    [
        "a", "the", "dog", "cat", "runs", "sits", "on", "beach", "under", "blue", "sky", "with", "red", "ball", "near", "old",
        "wooden", "house", "tall", "green", "trees", "children", "play", "park", "bright", "sunny", "day", "small", "boat",
        "lake", "mountain", "behind", "city", "street", "night", "lights", "car", "bicycle", "woman", "man", "holding",
        "umbrella", "rain", "café", "naïve", "Straße", "ΟΔΟΣ", "İstanbul", "東京", "4k", "HD", "2019", "photo", "stock",
        "image", "gore", "nsfw",
    ];

    private static readonly string[] Junk = ["😀", "🔥", "!!!", "...", "#travel", "@user", "|", "—", "\u00A0", "\t", "©", "™"];

    public static string[] Generate(int count, int seed)
    {
        var random = new Random(seed);
        var texts = new string[count];
        var sb = new StringBuilder();
        for (var i = 0; i < count; i++)
        {
            sb.Clear();
            var words = random.Next(4, 30);
            for (var w = 0; w < words; w++)
            {
                if (w > 0)
                {
                    sb.Append(' ');
                }
                sb.Append(random.Next(12) == 0 ? Junk[random.Next(Junk.Length)] : Words[random.Next(Words.Length)]);
                if (random.Next(10) == 0)
                {
                    sb.Append(random.Next(2) == 0 ? ',' : '.');
                }
            }
            // One in 50 repeats itself, as spam captions do (exercises the repetition statistics).
            texts[i] = random.Next(50) == 0 ? string.Concat(Enumerable.Repeat(sb.ToString() + " ", 4)) : sb.ToString();
        }
        return texts;
    }
}
