using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text.Json;

namespace SynthVlm.Vlm.Prompts;

/// <summary>One turn of a LLaVA conversation.</summary>
/// <param name="From">Who speaks: <see cref="Human"/> or <see cref="Gpt"/> (anything else is refused by the encoder).</param>
/// <param name="Value">What is said; may contain <see cref="LlavaTokens.ImageToken"/>.</param>
public sealed record LlavaTurn(string From, string Value)
{
    /// <summary>LLaVA's name for the user.</summary>
    public const string Human = "human";

    /// <summary>LLaVA's name for the assistant.</summary>
    public const string Gpt = "gpt";
}

/// <summary>
/// One sample of LLaVA's data JSON: <c>{"id", "image"?, "conversations": [{"from", "value"}, ...]}</c>.
/// </summary>
/// <param name="Id">The sample id (a JSON string or number).</param>
/// <param name="Image">The image path relative to the image folder, or null for a text-only sample.</param>
/// <param name="Turns">The conversation.</param>
public sealed record LlavaConversation(string Id, string? Image, IReadOnlyList<LlavaTurn> Turns)
{
    /// <summary>Whether the sample has an image (LLaVA: <c>'image' in sample</c>).</summary>
    public bool HasImage => Image is not null;

    /// <summary>
    /// Streams the samples of a LLaVA data JSON file (a top-level array), one at a time, so a
    /// file of millions of samples is never held whole. Unknown keys are ignored.
    /// </summary>
    /// <exception cref="InvalidDataException">The JSON is malformed or a sample lacks "id" or
    /// "conversations" or has a turn without string "from"/"value"; the message names the file,
    /// the sample's index and its id when known.</exception>
    public static async IAsyncEnumerable<LlavaConversation> ReadAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1 << 16, useAsync: true);
        var samples = JsonSerializer.DeserializeAsyncEnumerable<JsonElement>(stream, cancellationToken: cancellationToken)
            .ConfigureAwait(false).WithCancellation(cancellationToken);
        var enumerator = samples.GetAsyncEnumerator();
        try
        {
            for (var index = 0; ; index++)
            {
                JsonElement element;
                try
                {
                    if (!await enumerator.MoveNextAsync())
                    {
                        yield break;
                    }
                    element = enumerator.Current;
                }
                catch (JsonException ex)
                {
                    throw new InvalidDataException($"{path}: malformed LLaVA data JSON at sample {index} (expected a top-level array of samples): {ex.Message}", ex);
                }
                yield return FromJson(element, path, index);
            }
        }
        finally
        {
            await enumerator.DisposeAsync();
        }
    }

    /// <summary>The synchronous form of <see cref="ReadAsync"/>, still one sample at a time.</summary>
    /// <exception cref="InvalidDataException">As <see cref="ReadAsync"/>.</exception>
    public static IEnumerable<LlavaConversation> Read(string path) => ReadAsync(path).ToBlockingEnumerable();

    /// <summary>One sample from its JSON object; <paramref name="source"/> and <paramref name="index"/> go into error messages.</summary>
    /// <exception cref="InvalidDataException">The object is not a LLaVA sample.</exception>
    public static LlavaConversation FromJson(JsonElement sample, string source, int index)
    {
        if (sample.ValueKind != JsonValueKind.Object)
        {
            throw new InvalidDataException($"{source}: sample {index}: expected an object, found {sample.ValueKind}.");
        }
        var id = sample.TryGetProperty("id", out var idElement)
            ? idElement.ValueKind switch
            {
                JsonValueKind.String => idElement.GetString()!,
                JsonValueKind.Number => idElement.GetRawText(),
                _ => null,
            }
            : null;
        if (id is null)
        {
            throw new InvalidDataException($"{source}: sample {index}: expected \"id\" as a string or number.");
        }
        string? image = null;
        if (sample.TryGetProperty("image", out var imageElement) && imageElement.ValueKind != JsonValueKind.Null)
        {
            image = imageElement.ValueKind == JsonValueKind.String
                ? imageElement.GetString()
                : throw new InvalidDataException($"{source}: sample {index} (id '{id}'): \"image\" must be a string, found {imageElement.ValueKind}.");
        }
        if (!sample.TryGetProperty("conversations", out var turns) || turns.ValueKind != JsonValueKind.Array)
        {
            throw new InvalidDataException($"{source}: sample {index} (id '{id}'): expected \"conversations\" as an array of turns.");
        }
        var list = new List<LlavaTurn>(turns.GetArrayLength());
        var t = 0;
        foreach (var turn in turns.EnumerateArray())
        {
            if (turn.ValueKind != JsonValueKind.Object
                || !turn.TryGetProperty("from", out var from) || from.ValueKind != JsonValueKind.String
                || !turn.TryGetProperty("value", out var value) || value.ValueKind != JsonValueKind.String)
            {
                throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                    $"{source}: sample {index} (id '{id}'): turn {t} must be an object with string \"from\" and \"value\"."));
            }
            list.Add(new LlavaTurn(from.GetString()!, value.GetString()!));
            t++;
        }
        return new LlavaConversation(id, image, list);
    }
}
