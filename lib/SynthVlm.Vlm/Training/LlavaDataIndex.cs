using System.Text.Json;
using SynthVlm.Vlm.Prompts;

namespace SynthVlm.Vlm.Training;

/// <summary>
/// Where every sample of a LLaVA data JSON file is, found in one streaming pass: byte offset and
/// length of each top-level array element, whether it has an image, and LLaVA's modality length
/// (words of all turns, negative for text-only samples; what LLaVA's group-by-modality sampler
/// sorts by). Samples are read back one at a time by index, so a 558K-sample file costs
/// ~20 bytes per sample here, not the whole JSON.
/// </summary>
public sealed class LlavaDataIndex
{
    private readonly long[] offsets;
    private readonly int[] lengths;
    private readonly int[] modalityLengths;

    private LlavaDataIndex(string path, string imageFolder, long[] offsets, int[] lengths, int[] modalityLengths)
    {
        Path = path;
        ImageFolder = imageFolder;
        this.offsets = offsets;
        this.lengths = lengths;
        this.modalityLengths = modalityLengths;
    }

    /// <summary>The data file.</summary>
    public string Path { get; }

    /// <summary>The folder the samples' image paths are relative to.</summary>
    public string ImageFolder { get; }

    /// <summary>Samples in the file.</summary>
    public int Count => offsets.Length;

    /// <summary>LLaVA's modality length of sample <paramref name="index"/> (word count; negative without an image).</summary>
    public int ModalityLength(int index) => modalityLengths[index];

    /// <summary>Indexes <paramref name="path"/> (a top-level JSON array of LLaVA samples).</summary>
    /// <exception cref="InvalidDataException">The file is not a JSON array of objects; the message names the file and the sample.</exception>
    public static LlavaDataIndex Build(string path, string imageFolder) => Build(path, imageFolder, 1 << 20);

    /// <summary>As <see cref="Build(string, string)"/> with an initial read buffer of <paramref name="bufferSize"/> bytes (tests use tiny ones).</summary>
    internal static LlavaDataIndex Build(string path, string imageFolder, int bufferSize)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        var offsets = new List<long>();
        var lengths = new List<int>();
        var modality = new List<int>();
        var buffer = new byte[bufferSize];
        var filled = 0;
        long bufferStart = 0;
        var state = default(JsonReaderState);
        var started = false;
        long elementStart = -1;
        var finished = false;
        while (!finished)
        {
            var read = stream.Read(buffer, filled, buffer.Length - filled);
            filled += read;
            var final = read == 0;
            var reader = new Utf8JsonReader(buffer.AsSpan(0, filled), final, state);
            try
            {
                // A copy of the reader before each token: when an object does not fit the buffer,
                // the next pass restarts from before its '{'.
                var before = reader;
                while (reader.Read())
                {
                    if (!started)
                    {
                        if (reader.TokenType != JsonTokenType.StartArray)
                        {
                            throw new InvalidDataException($"{path}: expected a top-level JSON array of samples, found {reader.TokenType}.");
                        }
                        started = true;
                        before = reader;
                        continue;
                    }
                    if (reader.CurrentDepth == 0 && reader.TokenType == JsonTokenType.EndArray)
                    {
                        finished = true;
                        break;
                    }
                    if (reader.CurrentDepth == 1 && reader.TokenType == JsonTokenType.StartObject)
                    {
                        elementStart = bufferStart + reader.TokenStartIndex;
                        // Skip the whole object when it is in the buffer; otherwise read more and retry.
                        if (!reader.TrySkip())
                        {
                            reader = before;
                            break;
                        }
                        var end = bufferStart + reader.BytesConsumed;
                        var length = checked((int)(end - elementStart));
                        var slice = buffer.AsSpan((int)(elementStart - bufferStart), length);
                        modality.Add(ModalityLengthOf(slice, path, offsets.Count));
                        offsets.Add(elementStart);
                        lengths.Add(length);
                        before = reader;
                        continue;
                    }
                    if (reader.CurrentDepth == 1)
                    {
                        throw new InvalidDataException($"{path}: sample {offsets.Count}: expected an object, found {reader.TokenType}.");
                    }
                    before = reader;
                }
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}: malformed JSON after sample {offsets.Count}: {e.Message}", e);
            }
            if (finished)
            {
                break;
            }
            if (final)
            {
                throw new InvalidDataException($"{path}: the JSON ends before its top-level array closes (after sample {offsets.Count}).");
            }
            // Keep what the reader has not consumed and continue from its state.
            var consumed = (int)reader.BytesConsumed;
            state = reader.CurrentState;
            if (consumed == 0 && filled == buffer.Length)
            {
                Array.Resize(ref buffer, buffer.Length * 2);
                continue;
            }
            Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
            filled -= consumed;
            bufferStart += consumed;
        }
        return new LlavaDataIndex(path, imageFolder, [.. offsets], [.. lengths], [.. modality]);
    }

    /// <summary>Reads sample <paramref name="index"/>.</summary>
    /// <exception cref="InvalidDataException">The sample is not a LLaVA sample (named by file, index and id).</exception>
    public LlavaConversation Read(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(index, Count);
        var bytes = new byte[lengths[index]];
        using (var stream = new FileStream(Path, FileMode.Open, FileAccess.Read, FileShare.Read, 4096))
        {
            stream.Position = offsets[index];
            stream.ReadExactly(bytes);
        }
        using var document = JsonDocument.Parse(bytes);
        return LlavaConversation.FromJson(document.RootElement, Path, index);
    }

    private static int ModalityLengthOf(ReadOnlySpan<byte> json, string path, int index)
    {
        try
        {
            var reader = new Utf8JsonReader(json);
            using var document = JsonDocument.ParseValue(ref reader);
            var root = document.RootElement;
            var words = 0;
            if (root.TryGetProperty("conversations", out var turns) && turns.ValueKind == JsonValueKind.Array)
            {
                foreach (var turn in turns.EnumerateArray())
                {
                    if (turn.ValueKind == JsonValueKind.Object && turn.TryGetProperty("value", out var v) && v.ValueKind == JsonValueKind.String)
                    {
                        words += v.GetString()!.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
                    }
                }
            }
            var hasImage = root.TryGetProperty("image", out var image) && image.ValueKind != JsonValueKind.Null;
            return hasImage ? words : -words;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: sample {index}: {e.Message}", e);
        }
    }
}
