using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Xml.Linq;
using SynthVlm.Captions;
using SynthVlm.Curation;
using SynthVlm.Curation.Cleaning;
using SynthVlm.Curation.NearDuplicates;

namespace SynthVlm.Cli;

/// <summary>`synthvlm curate`: a caption pool through the rule filters and duplicate removal, to a folder of records.</summary>
internal static class CurateCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>
    /// `synthvlm curate --in FILE --out DIR [--config curation.json] [--format F] [--near-dup T] [--flagged-words FILE] [-j N]
    /// [--itm-model DIR [--itm-min P] [--itm-max P] [--itm-flip h|v|hv] [--itm-batch N]]`.
    /// </summary>
    public static Command Curate()
    {
        var input = new Option<string>("--in") { Description = "Caption pool: SynthVLM JSON, JSONL, CSV/TSV, LLaVA JSON, or an imagefolder with metadata.jsonl.", Required = true };
        var output = new Option<string>("--out") { Description = "Folder to create with kept.jsonl, rejected.jsonl, stats.jsonl, summary.json and histograms/; must not exist or be empty.", Required = true };
        var config = new Option<string?>("--config") { Description = "JSON object overriding rule-filter settings by property name (e.g. {\"AlnumMinRatio\": 0.5}); relative paths in it are relative to the file." };
        var format = new Option<CaptionPoolFormat>("--format") { Description = "Pool format (default: detected from the path and content).", DefaultValueFactory = _ => CaptionPoolFormat.Auto };
        var nearDup = new Option<double?>("--near-dup") { Description = "Also drop near-duplicates: MinHash LSH over 5-word shingles, 256 permutations, at this Jaccard threshold (Data-Juicer's default is 0.7)." };
        var flagged = new Option<string?>("--flagged-words") { Description = "Flagged-words list (Data-Juicer JSON or one word per line); without it flagged_words_filter is reported skipped." };
        var parallelism = new Option<int>("--parallelism", "-j") { Description = "Threads computing statistics (default: the number of cores).", DefaultValueFactory = _ => Environment.ProcessorCount };
        var itmModel = new Option<string?>("--itm-model") { Description = "BLIP ITM model folder (itm.onnx, vocab.txt, blip_itm.json): turns on Data-Juicer's image_text_matching_filter for captions with an image (relative image paths: from the pool file's folder)." };
        var itmMin = new Option<double?>("--itm-min") { Description = "Lowest kept ITM match probability, inclusive (default 0.8, the SynthVLM appendix)." };
        var itmMax = new Option<double?>("--itm-max") { Description = "Highest kept ITM match probability, inclusive (default 1.0)." };
        var itmFlip = new Option<string?>("--itm-flip") { Description = "Flip each image before scoring: h (mirror), v (upside down) or hv." };
        var itmBatch = new Option<int?>("--itm-batch") { Description = $"Image–caption pairs per BLIP call, and decoded images held at once (default {Blip.BlipItmModel.DefaultBatchSize})." };
        var command = new Command("curate", "Curate a caption pool: Data-Juicer's six rule filters, optional BLIP image–text matching, exact duplicates after normalisation, optional near-duplicates; writes per-caption records, a summary and histograms.")
        {
            input, output, config, format, nearDup, flagged, parallelism, itmModel, itmMin, itmMax, itmFlip, itmBatch,
        };
        command.SetAction((parse, ct) =>
        {
            var request = new CurateRequest(
                parse.GetRequiredValue(input), parse.GetRequiredValue(output), parse.GetValue(config), parse.GetValue(format),
                parse.GetValue(nearDup), parse.GetValue(flagged), parse.GetValue(parallelism),
                new CurateItmOptions(parse.GetValue(itmModel), parse.GetValue(itmMin), parse.GetValue(itmMax), parse.GetValue(itmFlip), parse.GetValue(itmBatch)));
            return Task.FromResult(CurateRun.Execute(request, ct));
        });
        return command;
    }

    internal sealed record CurateRequest(string Input, string Output, string? ConfigPath, CaptionPoolFormat Format, double? NearDupThreshold, string? FlaggedWordsPath, int Parallelism, CurateItmOptions Itm);

    /// <summary>A failure that ends the run with an exit code and a message for stderr.</summary>
    private sealed class CurateFailure(int exitCode, string message) : Exception(message)
    {
        public int ExitCode { get; } = exitCode;
    }

    /// <summary>
    /// One run. Records stream through in batches: statistics are computed in parallel within a batch,
    /// then duplicates are decided and records written in pool order on one thread, so memory is one
    /// batch (bounded in captions and characters) plus the duplicate sets, whatever the pool's size.
    /// </summary>
    private static class CurateRun
    {
        private const int BatchCaptions = 4096;
        private const long BatchChars = 8L << 20;
        private const string InputFilter = "input";
        private const string ExactDuplicateFilter = "exact_duplicate";
        private const string NearDuplicateFilter = "near_duplicate";
        private const int MaxDistinctInputReasons = 100;
        private const string ImageTextMatchingScore = Blip.ImageTextMatchingFilter.StatisticName;

        private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

        public static int Execute(CurateRequest request, CancellationToken ct)
        {
            string? staging = null;
            try
            {
                var settings = LoadSettings(request);
                if (request.Parallelism < 1)
                {
                    throw new CurateFailure(UsageError, $"curate: --parallelism must be at least 1; got {request.Parallelism}.");
                }
                if (request.NearDupThreshold is { } t && (double.IsNaN(t) || t <= 0 || t > 1))
                {
                    throw new CurateFailure(UsageError, $"curate: --near-dup must be a Jaccard threshold in (0, 1]; got {t.ToString(CultureInfo.InvariantCulture)}.");
                }
                var outDir = Path.GetFullPath(request.Output);
                if (File.Exists(outDir) || (Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any()))
                {
                    throw new CurateFailure(UsageError, $"curate: --out '{request.Output}' already exists and is not an empty folder; choose a new folder or remove it.");
                }
                CaptionCurator curator;
                try
                {
                    curator = new CaptionCurator(settings);
                }
                catch (Exception e) when (e is FileNotFoundException or InvalidDataException or IOException or UnauthorizedAccessException)
                {
                    throw new CurateFailure(InputError, $"curate: flagged-words list '{settings.FlaggedWordsPath}': {e.Message}");
                }
                using var reader = OpenPool(request);
                CurateImageMatching? itm;
                try
                {
                    itm = CurateImageMatching.Open(request.Itm, request.Input, request.Parallelism);
                }
                catch (ArgumentException e)
                {
                    throw new CurateFailure(UsageError, $"curate: {e.Message}");
                }
                using var itmScope = itm;
                var parent = Path.GetDirectoryName(outDir) ?? throw new CurateFailure(UsageError, $"curate: --out '{request.Output}' has no parent folder.");
                Directory.CreateDirectory(parent);
                // A sibling folder is on the same file system, so the final rename is atomic: readers
                // see either no DIR or a complete one.
                staging = Path.Combine(parent, $".{Path.GetFileName(outDir)}.staging-{Environment.ProcessId}-{Guid.NewGuid():N}");
                Directory.CreateDirectory(staging);
                var near = request.NearDupThreshold is { } threshold ? new NearDuplicateIndex(new MinHashSettings { Threshold = threshold }) : null;
                var summary = Process(reader, curator, near, itm, staging, request, ct);
                if (Directory.Exists(outDir))
                {
                    Directory.Delete(outDir);
                }
                Directory.Move(staging, outDir);
                staging = null;
                Console.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteString("out", outDir);
                    w.WriteNumber("records", summary.Records);
                    w.WriteNumber("captions", summary.Captions);
                    w.WriteNumber("kept", summary.Kept);
                    w.WriteNumber("rejected", summary.Records - summary.Kept);
                    w.WriteNumber("malformed", summary.Malformed);
                    w.WriteNumber("exact_duplicates", summary.ExactDuplicates);
                    w.WriteNumber("near_duplicates", summary.NearDuplicates);
                    w.WriteNumber("elapsed_s", Math.Round(summary.ElapsedSeconds, 3));
                    w.WriteNumber("captions_per_s", Math.Round(summary.CaptionsPerSecond, 1));
                }));
                return 0;
            }
            catch (CurateFailure failure)
            {
                Console.Error.WriteLine(failure.Message);
                return failure.ExitCode;
            }
            catch (CaptionPoolFormatException e)
            {
                Console.Error.WriteLine($"curate: {e.Message}");
                return InputError;
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"curate: {e.Message}");
                return InputError;
            }
            catch (UnauthorizedAccessException e)
            {
                Console.Error.WriteLine($"curate: {e.Message}");
                return InputError;
            }
            finally
            {
                if (staging is not null && Directory.Exists(staging))
                {
                    Directory.Delete(staging, recursive: true);
                }
            }
        }

        private static CaptionPoolReader OpenPool(CurateRequest request)
        {
            try
            {
                return CaptionPoolReader.Open(request.Input, new CaptionPoolOptions { Format = request.Format });
            }
            catch (ArgumentException e)
            {
                throw new CurateFailure(UsageError, $"curate: --in '{request.Input}': {e.Message}");
            }
        }

        /// <summary>The paper's settings, overridden by the config file's keys, then by --flagged-words.</summary>
        private static RuleFilterSettings LoadSettings(CurateRequest request)
        {
            var settings = new RuleFilterSettings();
            if (request.ConfigPath is { } path)
            {
                if (!File.Exists(path))
                {
                    throw new CurateFailure(InputError, $"curate: --config '{path}': no such file.");
                }
                JsonDocument doc;
                try
                {
                    doc = JsonDocument.Parse(File.ReadAllBytes(path));
                }
                catch (JsonException e)
                {
                    throw new CurateFailure(UsageError, $"curate: --config '{path}': not valid JSON ({e.Message}).");
                }
                using (doc)
                {
                    if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    {
                        throw new CurateFailure(UsageError, $"curate: --config '{path}': expected a JSON object of rule-filter settings; found {doc.RootElement.ValueKind}.");
                    }
                    var baseDir = Path.GetDirectoryName(Path.GetFullPath(path))!;
                    foreach (var property in doc.RootElement.EnumerateObject())
                    {
                        Apply(settings, property, path, baseDir);
                    }
                }
            }
            if (request.FlaggedWordsPath is { } flagged)
            {
                settings = settings with { FlaggedWordsPath = Path.GetFullPath(flagged) };
            }
            try
            {
                settings.Validate();
            }
            catch (ArgumentException e)
            {
                throw new CurateFailure(UsageError, $"curate: setting {e.ParamName}: {e.Message}");
            }
            return settings;
        }

        private static readonly PropertyInfo[] SettingProperties = typeof(RuleFilterSettings)
            .GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite)
            .ToArray();

        // Reflection over the record's init-only properties keeps one spelling of each key: the property name.
        private static void Apply(RuleFilterSettings settings, JsonProperty property, string path, string baseDir)
        {
            var target = SettingProperties.FirstOrDefault(p => string.Equals(p.Name, property.Name, StringComparison.OrdinalIgnoreCase))
                ?? throw new CurateFailure(UsageError,
                    $"curate: --config '{path}': unknown key '{property.Name}'; known keys: {string.Join(", ", SettingProperties.Select(p => p.Name))}.");
            var value = property.Value;
            object? converted;
            var type = Nullable.GetUnderlyingType(target.PropertyType) ?? target.PropertyType;
            if (type == typeof(double))
            {
                converted = value.ValueKind switch
                {
                    JsonValueKind.Number => value.GetDouble(),
                    JsonValueKind.String when value.GetString() is "inf" or "Infinity" or "+inf" => double.PositiveInfinity,
                    _ => throw WrongType("a number (or \"inf\" for no upper bound)"),
                };
            }
            else if (type == typeof(CaptionCleaningSettings))
            {
                converted = ParseCleaning(value) ?? throw WrongType(
                    "\"none\", \"data_juicer_recipe\", \"llava_pretrain\" or an object of booleans (CleanHtml, CleanEmail, CleanLinks, FixUnicode, NormalizePunctuation, NormalizeWhitespace)");
            }
            else if (type == typeof(int))
            {
                converted = value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var i) ? i : throw WrongType("an integer");
            }
            else if (type == typeof(string))
            {
                var nullable = new NullabilityInfoContext().Create(target).WriteState == NullabilityState.Nullable;
                converted = value.ValueKind switch
                {
                    JsonValueKind.String when target.Name.EndsWith("Path", StringComparison.Ordinal) => Path.GetFullPath(value.GetString()!, baseDir),
                    JsonValueKind.String => value.GetString(),
                    JsonValueKind.Null when nullable => null,
                    _ => throw WrongType(nullable ? "a string or null" : "a string"),
                };
            }
            else
            {
                throw new CurateFailure(UsageError, $"curate: --config '{path}': key '{property.Name}' cannot be set from a config file.");
            }
            target.SetValue(settings, converted);

            CurateFailure WrongType(string expected) => new(UsageError,
                $"curate: --config '{path}': key '{property.Name}' must be {expected}; found {value.ValueKind} {value.GetRawText()}.");
        }

        // The "Cleaning" key of a --config file: a preset name or an object of the six switches.
        private static CaptionCleaningSettings? ParseCleaning(JsonElement value)
        {
            if (value.ValueKind == JsonValueKind.String)
            {
                return value.GetString() switch
                {
                    "none" => CaptionCleaningSettings.None,
                    "data_juicer_recipe" => CaptionCleaningSettings.DataJuicerRecipe,
                    "llava_pretrain" => CaptionCleaningSettings.LlavaPretrainRecipe,
                    _ => null,
                };
            }
            if (value.ValueKind != JsonValueKind.Object)
            {
                return null;
            }
            var settings = CaptionCleaningSettings.None;
            foreach (var p in value.EnumerateObject())
            {
                if (p.Value.ValueKind is not (JsonValueKind.True or JsonValueKind.False))
                {
                    return null;
                }
                var on = p.Value.GetBoolean();
                CaptionCleaningSettings? next = p.Name switch
                {
                    nameof(CaptionCleaningSettings.CleanHtml) => settings with { CleanHtml = on },
                    nameof(CaptionCleaningSettings.CleanEmail) => settings with { CleanEmail = on },
                    nameof(CaptionCleaningSettings.CleanLinks) => settings with { CleanLinks = on },
                    nameof(CaptionCleaningSettings.FixUnicode) => settings with { FixUnicode = on },
                    nameof(CaptionCleaningSettings.NormalizePunctuation) => settings with { NormalizePunctuation = on },
                    nameof(CaptionCleaningSettings.NormalizeWhitespace) => settings with { NormalizeWhitespace = on },
                    _ => null,
                };
                if (next is null)
                {
                    return null;
                }
                settings = next;
            }
            return settings;
        }

        private sealed record Evaluated(CurationResult Result, UInt128 Hash)
        {
            /// <summary>The caption that was scored: the cleaned text when cleaning is on.</summary>
            public string Text(PoolCaption caption) => Result.Cleaning?.Text ?? caption.Caption;
        }

        // Duplicates are judged on the text the filters scored (after cleaning, when it is on).
        private static Evaluated Evaluate(CaptionCurator curator, string caption)
        {
            var result = curator.Evaluate(caption);
            return new Evaluated(result, CaptionNormalizer.Hash128(result.Cleaning?.Text ?? caption));
        }

        private static CurateSummary Process(CaptionPoolReader reader, CaptionCurator curator, NearDuplicateIndex? near, CurateImageMatching? itm, string dir, CurateRequest request, CancellationToken ct)
        {
            var clock = Stopwatch.StartNew();
            var summary = new CurateSummary();
            var seen = new HashSet<UInt128>();
            var histograms = StatHistogram.CreateSet(itm is not null);
            using var kept = new JsonlFile(Path.Combine(dir, "kept.jsonl"));
            using var rejected = new JsonlFile(Path.Combine(dir, "rejected.jsonl"));
            using var stats = new JsonlFile(Path.Combine(dir, "stats.jsonl"));
            var batch = new List<PoolRecord>(BatchCaptions);
            var results = new Evaluated?[BatchCaptions];
            var matches = new ItmOutcome?[BatchCaptions];
            var toMatch = new List<(int Index, string ImagePath, string Text)>();
            var options = new ParallelOptions { MaxDegreeOfParallelism = request.Parallelism, CancellationToken = ct };
            long chars = 0;

            void Flush()
            {
                Parallel.For(0, batch.Count, options, i =>
                {
                    results[i] = batch[i] is PoolCaption c
                        ? Evaluate(curator, c.Caption)
                        : null;
                });
                if (itm is not null)
                {
                    // After the rule filters (a caption they drop is never scored), before the duplicate
                    // checks, so a duplicate of a caption whose image did not match can still be kept.
                    toMatch.Clear();
                    for (var i = 0; i < batch.Count; i++)
                    {
                        if (batch[i] is PoolCaption { ImagePath: { Length: > 0 } image } c && results[i]!.Result.Kept)
                        {
                            toMatch.Add((i, image, results[i]!.Text(c)));
                        }
                    }
                    itm.Score(toMatch, matches, ct);
                }
                for (var i = 0; i < batch.Count; i++)
                {
                    Decide(batch[i], results[i], matches[i]);
                    results[i] = null;
                    matches[i] = null;
                }
                batch.Clear();
                chars = 0;
            }

            void Decide(PoolRecord record, Evaluated? evaluated, ItmOutcome? matched)
            {
                summary.Records++;
                if (record is PoolReject reject)
                {
                    summary.Malformed++;
                    summary.CountInputReason(reject.Reason, MaxDistinctInputReasons);
                    rejected.Write(w =>
                    {
                        if (reject.Id is { } id)
                        {
                            w.WriteString("id", Scrub(id));
                        }
                        else
                        {
                            w.WriteNull("id");
                        }
                        w.WriteNumber("line", reject.Line);
                        w.WriteString("reason", Scrub(reject.Reason));
                        w.WriteString("filter", InputFilter);
                        if (reject.Excerpt is { } excerpt)
                        {
                            w.WriteString("excerpt", Scrub(excerpt));
                        }
                    });
                    return;
                }
                var caption = (PoolCaption)record;
                var result = evaluated!.Result;
                var text = evaluated.Text(caption);
                summary.Captions++;
                foreach (var change in result.Cleaning?.Changes ?? [])
                {
                    summary.CountCleaning(change.Mapper);
                }
                string? filter = null;
                string? reason = null;
                if (!result.Kept)
                {
                    var failed = result.Verdicts.First(v => v.Outcome == VerdictOutcome.Failed);
                    filter = failed.Filter;
                    reason = failed.Reason;
                }
                else if (matched is { Keep: false })
                {
                    filter = matched.Filter;
                    reason = matched.Reason;
                }
                else if (!seen.Add(evaluated.Hash))
                {
                    filter = ExactDuplicateFilter;
                    reason = "exact duplicate of an earlier kept caption after normalisation";
                    summary.ExactDuplicates++;
                }
                else if (near is not null && !near.TryAdd(caption.Id, text, out var of))
                {
                    filter = NearDuplicateFilter;
                    reason = $"near-duplicate of '{of}' (MinHash LSH, Jaccard ≥ {near.Hasher.Settings.Threshold.ToString(CultureInfo.InvariantCulture)})";
                    summary.NearDuplicates++;
                }
                var isKept = filter is null;
                if (itm is not null)
                {
                    summary.CountMatching(caption, result.Kept, matched);
                    if (matched?.Score is { } score)
                    {
                        histograms.AddValue(ImageTextMatchingScore, score, isKept);
                    }
                }
                WriteStats(stats, caption, result, itm is not null, matched);
                histograms.Add(result.Statistics, isKept);
                if (isKept)
                {
                    summary.Kept++;
                    kept.Write(w =>
                    {
                        w.WriteString("id", Scrub(caption.Id));
                        w.WriteString("caption", Scrub(text));
                        if (result.Cleaning is { Changed: true })
                        {
                            w.WriteString("original_caption", Scrub(caption.Caption));
                        }
                        if (caption.ImagePath is { } image)
                        {
                            w.WriteString("image", Scrub(image));
                        }
                        if (caption.Url is { } url)
                        {
                            w.WriteString("url", Scrub(url));
                        }
                    });
                }
                else
                {
                    summary.CountFilter(filter!);
                    rejected.Write(w =>
                    {
                        w.WriteString("id", Scrub(caption.Id));
                        w.WriteNumber("line", caption.Line);
                        w.WriteString("reason", reason);
                        w.WriteString("filter", filter);
                    });
                }
            }

            foreach (var record in reader.Read(ct))
            {
                batch.Add(record);
                chars += record is PoolCaption c ? c.Caption.Length : 0;
                if (batch.Count == BatchCaptions || chars >= BatchChars)
                {
                    Flush();
                }
            }
            Flush();
            kept.Complete();
            rejected.Complete();
            stats.Complete();
            clock.Stop();
            summary.ElapsedSeconds = clock.Elapsed.TotalSeconds;
            summary.CaptionsPerSecond = summary.ElapsedSeconds > 0 ? summary.Captions / summary.ElapsedSeconds : 0;
            summary.DistinctKeys = seen.Count;
            histograms.WriteSvgs(Path.Combine(dir, "histograms"));
            WriteSummary(Path.Combine(dir, "summary.json"), summary, curator, near, itm, request, reader.Format, histograms);
            return summary;
        }

        private static void WriteStats(JsonlFile stats, PoolCaption caption, CurationResult result, bool matching, ItmOutcome? matched) => stats.Write(w =>
        {
            var s = result.Statistics;
            w.WriteString("id", Scrub(caption.Id));
            foreach (var (name, value) in s.NamedValues())
            {
                if (value is { } v)
                {
                    w.WriteNumber(name, v);
                }
                else
                {
                    w.WriteNull(name);
                }
            }
            if (matching)
            {
                // Null when the caption was not scored: no image, dropped by a rule filter, or an unreadable image.
                if (matched?.Score is { } score)
                {
                    w.WriteNumber(ImageTextMatchingScore, score);
                }
                else
                {
                    w.WriteNull(ImageTextMatchingScore);
                }
            }
            w.WriteNumber("code_points", s.CodePoints);
            w.WriteNumber("words", s.Words);
            if (caption.HadInvalidUtf8)
            {
                w.WriteBoolean("replaced_invalid_utf8", true);
            }
            if (s.ReplacedCharacters > 0)
            {
                w.WriteNumber("replaced_lone_surrogates", s.ReplacedCharacters);
            }
            if (result.Cleaning is { Changed: true } cleaning)
            {
                // Each mapper that changed the caption, with the text before and after it.
                w.WriteStartArray("cleaning");
                foreach (var change in cleaning.Changes)
                {
                    w.WriteStartObject();
                    w.WriteString("mapper", change.Mapper);
                    w.WriteString("before", Scrub(change.Before));
                    w.WriteString("after", Scrub(change.After));
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
        });

        private static void WriteSummary(string path, CurateSummary summary, CaptionCurator curator, NearDuplicateIndex? near, CurateImageMatching? itm, CurateRequest request, CaptionPoolFormat format, StatHistogram.Set histograms)
        {
            using var stream = File.Create(path);
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = true }))
            {
                w.WriteStartObject();
                w.WriteString("input", Path.GetFullPath(request.Input));
                w.WriteString("format", format.ToString());
                w.WriteStartObject("totals");
                w.WriteNumber("records", summary.Records);
                w.WriteNumber("captions", summary.Captions);
                w.WriteNumber("malformed", summary.Malformed);
                w.WriteNumber("kept", summary.Kept);
                w.WriteNumber("dropped", summary.Captions - summary.Kept);
                w.WriteNumber("rejected", summary.Records - summary.Kept);
                w.WriteEndObject();
                w.WriteStartObject("dropped_by_filter");
                foreach (var (filter, count) in summary.ByFilter.OrderBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WriteNumber(filter, count);
                }
                w.WriteEndObject();
                w.WriteStartObject("malformed_by_reason");
                foreach (var (reason, count) in summary.ByInputReason.OrderByDescending(p => p.Value).ThenBy(p => p.Key, StringComparer.Ordinal))
                {
                    w.WriteNumber(Scrub(reason), count);
                }
                w.WriteEndObject();
                // Which filters could not run and why: a skipped filter passes every caption, and the
                // summary must say so rather than look like a filter that found nothing.
                // Captions each cleaning mapper changed (every mapper that is on is listed, 0 included).
                w.WriteStartObject("cleaned_by_mapper");
                foreach (var mapper in new CaptionCleaner(curator.Settings.Cleaning).Mappers)
                {
                    w.WriteNumber(mapper.Name, summary.ByMapper.GetValueOrDefault(mapper.Name));
                }
                w.WriteEndObject();
                w.WriteStartObject("skipped_filters");
                foreach (var verdict in curator.Evaluate("a").Verdicts.Where(v => v.Outcome == VerdictOutcome.Skipped))
                {
                    w.WriteString(verdict.Filter, verdict.Reason);
                }
                w.WriteEndObject();
                w.WriteStartObject("settings");
                foreach (var property in SettingProperties)
                {
                    var value = property.GetValue(curator.Settings);
                    switch (value)
                    {
                        case double d when double.IsPositiveInfinity(d):
                            w.WriteString(property.Name, "inf");
                            break;
                        case double d:
                            w.WriteNumber(property.Name, d);
                            break;
                        case int i:
                            w.WriteNumber(property.Name, i);
                            break;
                        case string s:
                            w.WriteString(property.Name, s);
                            break;
                        case CaptionCleaningSettings c:
                            w.WriteStartObject(property.Name);
                            w.WriteBoolean(nameof(c.CleanHtml), c.CleanHtml);
                            w.WriteBoolean(nameof(c.CleanEmail), c.CleanEmail);
                            w.WriteBoolean(nameof(c.CleanLinks), c.CleanLinks);
                            w.WriteBoolean(nameof(c.FixUnicode), c.FixUnicode);
                            w.WriteBoolean(nameof(c.NormalizePunctuation), c.NormalizePunctuation);
                            w.WriteBoolean(nameof(c.NormalizeWhitespace), c.NormalizeWhitespace);
                            w.WriteEndObject();
                            break;
                        default:
                            w.WriteNull(property.Name);
                            break;
                    }
                }
                w.WriteEndObject();
                w.WriteStartObject("exact_duplicates");
                w.WriteNumber("dropped", summary.ExactDuplicates);
                w.WriteNumber("distinct_keys", summary.DistinctKeys);
                w.WriteString("memory", "one 128-bit key (16 bytes) per distinct kept caption, about 28 bytes with the hash set's entry overhead");
                w.WriteEndObject();
                if (near is not null)
                {
                    w.WriteStartObject("near_duplicates");
                    w.WriteNumber("dropped", summary.NearDuplicates);
                    w.WriteNumber("threshold", near.Hasher.Settings.Threshold);
                    w.WriteNumber("window_size", near.Hasher.Settings.WindowSize);
                    w.WriteNumber("permutations", near.Hasher.Permutations);
                    w.WriteNumber("bands", near.Hasher.Bands);
                    w.WriteNumber("rows", near.Hasher.Rows);
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("near_duplicates");
                }
                if (itm is not null)
                {
                    // Passed and rejected count captions the filter scored; not_scored says why the others were not.
                    var m = summary.Matching;
                    w.WriteStartObject("image_text_matching");
                    w.WriteString("filter", Blip.ImageTextMatchingFilter.FilterName);
                    w.WriteString("model", itm.ModelFolder);
                    w.WriteNumber("min_score", itm.Settings.MinScore);
                    w.WriteNumber("max_score", itm.Settings.MaxScore);
                    w.WriteString("flip", itm.FlipName);
                    w.WriteNumber("batch", itm.BatchSize);
                    w.WriteNumber("scored", m.Passed + m.Rejected);
                    w.WriteNumber("passed", m.Passed);
                    w.WriteNumber("rejected", m.Rejected);
                    w.WriteNumber(CurateImageMatching.UnreadableFilter, m.Unreadable);
                    w.WriteStartObject("not_scored");
                    w.WriteNumber("no_image", m.NoImage);
                    w.WriteNumber("dropped_by_rule_filters", m.DroppedEarlier);
                    w.WriteNumber(CurateImageMatching.UnreadableFilter, m.Unreadable);
                    w.WriteEndObject();
                    w.WriteEndObject();
                }
                else
                {
                    w.WriteNull("image_text_matching");
                }
                w.WriteStartArray("histograms");
                foreach (var name in histograms.Names)
                {
                    w.WriteStringValue($"histograms/{name}.svg");
                }
                w.WriteEndArray();
                w.WriteNumber("elapsed_s", Math.Round(summary.ElapsedSeconds, 3));
                w.WriteNumber("captions_per_s", Math.Round(summary.CaptionsPerSecond, 1));
                w.WriteNumber("parallelism", request.Parallelism);
                w.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
        }

        /// <summary>
        /// Lone UTF-16 surrogates (a JSON "\ud800" escape in the pool) cannot be written as UTF-8;
        /// they become U+FFFD, as the statistics already count them.
        /// </summary>
        private static string Scrub(string text)
        {
            var i = 0;
            for (; i < text.Length; i++)
            {
                if (char.IsSurrogate(text[i]) && !(char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])))
                {
                    break;
                }
                if (char.IsHighSurrogate(text[i]))
                {
                    i++;
                }
            }
            if (i >= text.Length)
            {
                return text;
            }
            var sb = new StringBuilder(text.Length);
            for (var k = 0; k < text.Length; k++)
            {
                if (char.IsHighSurrogate(text[k]) && k + 1 < text.Length && char.IsLowSurrogate(text[k + 1]))
                {
                    sb.Append(text[k]).Append(text[++k]);
                }
                else
                {
                    sb.Append(char.IsSurrogate(text[k]) ? '\uFFFD' : text[k]);
                }
            }
            return sb.ToString();
        }

        /// <summary>A JSON Lines file written through one reusable writer.</summary>
        private sealed class JsonlFile : IDisposable
        {
            private readonly FileStream _stream;
            private readonly Utf8JsonWriter _writer;

            public JsonlFile(string path)
            {
                _stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16);
                _writer = new Utf8JsonWriter(_stream, WriterOptions);
            }

            public void Write(Action<Utf8JsonWriter> body)
            {
                _writer.WriteStartObject();
                body(_writer);
                _writer.WriteEndObject();
                _writer.Flush();
                _stream.WriteByte((byte)'\n');
                _writer.Reset();
            }

            /// <summary>Flushes to the disk before the folder is renamed into place.</summary>
            public void Complete()
            {
                _writer.Flush();
                _stream.Flush(flushToDisk: true);
            }

            public void Dispose()
            {
                _writer.Dispose();
                _stream.Dispose();
            }
        }
    }

    private sealed class CurateSummary
    {
        public long Records { get; set; }

        public long Captions { get; set; }

        public long Malformed { get; set; }

        public long Kept { get; set; }

        public long ExactDuplicates { get; set; }

        public long NearDuplicates { get; set; }

        public long DistinctKeys { get; set; }

        public double ElapsedSeconds { get; set; }

        public double CaptionsPerSecond { get; set; }

        public Dictionary<string, long> ByFilter { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> ByInputReason { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, long> ByMapper { get; } = new(StringComparer.Ordinal);

        public void CountCleaning(string mapper) => ByMapper[mapper] = ByMapper.GetValueOrDefault(mapper) + 1;

        public void CountFilter(string filter) => ByFilter[filter] = ByFilter.GetValueOrDefault(filter) + 1;

        public MatchingCounts Matching { get; } = new();

        /// <summary>Counts one caption's image–text matching outcome (only when --itm-model is given).</summary>
        public void CountMatching(PoolCaption caption, bool passedRules, ItmOutcome? matched)
        {
            if (string.IsNullOrEmpty(caption.ImagePath))
            {
                Matching.NoImage++;
            }
            else if (!passedRules)
            {
                Matching.DroppedEarlier++;
            }
            else if (matched is null || matched.Filter == CurateImageMatching.UnreadableFilter)
            {
                Matching.Unreadable++;
            }
            else if (matched.Keep)
            {
                Matching.Passed++;
            }
            else
            {
                Matching.Rejected++;
            }
        }

        // Reasons can carry details, so their number is capped to keep memory bounded on a pool of junk.
        public void CountInputReason(string reason, int cap)
        {
            CountFilter("input");
            var key = ByInputReason.ContainsKey(reason) || ByInputReason.Count < cap ? reason : "(other reasons)";
            ByInputReason[key] = ByInputReason.GetValueOrDefault(key) + 1;
        }
    }

    /// <summary>Captions by what the image–text matching filter did with them.</summary>
    private sealed class MatchingCounts
    {
        public long Passed { get; set; }

        public long Rejected { get; set; }

        public long Unreadable { get; set; }

        public long NoImage { get; set; }

        public long DroppedEarlier { get; set; }
    }

    /// <summary>Fixed-bin histograms of one statistic, kept and dropped captions apart: O(bins) memory for any pool.</summary>
    private sealed class StatHistogram(string name, string axis, double upper, int bins, Func<RuleStatistics, double?> select)
    {
        private readonly long[] _kept = new long[bins];
        private readonly long[] _dropped = new long[bins];

        public string Name { get; } = name;

        public long Count { get; private set; }

        public void Add(RuleStatistics stats, bool kept)
        {
            if (select(stats) is { } value)
            {
                AddValue(value, kept);
            }
        }

        /// <summary>Adds a value that is not one of the rule statistics (NaN is ignored).</summary>
        public void AddValue(double value, bool kept)
        {
            if (double.IsNaN(value))
            {
                return;
            }
            var bin = (int)Math.Clamp(Math.Floor(value / upper * bins), 0, bins - 1);
            (kept ? _kept : _dropped)[bin]++;
            Count++;
        }

        public static Set CreateSet(bool imageTextMatching) => new(
        [
            .. imageTextMatching
                ? new[] { new StatHistogram(Blip.ImageTextMatchingFilter.StatisticName, "BLIP ITM match probability", 1, 50, _ => null) }
                : [],
            new(DataJuicerStatNames.AlnumRatio, "alphanumeric code points / code points", 1, 50, s => s.AlnumRatio),
            new(DataJuicerStatNames.CharRepRatio, "char 10-gram repetition ratio", 1, 50, s => s.CharRepRatio),
            new(DataJuicerStatNames.FlaggedWordsRatio, "flagged words / words", 1, 50, s => s.FlaggedWordsRatio),
            new(DataJuicerStatNames.Perplexity, "perplexity", 10_000, 50, s => s.Perplexity),
            new(DataJuicerStatNames.SpecialCharRatio, "special characters / code points", 1, 50, s => s.SpecialCharRatio),
            new(DataJuicerStatNames.WordRepRatio, "word 10-gram repetition ratio", 1, 50, s => s.WordRepRatio),
            new("words", "words (last bin: 100 or more)", 100, 50, s => s.Words),
        ]);

        public XDocument ToSvg()
        {
            const double Width = 640, Height = 360, Left = 56, Right = 16, Top = 36, Bottom = 48;
            XNamespace svg = "http://www.w3.org/2000/svg";
            var plotW = Width - Left - Right;
            var plotH = Height - Top - Bottom;
            var max = Math.Max(1, Enumerable.Range(0, bins).Max(i => Math.Max(_kept[i], _dropped[i])));
            var barW = plotW / bins;
            var root = new XElement(svg + "svg",
                new XAttribute("width", F(Width)), new XAttribute("height", F(Height)), new XAttribute("viewBox", $"0 0 {F(Width)} {F(Height)}"),
                new XElement(svg + "rect", new XAttribute("width", "100%"), new XAttribute("height", "100%"), new XAttribute("fill", "white")),
                new XElement(svg + "text", new XAttribute("x", F(Left)), new XAttribute("y", "22"), new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "14"),
                    $"{Name}: kept {_kept.Sum()} (blue), dropped {_dropped.Sum()} (orange)"),
                new XElement(svg + "line", new XAttribute("x1", F(Left)), new XAttribute("y1", F(Top + plotH)), new XAttribute("x2", F(Left + plotW)), new XAttribute("y2", F(Top + plotH)), new XAttribute("stroke", "black")),
                new XElement(svg + "line", new XAttribute("x1", F(Left)), new XAttribute("y1", F(Top)), new XAttribute("x2", F(Left)), new XAttribute("y2", F(Top + plotH)), new XAttribute("stroke", "black")),
                new XElement(svg + "text", new XAttribute("x", F(Left)), new XAttribute("y", F(Height - 26)), new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "11"), "0"),
                new XElement(svg + "text", new XAttribute("x", F(Left + plotW)), new XAttribute("y", F(Height - 26)), new XAttribute("text-anchor", "end"), new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "11"), F(upper)),
                new XElement(svg + "text", new XAttribute("x", F(Left + plotW / 2)), new XAttribute("y", F(Height - 8)), new XAttribute("text-anchor", "middle"), new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "12"), axis),
                new XElement(svg + "text", new XAttribute("x", F(Left - 6)), new XAttribute("y", F(Top + 10)), new XAttribute("text-anchor", "end"), new XAttribute("font-family", "sans-serif"), new XAttribute("font-size", "11"), max.ToString(CultureInfo.InvariantCulture)));
            for (var i = 0; i < bins; i++)
            {
                AddBar(_kept[i], i, 0, "#1f77b4");
                AddBar(_dropped[i], i, barW / 2, "#ff7f0e");
            }
            return new XDocument(root);

            void AddBar(long count, int i, double offset, string color)
            {
                if (count == 0)
                {
                    return;
                }
                var h = plotH * count / max;
                root.Add(new XElement(svg + "rect",
                    new XAttribute("x", F(Left + i * barW + offset)), new XAttribute("y", F(Top + plotH - h)),
                    new XAttribute("width", F(barW / 2)), new XAttribute("height", F(h)), new XAttribute("fill", color),
                    new XElement(svg + "title", $"[{F(upper * i / bins)}, {F(upper * (i + 1) / bins)}): {count}")));
            }
        }

        private static string F(double v) => Math.Round(v, 3).ToString(CultureInfo.InvariantCulture);

        public sealed class Set(StatHistogram[] histograms)
        {
            /// <summary>The statistics that had at least one value (a skipped filter's has none and gets no picture).</summary>
            public IEnumerable<string> Names => histograms.Where(h => h.Count > 0).Select(h => h.Name);

            public void Add(RuleStatistics stats, bool kept)
            {
                foreach (var h in histograms)
                {
                    h.Add(stats, kept);
                }
            }

            /// <summary>Adds a value to the histogram named <paramref name="name"/>.</summary>
            public void AddValue(string name, double value, bool kept) => histograms.First(h => h.Name == name).AddValue(value, kept);

            public void WriteSvgs(string dir)
            {
                Directory.CreateDirectory(dir);
                foreach (var h in histograms.Where(h => h.Count > 0))
                {
                    h.ToSvg().Save(Path.Combine(dir, h.Name + ".svg"));
                }
            }
        }
    }
}
