using System.Runtime.CompilerServices;
using System.Text.Json;

namespace SynthVlm.Hallucination.Chair;

/// <summary>A caption to score: the COCO image it describes and its text.</summary>
/// <param name="ImageId">The COCO image id.</param>
/// <param name="Caption">The caption.</param>
public sealed record ChairCaption(long ImageId, string Caption);

/// <summary>An entry of the captions file that was not scored, and why.</summary>
/// <param name="Where">"line N" (JSONL, or where a JSON array stopped parsing) or "element N" (JSON array).</param>
/// <param name="Problem">What was expected and what was found.</param>
public sealed record ChairInputIssue(string Where, string Problem);

/// <summary>
/// Streams captions from a JSON array <c>[{"image_id", "caption"}, ...]</c> or JSONL (one such
/// object per line), one at a time. An entry that is not an object with an integer
/// <c>image_id</c> and a string <c>caption</c> is reported and skipped; the rest are read. A JSON
/// array that stops parsing is reported at the line where it broke; the captions before it stay
/// read.
/// </summary>
public static class ChairCaptionReader
{
    /// <summary>The captions of <paramref name="path"/>; problems go to <paramref name="onIssue"/>.</summary>
    public static async IAsyncEnumerable<ChairCaption> ReadAsync(string path, Action<ChairInputIssue> onIssue, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(onIssue);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        if (await StartsWithArrayAsync(stream, cancellationToken).ConfigureAwait(false))
        {
            await foreach (var caption in ReadArrayAsync(stream, onIssue, cancellationToken).ConfigureAwait(false))
            {
                yield return caption;
            }
            yield break;
        }
        using var reader = new StreamReader(stream);
        var lineNumber = 0;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            ChairCaption? caption = null;
            try
            {
                using var document = JsonDocument.Parse(line);
                caption = Parse(document.RootElement, out var problem);
                if (caption is null)
                {
                    onIssue(new ChairInputIssue($"line {lineNumber}", problem!));
                }
            }
            catch (JsonException e)
            {
                onIssue(new ChairInputIssue($"line {lineNumber}", $"expected a JSON object, found invalid JSON ({e.Message})"));
            }
            if (caption is not null)
            {
                yield return caption;
            }
        }
    }

    private static async Task<bool> StartsWithArrayAsync(FileStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[4096];
        while (true)
        {
            var n = await stream.ReadAsync(buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                stream.Position = 0;
                return false;
            }
            for (var i = 0; i < n; i++)
            {
                var b = buffer[i];
                if (b is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n' or 0xEF or 0xBB or 0xBF)
                {
                    continue;
                }
                stream.Position = 0;
                return b == (byte)'[';
            }
        }
    }

    private static async IAsyncEnumerable<ChairCaption> ReadArrayAsync(Stream stream, Action<ChairInputIssue> onIssue, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var elements = JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream, cancellationToken: cancellationToken);
        await using var e = elements.GetAsyncEnumerator(cancellationToken);
        var index = 0;
        while (true)
        {
            bool more;
            try
            {
                more = await e.MoveNextAsync().ConfigureAwait(false);
            }
            catch (JsonException ex)
            {
                onIssue(new ChairInputIssue($"line {(ex.LineNumber ?? 0) + 1}", $"the JSON array is not valid JSON from here on ({ex.Message}); the captions after this point were not read"));
                yield break;
            }
            if (!more)
            {
                yield break;
            }
            index++;
            var caption = Parse(e.Current, out var problem);
            if (caption is null)
            {
                onIssue(new ChairInputIssue($"element {index}", problem!));
                continue;
            }
            yield return caption;
        }
    }

    private static ChairCaption? Parse(JsonElement element, out string? problem)
    {
        problem = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            problem = $"expected an object {{\"image_id\", \"caption\"}}, found {element.ValueKind}";
            return null;
        }
        if (!element.TryGetProperty("image_id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt64(out var imageId))
        {
            problem = id.ValueKind == JsonValueKind.Undefined
                ? "expected an integer image_id (a COCO image id), found none"
                : $"expected an integer image_id (a COCO image id), found {id.GetRawText()}";
            return null;
        }
        if (!element.TryGetProperty("caption", out var text) || text.ValueKind != JsonValueKind.String)
        {
            problem = text.ValueKind == JsonValueKind.Undefined
                ? $"image {imageId}: expected a string caption, found none"
                : $"image {imageId}: expected a string caption, found {text.ValueKind}";
            return null;
        }
        return new ChairCaption(imageId, text.GetString()!);
    }
}
