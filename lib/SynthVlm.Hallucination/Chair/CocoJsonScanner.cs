using System.Buffers;
using System.Text.Json;

namespace SynthVlm.Hallucination.Chair;

/// <summary>One object of a top-level array of a COCO annotation file, reduced to the scalar fields CHAIR reads.</summary>
internal readonly record struct CocoRecord(string Array, int Index, long? Id, long? ImageId, long? CategoryId, string? Name, string? Caption);

/// <summary>
/// Streams the objects of the top-level arrays of a COCO annotation file (instances_*.json,
/// captions_*.json) with a reader over a bounded, refilled buffer: memory is the buffer (grown
/// only for a single token larger than it), never the file, so instances_train2014.json (~450 MB)
/// is read in constant memory. Only scalar properties directly inside each object are kept.
/// </summary>
internal static class CocoJsonScanner
{
    private const int BufferSize = 1 << 16;

    /// <summary>Calls <paramref name="onRecord"/> for each object of the top-level arrays named in <paramref name="arrays"/>.</summary>
    public static void Scan(string path, IReadOnlySet<string> arrays, Action<CocoRecord> onRecord, CancellationToken cancellationToken)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        var buffer = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            var length = Fill(stream, buffer, 0);
            var final = length < buffer.Length;
            var start = 0;
            if (length >= 3 && buffer[0] == 0xEF && buffer[1] == 0xBB && buffer[2] == 0xBF)
            {
                start = 3;
            }
            var state = new JsonReaderState(new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
            var walk = new Walk(arrays);
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var consumed = Read(buffer.AsSpan(start, length - start), final, ref state, ref walk, onRecord, path);
                if (final)
                {
                    if (!walk.SawRoot)
                    {
                        throw new InvalidDataException($"{path}: expected a JSON object (a COCO annotation file), found an empty file.");
                    }
                    return;
                }
                var remaining = length - start - consumed;
                if (remaining == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, remaining).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
                else
                {
                    buffer.AsSpan(start + consumed, remaining).CopyTo(buffer);
                }
                start = 0;
                var read = Fill(stream, buffer, remaining);
                length = remaining + read;
                final = length < buffer.Length;
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON near line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}: {e.Message}", e);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int Fill(Stream stream, byte[] buffer, int offset)
    {
        var total = offset;
        while (total < buffer.Length)
        {
            var n = stream.Read(buffer, total, buffer.Length - total);
            if (n == 0)
            {
                break;
            }
            total += n;
        }
        return total - offset;
    }

    private struct Walk(IReadOnlySet<string> arrays)
    {
        public readonly IReadOnlySet<string> Arrays = arrays;
        public bool SawRoot;
        public string? TopProperty;
        public bool InWantedArray;
        public int Index;
        public string? Field;
        public long? Id;
        public long? ImageId;
        public long? CategoryId;
        public string? Name;
        public string? Caption;
    }

    private static int Read(ReadOnlySpan<byte> data, bool final, ref JsonReaderState state, ref Walk walk, Action<CocoRecord> onRecord, string path)
    {
        var reader = new Utf8JsonReader(data, final, state);
        while (reader.Read())
        {
            var depth = reader.CurrentDepth;
            switch (reader.TokenType)
            {
                case JsonTokenType.StartObject when depth == 0:
                    walk.SawRoot = true;
                    break;
                case JsonTokenType.StartArray when depth == 0:
                    throw new InvalidDataException($"{path}: expected a JSON object (a COCO annotation file), found an array.");
                case JsonTokenType.PropertyName when depth == 1:
                    walk.TopProperty = reader.GetString();
                    break;
                case JsonTokenType.StartArray when depth == 1:
                    walk.InWantedArray = walk.TopProperty is not null && walk.Arrays.Contains(walk.TopProperty);
                    walk.Index = 0;
                    break;
                case JsonTokenType.EndArray when depth == 1:
                    walk.InWantedArray = false;
                    break;
                case JsonTokenType.StartObject when depth == 2 && walk.InWantedArray:
                    walk.Id = walk.ImageId = walk.CategoryId = null;
                    walk.Name = walk.Caption = null;
                    walk.Field = null;
                    break;
                case JsonTokenType.EndObject when depth == 2 && walk.InWantedArray:
                    onRecord(new CocoRecord(walk.TopProperty!, walk.Index, walk.Id, walk.ImageId, walk.CategoryId, walk.Name, walk.Caption));
                    walk.Index++;
                    break;
                case JsonTokenType.PropertyName when depth == 3 && walk.InWantedArray:
                    walk.Field = reader.GetString();
                    break;
                case JsonTokenType.Number when depth == 3 && walk.InWantedArray:
                    var number = reader.TryGetInt64(out var n) ? n
                        : reader.TryGetDouble(out var d) && d == Math.Floor(d) && Math.Abs(d) < 9e15 ? (long)d : (long?)null;
                    switch (walk.Field)
                    {
                        case "id": walk.Id = number; break;
                        case "image_id": walk.ImageId = number; break;
                        case "category_id": walk.CategoryId = number; break;
                        default: break;
                    }
                    walk.Field = null;
                    break;
                case JsonTokenType.String when depth == 3 && walk.InWantedArray:
                    switch (walk.Field)
                    {
                        case "name": walk.Name = reader.GetString(); break;
                        case "caption": walk.Caption = reader.GetString(); break;
                        default: break;
                    }
                    walk.Field = null;
                    break;
                default:
                    if (depth == 3)
                    {
                        walk.Field = null;
                    }
                    break;
            }
        }
        state = reader.CurrentState;
        return (int)reader.BytesConsumed;
    }
}
