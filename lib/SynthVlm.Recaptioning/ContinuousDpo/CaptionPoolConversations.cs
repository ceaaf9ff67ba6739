using System.Text.Encodings.Web;
using System.Text.Json;
using SynthVlm.Captions;

namespace SynthVlm.Recaptioning.ContinuousDpo;

/// <summary>What <see cref="CaptionPoolConversations"/> converted and left out.</summary>
/// <param name="Written">Samples written.</param>
/// <param name="Skipped">Records left out, each "line N: reason" (the pool's rejects, records without an image file).</param>
/// <param name="SkippedCount">All records left out (<paramref name="Skipped"/> keeps the first 100).</param>
public sealed record PoolConversionSummary(int Written, IReadOnlyList<string> Skipped, int SkippedCount);

/// <summary>
/// A caption pool (JSONL/JSON/CSV/TSV with id, image, caption; what <c>synthvlm recaption</c> and curation write) as
/// LLaVA fine-tuning data for the knowledge-enriching SFT stage: one sample per caption, the human turn
/// <c>"&lt;image&gt;\n" + prompt</c> and the gpt turn the caption, the image as an absolute path (so the data file
/// needs no image folder). Streamed record by record into a LLaVA JSON array.
/// </summary>
public static class CaptionPoolConversations
{
    private const int KeptSkips = 100;

    /// <summary>Converts <paramref name="poolPath"/> into the LLaVA JSON file <paramref name="outputPath"/>.</summary>
    /// <exception cref="CaptionPoolFormatException">The pool cannot be opened or read.</exception>
    public static PoolConversionSummary Write(string poolPath, string prompt, string outputPath, CancellationToken cancellationToken = default) =>
        Write(poolPath, prompt, outputPath, imageRoot: null, cancellationToken);

    /// <summary>
    /// Converts <paramref name="poolPath"/> into the LLaVA JSON file <paramref name="outputPath"/>, relative image paths
    /// taken relative to <paramref name="imageRoot"/> (null: the pool file's folder).
    /// </summary>
    /// <exception cref="CaptionPoolFormatException">The pool cannot be opened or read.</exception>
    public static PoolConversionSummary Write(string poolPath, string prompt, string outputPath, string? imageRoot, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(poolPath);
        ArgumentException.ThrowIfNullOrWhiteSpace(prompt);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputPath);
        if (prompt.Contains("<image>", StringComparison.Ordinal))
        {
            throw new ArgumentException("The SFT prompt must not contain <image>; the image is put before it.", nameof(prompt));
        }
        var poolFolder = imageRoot is { Length: > 0 } root ? Path.GetFullPath(root) : Path.GetDirectoryName(Path.GetFullPath(poolPath))!;
        var skipped = new List<string>();
        var skippedCount = 0;
        var written = 0;
        void Skip(long line, string reason)
        {
            skippedCount++;
            if (skipped.Count < KeptSkips)
            {
                skipped.Add($"{poolPath} line {line}: {reason}");
            }
        }
        using var reader = CaptionPoolReader.Open(poolPath);
        using (var stream = File.Create(outputPath))
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, Indented = false }))
        {
            writer.WriteStartArray();
            foreach (var record in reader.Read(cancellationToken))
            {
                if (record is PoolReject reject)
                {
                    Skip(reject.Line, reject.Reason);
                    continue;
                }
                var caption = (PoolCaption)record;
                if (caption.ImagePath is null)
                {
                    Skip(caption.Line, $"caption {caption.Id} has no image path{(caption.Url is null ? string.Empty : " (only a URL)")}");
                    continue;
                }
                var image = Path.IsPathRooted(caption.ImagePath) ? caption.ImagePath : Path.Combine(poolFolder, caption.ImagePath);
                if (!File.Exists(image))
                {
                    Skip(caption.Line, $"caption {caption.Id}: image file {image} does not exist");
                    continue;
                }
                writer.WriteStartObject();
                writer.WriteString("id", caption.Id);
                writer.WriteString("image", Path.GetFullPath(image));
                writer.WriteStartArray("conversations");
                writer.WriteStartObject();
                writer.WriteString("from", "human");
                writer.WriteString("value", "<image>\n" + prompt);
                writer.WriteEndObject();
                writer.WriteStartObject();
                writer.WriteString("from", "gpt");
                writer.WriteString("value", caption.Caption.Trim());
                writer.WriteEndObject();
                writer.WriteEndArray();
                writer.WriteEndObject();
                written++;
                if (writer.BytesPending > 1 << 16)
                {
                    writer.Flush();
                }
            }
            writer.WriteEndArray();
        }
        return new PoolConversionSummary(written, skipped, skippedCount);
    }
}
