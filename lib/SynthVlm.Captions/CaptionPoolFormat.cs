namespace SynthVlm.Captions;

/// <summary>The on-disk layouts of a caption pool that <see cref="CaptionPoolReader"/> understands.</summary>
public enum CaptionPoolFormat
{
    /// <summary>
    /// Decide from the path: a folder is <see cref="ImageFolder"/>; <c>.jsonl</c>/<c>.ndjson</c> is JSON Lines;
    /// <c>.csv</c>/<c>.tsv</c> are delimited; otherwise the first non-space byte decides
    /// (<c>[</c>: a JSON array, LLaVA when its first element has <c>conversations</c>; <c>{</c>: JSON Lines).
    /// </summary>
    Auto,

    /// <summary>SynthVLM's caption JSON: one array of <c>{"id": ..., "caption": ...}</c> objects.</summary>
    SynthVlmJson,

    /// <summary>One JSON object per line with the same fields as <see cref="SynthVlmJson"/>, plus optional image/url.</summary>
    JsonLines,

    /// <summary>Comma-separated values (RFC 4180 quoting), header row by default.</summary>
    Csv,

    /// <summary>Tab-separated values (CC3M/CC12M style); without a header, field 0 is the caption and field 1 the URL.</summary>
    Tsv,

    /// <summary>LLaVA conversation JSON: an array of <c>{"id", "image", "conversations"}</c>; each gpt turn is a caption.</summary>
    LlavaJson,

    /// <summary>A Hugging Face imagefolder: a folder holding <c>metadata.jsonl</c> with <c>file_name</c> and a caption field.</summary>
    ImageFolder,
}
