using System.Text.Json;

namespace SynthVlm.Tokenizers;

/// <summary>Reads of Hugging Face tokenizer configuration files shared by the tokenizers here.</summary>
internal static class TokenizerConfigJson
{
    /// <summary>Reads a JSON file that must hold an object.</summary>
    /// <exception cref="TokenizerFormatException">The file is not JSON or not an object (named).</exception>
    public static JsonElement ReadObject(string path)
    {
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new TokenizerFormatException(path, $"expected a JSON object, found {doc.RootElement.ValueKind}.");
            }
            return doc.RootElement.Clone();
        }
        catch (JsonException ex)
        {
            throw new TokenizerFormatException(path, $"malformed JSON: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// A special token (<paramref name="name"/>: bos_token, eos_token, …) written either as a string
    /// or as <c>{"content": ...}</c>; tokenizer_config.json (<paramref name="config"/>) wins over
    /// special_tokens_map.json (<paramref name="map"/>).
    /// </summary>
    public static string? SpecialToken(JsonElement? config, JsonElement? map, string name)
    {
        foreach (var source in (ReadOnlySpan<JsonElement?>)[config, map])
        {
            if (source is { } obj && obj.TryGetProperty(name, out var v))
            {
                if (v.ValueKind == JsonValueKind.String)
                {
                    return v.GetString();
                }
                if (v.ValueKind == JsonValueKind.Object && v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
                {
                    return c.GetString();
                }
            }
        }
        return null;
    }
}
