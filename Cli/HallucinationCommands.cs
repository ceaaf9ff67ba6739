using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.Json;
using SynthVlm.Evaluation;
using SynthVlm.Hallucination.Chair;
using SynthVlm.Hallucination.Claims;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm hallucination`: how much captions hallucinate. With `--annotations DIR`, CHAIR_s and
/// CHAIR_i against COCO annotations as the official CHAIR code computes them; with `--judge URL`, the
/// judge-based non-hallucination rate (claims extracted by an LLM, each checked against the image by a
/// VLM; a caption is hallucination-free when no claim is rejected) with its Wilson 95 % interval.
/// </summary>
internal static class HallucinationCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>The command.</summary>
    public static Command Hallucination()
    {
        var captions = new Option<string>("--captions") { Description = "Captions to measure: a JSON array [{\"image_id\", \"caption\"}, ...] or JSONL with one such object per line.", Required = true };
        var annotations = new Option<string?>("--annotations") { Description = "COCO annotation folder with instances_{val,train}2014.json and captions_{val,train}2014.json: CHAIR as the official code computes it." };
        var judge = new Option<string?>("--judge") { Description = "An OpenAI-compatible endpoint (base URL): the judge-based non-hallucination rate instead of CHAIR. Splits captions into claims (and checks them, unless --verifier is given)." };
        var judgeModel = new Option<string?>("--judge-model") { Description = "The judge's model (required with --judge)." };
        var verifier = new Option<string?>("--verifier") { Description = "The VLM endpoint that checks each claim against the image (default: --judge)." };
        var verifierModel = new Option<string?>("--verifier-model") { Description = "The verifier's model (default: --judge-model)." };
        var images = new Option<string?>("--images") { Description = "With --judge: the folder of the images; an entry's image is its \"image\" field (relative paths under this folder) or the file named by its image_id (e.g. 42.jpg or COCO_val2014_000000000042.jpg)." };
        var records = new Option<string?>("--records") { Description = "With --judge: also write every caption's judgement (claims, verdicts, raw answers) here as JSONL." };
        var inFlight = new Option<int>("--concurrency") { Description = "With --judge: captions judged at once (8).", DefaultValueFactory = _ => 8 };
        var unsureRejects = new Option<bool>("--unsure-rejects") { Description = "With --judge: a claim the verifier is unsure of counts as rejected." };
        var command = new Command("hallucination", "Measure hallucination in captions: CHAIR_s, CHAIR_i with --annotations, or the judged non-hallucination rate with --judge; prints one JSON object.")
        {
            captions, annotations, judge, judgeModel, verifier, verifierModel, images, records, inFlight, unsureRejects,
            HallucinationReportCommand.Report(),
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var captionsPath = parse.GetRequiredValue(captions);
            var judgeUrl = parse.GetValue(judge);
            if ((parse.GetValue(annotations) is null) == (judgeUrl is null))
            {
                Console.Error.WriteLine("hallucination: give --annotations DIR (COCO 2014 annotations: CHAIR) or --judge URL --judge-model M (judged claims), not both.");
                return UsageError;
            }
            if (!File.Exists(captionsPath))
            {
                Console.Error.WriteLine($"hallucination: --captions {captionsPath}: no such file.");
                return InputError;
            }
            if (judgeUrl is not null)
            {
                if (parse.GetValue(judgeModel) is not { } model || parse.GetValue(inFlight) < 1)
                {
                    Console.Error.WriteLine("hallucination: --judge needs --judge-model NAME, and --concurrency must be at least 1.");
                    return UsageError;
                }
                if (parse.GetValue(images) is { } folder && !Directory.Exists(folder))
                {
                    Console.Error.WriteLine($"hallucination: --images {folder}: no such folder.");
                    return InputError;
                }
                try
                {
                    var settings = new JudgeSettings(
                        EndpointUrl(judgeUrl, "--judge"), model,
                        EndpointUrl(parse.GetValue(verifier) ?? judgeUrl, "--verifier"), parse.GetValue(verifierModel) ?? model,
                        parse.GetValue(images), parse.GetValue(records), parse.GetValue(inFlight), parse.GetValue(unsureRejects));
                    return await JudgeAsync(captionsPath, settings, cancellationToken).ConfigureAwait(false);
                }
                catch (ArgumentException e)
                {
                    Console.Error.WriteLine($"hallucination: {e.Message}");
                    return UsageError;
                }
            }
            var annotationsFolder = parse.GetValue(annotations)!;
            if (!Directory.Exists(annotationsFolder))
            {
                Console.Error.WriteLine($"hallucination: --annotations {annotationsFolder}: no such folder.");
                return InputError;
            }
            return await ChairAsync(captionsPath, annotationsFolder, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// Streams the JSON object to stdout: the per-caption results as they are scored, then the
    /// metrics (so memory stays flat whatever the number of captions). Skipped entries go to stderr.
    /// </summary>
    private static async Task<int> ChairAsync(string captionsPath, string annotationsFolder, CancellationToken cancellationToken)
    {
        var skipped = 0;
        await using var stdout = Console.OpenStandardOutput();
        await using var writer = new Utf8JsonWriter(stdout, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        var started = false;
        ChairSummary summary;
        try
        {
            summary = await ChairEvaluator.ScoreFileAsync(captionsPath, annotationsFolder, async result =>
            {
                if (!started)
                {
                    writer.WriteStartObject();
                    writer.WriteString("metric", "chair");
                    writer.WriteStartArray("captions");
                    started = true;
                }
                writer.WriteStartObject();
                writer.WriteNumber("image_id", result.ImageId);
                writer.WriteString("caption", result.Caption);
                WriteStrings(writer, "mentioned_objects", result.MentionedObjects);
                WriteStrings(writer, "hallucinated_objects", result.HallucinatedObjects);
                writer.WriteEndObject();
                if (writer.BytesPending > 1 << 16)
                {
                    await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                }
            }, issue =>
            {
                skipped++;
                Console.Error.WriteLine($"hallucination: {captionsPath}: {issue.Where}: {issue.Problem}; skipped.");
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is FileNotFoundException or InvalidDataException or IOException)
        {
            if (started)
            {
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                await stdout.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            }
            Console.Error.WriteLine($"hallucination: {e.Message}");
            return InputError;
        }
        if (!started)
        {
            writer.WriteStartObject();
            writer.WriteString("metric", "chair");
            writer.WriteStartArray("captions");
        }
        writer.WriteEndArray();
        WriteRatio(writer, "chair_s", summary.ChairS);
        WriteRatio(writer, "chair_i", summary.ChairI);
        writer.WriteNumber("captions_scored", summary.Captions);
        writer.WriteNumber("captions_hallucinating", summary.HallucinatedCaptions);
        writer.WriteNumber("object_mentions", summary.Mentions);
        writer.WriteNumber("hallucinated_mentions", summary.HallucinatedMentions);
        writer.WriteNumber("skipped", skipped);
        writer.WriteString("reference", "CHAIR as computed by github.com/LisaAnne/Hallucination utils/chair.py (nltk 3.2.5, pattern 3.6)");
        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await stdout.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        if (skipped > 0)
        {
            Console.Error.WriteLine($"hallucination: {skipped} entr{(skipped == 1 ? "y" : "ies")} of {captionsPath} skipped; {summary.Captions} caption(s) scored.");
        }
        return 0;
    }

    private sealed record JudgeSettings(Uri Judge, string JudgeModel, Uri Verifier, string VerifierModel, string? Images, string? Records, int Concurrency, bool UnsureRejects);

    /// <summary>
    /// The judged non-hallucination rate: streams one JSON object to stdout (each caption's verdict as it is judged,
    /// then the rate, its interval and the counts). The replies are cached next to the captions file
    /// ({captions}.judge-cache/), so a re-run asks nothing again. Entries without a usable image are skipped and
    /// named on stderr.
    /// </summary>
    private static async Task<int> JudgeAsync(string captionsPath, JudgeSettings settings, CancellationToken cancellationToken)
    {
        var cache = Path.GetFullPath(captionsPath) + ".judge-cache";
        using var extractorClient = EvaluationEndpoints.Open(settings.Judge, settings.JudgeModel, settings.Concurrency, cache);
        using var verifierClient = settings.Verifier == settings.Judge && settings.VerifierModel == settings.JudgeModel
            ? null
            : EvaluationEndpoints.Open(settings.Verifier, settings.VerifierModel, settings.Concurrency * 4, cache);
        var judge = new CaptionHallucinationJudge(
            extractorClient,
            (ChatEndpoints.IChatModel?)verifierClient ?? extractorClient,
            new ClaimJudgeOptions { MaxCaptionsInFlight = settings.Concurrency, UnsureCountsAsRejected = settings.UnsureRejects });
        var skipped = 0;
        void Skip(string where, string problem)
        {
            skipped++;
            Console.Error.WriteLine($"hallucination: {captionsPath}: {where}: {problem}; skipped.");
        }
        var resolver = new ImageResolver(Path.GetDirectoryName(Path.GetFullPath(captionsPath))!, settings.Images);
        await using var recordsFile = settings.Records is null ? null : new StreamWriter(settings.Records, append: false);
        await using var stdout = Console.OpenStandardOutput();
        await using var writer = new Utf8JsonWriter(stdout, new JsonWriterOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping });
        writer.WriteStartObject();
        writer.WriteString("metric", NonHallucinationRate.MetricName);
        writer.WriteStartArray("captions");
        var rate = new NonHallucinationRate();
        await foreach (var judgement in judge.JudgeManyAsync(ToJudge(captionsPath, resolver, Skip, cancellationToken), cancellationToken).ConfigureAwait(false))
        {
            rate.Add(judgement);
            writer.WriteStartObject();
            writer.WriteString("image_id", judgement.Id);
            writer.WriteString("status", CaptionJudgement.StatusName(judgement.Status));
            writer.WriteNumber("claims", judgement.Claims.Count);
            writer.WriteNumber("rejected_claims", judgement.RejectedCount);
            writer.WriteStartArray("rejected");
            foreach (var claim in judgement.Claims.Where(c => c.Verdict == ClaimVerdict.Rejected))
            {
                writer.WriteStringValue(claim.Claim);
            }
            writer.WriteEndArray();
            if (judgement.Reason is { } reason)
            {
                writer.WriteString("unjudged_reason", reason);
            }
            writer.WriteEndObject();
            if (recordsFile is not null)
            {
                await recordsFile.WriteLineAsync(judgement.ToJsonLine().AsMemory(), cancellationToken).ConfigureAwait(false);
            }
            if (writer.BytesPending > 1 << 16)
            {
                await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        writer.WriteEndArray();
        foreach (var (name, value) in rate.ToJson())
        {
            if (name is "metric" or "captions")
            {
                continue;
            }
            writer.WritePropertyName(name);
            if (value is null)
            {
                writer.WriteNullValue();
            }
            else
            {
                value.WriteTo(writer);
            }
        }
        writer.WriteNumber("captions_total", rate.Captions);
        writer.WriteNumber("skipped", skipped);
        writer.WriteEndObject();
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        await stdout.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine($"hallucination: {rate.Summary()}{(skipped > 0 ? $"; {skipped} entries skipped" : string.Empty)}.");
        return 0;
    }

    private static async IAsyncEnumerable<CaptionToJudge> ToJudge(string captionsPath, ImageResolver resolver, Action<string, string> skip, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var number = 0;
        await foreach (var entry in ChairCaptionReader.ReadForJudgeAsync(captionsPath, issue => skip(issue.Where, issue.Problem), cancellationToken).ConfigureAwait(false))
        {
            number++;
            if (resolver.Resolve(entry) is { } image)
            {
                yield return new CaptionToJudge(entry.ImageId, image, entry.Caption);
            }
            else
            {
                skip($"caption {number} (image {entry.ImageId})", entry.Image is null
                    ? "no \"image\" field and no file named by the image id" + (resolver.HasFolder ? " in --images" : " (give --images DIR)")
                    : $"image file {entry.Image} does not exist");
            }
        }
    }

    /// <summary>Finds an entry's image: its "image" path (relative to --images, else to the captions file), or a file named by its id in --images.</summary>
    private sealed class ImageResolver(string captionsFolder, string? imagesFolder)
    {
        private static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif"];
        private Dictionary<string, string>? _byStem;

        public bool HasFolder => imagesFolder is not null;

        public string? Resolve(JudgeCaption entry)
        {
            if (entry.Image is { } path)
            {
                var full = Path.IsPathRooted(path) ? path : Path.Combine(imagesFolder ?? captionsFolder, path);
                return File.Exists(full) ? full : null;
            }
            if (imagesFolder is null)
            {
                return null;
            }
            // One listing of the folder, then lookups: the stem itself, or COCO's zero-padded names.
            _byStem ??= Directory.EnumerateFiles(imagesFolder)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .GroupBy(f => Path.GetFileNameWithoutExtension(f), StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Order(StringComparer.Ordinal).First(), StringComparer.Ordinal);
            if (_byStem.TryGetValue(entry.ImageId, out var found))
            {
                return found;
            }
            if (long.TryParse(entry.ImageId, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number))
            {
                var padded = number.ToString("D12", System.Globalization.CultureInfo.InvariantCulture);
                foreach (var prefix in new[] { "COCO_val2014_", "COCO_train2014_", string.Empty })
                {
                    if (_byStem.TryGetValue(prefix + padded, out found))
                    {
                        return found;
                    }
                }
            }
            return null;
        }
    }

    private static Uri EndpointUrl(string text, string option) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"{option}: '{text}' is not an http(s) URL.");

    private static void WriteStrings(Utf8JsonWriter writer, string name, IReadOnlyList<string> values)
    {
        writer.WriteStartArray(name);
        foreach (var value in values)
        {
            writer.WriteStringValue(value);
        }
        writer.WriteEndArray();
    }

    /// <summary>A ratio, or null where it is undefined (no caption, no object mention).</summary>
    private static void WriteRatio(Utf8JsonWriter writer, string name, double? value)
    {
        if (value is { } v)
        {
            writer.WriteNumber(name, v);
        }
        else
        {
            writer.WriteNull(name);
        }
    }
}
