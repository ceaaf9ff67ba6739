using System.Runtime.CompilerServices;
using System.Text.Json;

namespace SynthVlm.Hallucination.Chair;

/// <summary>A caption to score: the COCO image it describes and its text.</summary>
/// <param name="ImageId">The COCO image id.</param>
/// <param name="Caption">The caption.</param>
public sealed record ChairCaption(long ImageId, string Caption);

/// <summary>A caption to judge: its image's id as written (number or string), its text, and the image file if the entry names one.</summary>
/// <param name="ImageId">The image id as the file writes it.</param>
/// <param name="Caption">The caption.</param>
/// <param name="Image">The entry's <c>image</c> field (a path), or null.</param>
public sealed record JudgeCaption(string ImageId, string Caption, string? Image);

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
    public static IAsyncEnumerable<ChairCaption> ReadAsync(string path, Action<ChairInputIssue> onIssue, CancellationToken cancellationToken = default) =>
        ReadAsync<ChairCaption>(path, Parse, onIssue, cancellationToken);

    /// <summary>
    /// The captions of <paramref name="path"/> for judging: <c>image_id</c> a number or a string, and the image file
    /// from an optional <c>image</c> field (a path); problems go to <paramref name="onIssue"/>.
    /// </summary>
    public static IAsyncEnumerable<JudgeCaption> ReadForJudgeAsync(string path, Action<ChairInputIssue> onIssue, CancellationToken cancellationToken = default) =>
        ReadAsync<JudgeCaption>(path, ParseForJudge, onIssue, cancellationToken);

    private delegate T? EntryParser<T>(JsonElement element, out string? problem)
        where T : class;

    private static async IAsyncEnumerable<T> ReadAsync<T>(string path, EntryParser<T> parse, Action<ChairInputIssue> onIssue, [EnumeratorCancellation] CancellationToken cancellationToken = default)
        where T : class
    {
        ArgumentNullException.ThrowIfNull(onIssue);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
        if (await StartsWithArrayAsync(stream, cancellationToken).ConfigureAwait(false))
        {
            await foreach (var caption in ReadArrayAsync(stream, parse, onIssue, cancellationToken).ConfigureAwait(false))
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
            T? caption = null;
            try
            {
                using var document = JsonDocument.Parse(line);
                caption = parse(document.RootElement, out var problem);
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

    private const int ArrayBufferSize = 1 << 16;

    /// <summary>
    /// The elements of a JSON array, one at a time, over a bounded refilled buffer (grown only for
    /// one element larger than it): elements parsed before a syntax error are all handed out.
    /// </summary>
    private static async IAsyncEnumerable<T> ReadArrayAsync<T>(Stream stream, EntryParser<T> parse, Action<ChairInputIssue> onIssue, [EnumeratorCancellation] CancellationToken cancellationToken)
        where T : class
    {
        var buffer = new byte[ArrayBufferSize];
        var length = await FillAsync(stream, buffer, 0, cancellationToken).ConfigureAwait(false);
        var final = length < buffer.Length;
        var start = length >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF ? 3 : 0;
        var state = new JsonReaderState();
        var progress = new ArrayProgress();
        var ready = new List<T>();
        while (true)
        {
            var consumed = ReadElements(buffer.AsSpan(start, length - start), final, ref state, progress, parse, ready, onIssue);
            foreach (var caption in ready)
            {
                yield return caption;
            }
            ready.Clear();
            if (progress.Fatal is { } fatal)
            {
                onIssue(fatal);
                yield break;
            }
            if (final)
            {
                yield break;
            }
            var remaining = length - start - consumed;
            if (remaining == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
            }
            else
            {
                buffer.AsSpan(start + consumed, remaining).CopyTo(buffer);
            }
            start = 0;
            length = remaining + await FillAsync(stream, buffer, remaining, cancellationToken).ConfigureAwait(false);
            final = length < buffer.Length;
        }
    }

    private sealed class ArrayProgress
    {
        public bool InArray;
        public int Index;
        public ChairInputIssue? Fatal;
    }

    private static int ReadElements<T>(ReadOnlySpan<byte> data, bool final, ref JsonReaderState state, ArrayProgress progress, EntryParser<T> parse, List<T> ready, Action<ChairInputIssue> onIssue)
        where T : class
    {
        var reader = new Utf8JsonReader(data, final, state);
        try
        {
            while (true)
            {
                var before = reader;
                if (!reader.Read())
                {
                    break;
                }
                if (!progress.InArray)
                {
                    progress.InArray = reader.TokenType == JsonTokenType.StartArray;
                    continue;
                }
                if (reader.CurrentDepth == 0)
                {
                    continue; // the closing bracket
                }
                if (!JsonDocument.TryParseValue(ref reader, out var document))
                {
                    reader = before; // the element is completed by the next block
                    break;
                }
                using (document)
                {
                    progress.Index++;
                    var caption = parse(document.RootElement, out var problem);
                    if (caption is null)
                    {
                        onIssue(new ChairInputIssue($"element {progress.Index}", problem!));
                    }
                    else
                    {
                        ready.Add(caption);
                    }
                }
            }
        }
        catch (JsonException e)
        {
            progress.Fatal = new ChairInputIssue(
                $"line {(e.LineNumber ?? 0) + 1}",
                $"the JSON array is not valid JSON from here on ({e.Message}); the captions after this point were not read");
        }
        state = reader.CurrentState;
        return (int)reader.BytesConsumed;
    }

    private static async Task<int> FillAsync(Stream stream, byte[] buffer, int offset, CancellationToken cancellationToken)
    {
        var total = offset;
        while (total < buffer.Length)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total - offset;
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

    private static JudgeCaption? ParseForJudge(JsonElement element, out string? problem)
    {
        problem = null;
        if (element.ValueKind != JsonValueKind.Object)
        {
            problem = $"expected an object {{\"image_id\", \"caption\"}}, found {element.ValueKind}";
            return null;
        }
        if (!element.TryGetProperty("image_id", out var id) || id.ValueKind is not (JsonValueKind.Number or JsonValueKind.String) || (id.ValueKind == JsonValueKind.String && string.IsNullOrWhiteSpace(id.GetString())))
        {
            problem = id.ValueKind == JsonValueKind.Undefined
                ? "expected an image_id (a number or a string), found none"
                : $"expected an image_id (a number or a non-empty string), found {id.GetRawText()}";
            return null;
        }
        var imageId = id.ValueKind == JsonValueKind.String ? id.GetString()! : id.GetRawText();
        if (!element.TryGetProperty("caption", out var text) || text.ValueKind != JsonValueKind.String)
        {
            problem = text.ValueKind == JsonValueKind.Undefined
                ? $"image {imageId}: expected a string caption, found none"
                : $"image {imageId}: expected a string caption, found {text.ValueKind}";
            return null;
        }
        string? image = null;
        if (element.TryGetProperty("image", out var path))
        {
            if (path.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(path.GetString()))
            {
                problem = $"image {imageId}: expected \"image\" to be a file path, found {path.GetRawText()}";
                return null;
            }
            image = path.GetString();
        }
        return new JudgeCaption(imageId, text.GetString()!, image);
    }
}
