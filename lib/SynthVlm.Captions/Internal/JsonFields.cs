using System.Text;
using System.Text.Json;

namespace SynthVlm.Captions.Internal;

/// <summary>The property names a pool's JSON objects are read with, as UTF-8.</summary>
internal sealed class JsonFieldNames
{
    private static readonly byte[][] AutoPathNames = [.. KnownColumns.ImagePathNames.Select(Encoding.UTF8.GetBytes)];
    private static readonly byte[][] AutoUrlNames = [.. KnownColumns.UrlNames.Select(Encoding.UTF8.GetBytes)];

    public JsonFieldNames(CaptionPoolOptions options)
    {
        Caption = Encoding.UTF8.GetBytes(options.CaptionColumn);
        Id = Encoding.UTF8.GetBytes(options.IdColumn);
        Image = options.ImageColumn is null ? null : Encoding.UTF8.GetBytes(options.ImageColumn);
    }

    public byte[] Caption { get; }

    public byte[] Id { get; }

    public byte[]? Image { get; }

    public static bool IsAutoPath(ref Utf8JsonReader reader) => Matches(ref reader, AutoPathNames);

    public static bool IsAutoUrl(ref Utf8JsonReader reader) => Matches(ref reader, AutoUrlNames);

    private static bool Matches(ref Utf8JsonReader reader, byte[][] names)
    {
        foreach (var name in names)
        {
            if (reader.ValueTextEquals(name))
            {
                return true;
            }
        }
        return false;
    }
}

/// <summary>The fields of one JSON object that a caption is made from.</summary>
internal sealed class JsonFields
{
    public string? Id { get; private set; }

    public string? IdProblem { get; private set; }

    public string? Caption { get; private set; }

    public string? CaptionProblem { get; private set; }

    /// <summary>The <c>text</c> field, the image folder's caption when the caption field is absent.</summary>
    public string? Text { get; private set; }

    public string? ImagePath { get; private set; }

    public string? Url { get; private set; }

    public string? FileName { get; private set; }

    public bool HasConversations { get; private set; }

    public string? ConversationsProblem { get; private set; }

    /// <summary>The values of the gpt turns, in order (null where a turn's value is not a string).</summary>
    public List<string?> GptTurns { get; } = [];

    /// <summary>Reads the fields of one object (the whole of <paramref name="json"/>, valid UTF-8).</summary>
    /// <exception cref="JsonException">The object is malformed or followed by more than whitespace.</exception>
    /// <exception cref="InvalidOperationException">A string escapes a lone UTF-16 surrogate (<c>\ud800</c>).</exception>
    public void Read(ReadOnlySpan<byte> json, JsonFieldNames names)
    {
        Id = IdProblem = Caption = CaptionProblem = Text = ImagePath = Url = FileName = ConversationsProblem = null;
        HasConversations = false;
        GptTurns.Clear();
        var reader = new Utf8JsonReader(json, isFinalBlock: true, state: default);
        reader.Read();
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals(names.Caption))
            {
                reader.Read();
                Caption = ReadString(ref reader, "caption", out var problem);
                CaptionProblem = problem;
            }
            else if (reader.ValueTextEquals(names.Id))
            {
                reader.Read();
                ReadId(ref reader);
            }
            else if (names.Image is not null && reader.ValueTextEquals(names.Image))
            {
                reader.Read();
                var value = ReadString(ref reader, "image", out _);
                if (KnownColumns.IsUrl(value))
                {
                    Url = value;
                }
                else
                {
                    ImagePath = value;
                }
            }
            else if (reader.ValueTextEquals("conversations"u8))
            {
                reader.Read();
                ReadConversations(ref reader);
            }
            else if (reader.ValueTextEquals("text"u8))
            {
                reader.Read();
                Text = ReadString(ref reader, "text", out _);
            }
            else if (reader.ValueTextEquals(KnownColumns.FileNameUtf8))
            {
                reader.Read();
                FileName = ReadString(ref reader, KnownColumns.FileName, out _);
                if (names.Image is null)
                {
                    ImagePath ??= FileName;
                }
            }
            else if (names.Image is null && JsonFieldNames.IsAutoPath(ref reader))
            {
                reader.Read();
                ImagePath = ReadString(ref reader, "image", out _) ?? ImagePath;
            }
            else if (names.Image is null && JsonFieldNames.IsAutoUrl(ref reader))
            {
                reader.Read();
                Url = ReadString(ref reader, "url", out _) ?? Url;
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }
        if (reader.Read())
        {
            // Unreachable with the default reader options (they throw on a second value); kept as the contract.
            throw new JsonException($"unexpected {Describe(reader.TokenType)} after the object");
        }
    }

    private void ReadId(ref Utf8JsonReader reader)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                Id = reader.GetString();
                break;
            case JsonTokenType.Number:
                // The number's own text, so 007 or 1e3 ids stay what the file says.
                Id = Encoding.UTF8.GetString(reader.ValueSpan);
                break;
            case JsonTokenType.Null:
                break;
            default:
                IdProblem = $"id must be a string or a number, found {Describe(reader.TokenType)}";
                reader.Skip();
                break;
        }
    }

    private void ReadConversations(ref Utf8JsonReader reader)
    {
        HasConversations = true;
        if (reader.TokenType != JsonTokenType.StartArray)
        {
            ConversationsProblem = $"conversations must be an array, found {Describe(reader.TokenType)}";
            reader.Skip();
            return;
        }
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                continue;
            }
            string? from = null;
            string? value = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("from"u8))
                {
                    reader.Read();
                    from = ReadString(ref reader, "from", out _);
                }
                else if (reader.ValueTextEquals("value"u8))
                {
                    reader.Read();
                    value = ReadString(ref reader, "value", out _);
                }
                else
                {
                    reader.Read();
                    reader.Skip();
                }
            }
            if (string.Equals(from, "gpt", StringComparison.OrdinalIgnoreCase))
            {
                GptTurns.Add(value);
            }
        }
    }

    private static string? ReadString(ref Utf8JsonReader reader, string what, out string? problem)
    {
        problem = null;
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }
        if (reader.TokenType != JsonTokenType.Null)
        {
            problem = $"{what} must be a string, found {Describe(reader.TokenType)}";
        }
        reader.Skip();
        return null;
    }

    public static string Describe(JsonTokenType type) => type switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => type.ToString(),
    };
}
