using System.CommandLine;
using System.Text.Json;
using SynthVlm.Hallucination.Chair;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm hallucination`: how much captions hallucinate. With `--annotations DIR`, CHAIR_s and
/// CHAIR_i against COCO annotations as the official CHAIR code computes them.
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
        // Seam for the judge-based non-hallucination rate (issue 18, 2b): a `--judge URL` option
        // joins here, and the action picks that mode when it is given instead of --annotations.
        var command = new Command("hallucination", "Measure object hallucination in captions (CHAIR_s, CHAIR_i with --annotations); prints one JSON object.")
        {
            captions, annotations,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var captionsPath = parse.GetRequiredValue(captions);
            if (parse.GetValue(annotations) is not { } annotationsFolder)
            {
                Console.Error.WriteLine("hallucination: give --annotations DIR (COCO 2014 annotations) to compute CHAIR.");
                return UsageError;
            }
            if (!File.Exists(captionsPath))
            {
                Console.Error.WriteLine($"hallucination: --captions {captionsPath}: no such file.");
                return InputError;
            }
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
