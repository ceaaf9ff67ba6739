using System.Text.Json;
using System.Text.Json.Serialization;

namespace SynthVlm.Runs;

/// <summary>
/// Why a pool record did not reach generation: written by ingestion (malformed record, bad or
/// duplicate id, duplicate caption) and by curation (a filter), one file per record.
/// </summary>
public sealed record RejectionRecord
{
    /// <summary>Position in the pool.</summary>
    [JsonPropertyName("index")]
    public long Index { get; init; }

    /// <summary>1-based line where the record starts in the pool file.</summary>
    [JsonPropertyName("line")]
    public long Line { get; init; }

    /// <summary>The caption id as given (may be empty for a malformed record).</summary>
    [JsonPropertyName("id")]
    public string Id { get; init; } = "";

    /// <summary>The stage that dropped it (ingest or curation).</summary>
    [JsonPropertyName("stage")]
    public string Stage { get; init; } = "";

    /// <summary>A short category for counting (e.g. "duplicate_caption", "alnum_ratio").</summary>
    [JsonPropertyName("code")]
    public string Code { get; init; } = "";

    /// <summary>The reason in words, with the values involved.</summary>
    [JsonPropertyName("reason")]
    public string Reason { get; init; } = "";

    /// <summary>The caption (cut to 500 characters), when there was one.</summary>
    [JsonPropertyName("caption")]
    public string? Caption { get; init; }

    /// <summary>Per-filter statistics under Data-Juicer's names, when curation computed them.</summary>
    [JsonPropertyName("stats")]
    public IReadOnlyDictionary<string, double>? Stats { get; init; }

    /// <summary>UTF-8 JSON of the record.</summary>
    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, Options);

    /// <summary>Parses a record file.</summary>
    /// <exception cref="JsonException">Not a record.</exception>
    public static RejectionRecord Parse(ReadOnlySpan<byte> utf8) => JsonSerializer.Deserialize<RejectionRecord>(utf8, Options) ?? throw new JsonException("null record");

    private static readonly JsonSerializerOptions Options = new() { DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull };
}
