namespace SynthVlm.Tokenizers;

/// <summary>
/// The settings Hugging Face keeps next to a LLaMA tokenizer.model (tokenizer_config.json,
/// special_tokens_map.json, added_tokens.json), with the slow <c>LlamaTokenizer</c>'s defaults.
/// </summary>
public sealed record LlamaTokenizerOptions
{
    /// <summary>The beginning-of-sentence token (<c>bos_token</c>).</summary>
    public string BosToken { get; init; } = "<s>";

    /// <summary>The end-of-sentence token (<c>eos_token</c>).</summary>
    public string EosToken { get; init; } = "</s>";

    /// <summary>The unknown token (<c>unk_token</c>).</summary>
    public string UnkToken { get; init; } = "<unk>";

    /// <summary>The padding token (<c>pad_token</c>); null when the tokenizer has none (Vicuna).</summary>
    public string? PadToken { get; init; }

    /// <summary>Whether <see cref="SentencePieceLlamaTokenizer.Encode"/> puts BOS first (<c>add_bos_token</c>, default true).</summary>
    public bool AddBosToken { get; init; } = true;

    /// <summary>Whether <see cref="SentencePieceLlamaTokenizer.Encode"/> puts EOS last (<c>add_eos_token</c>, default false).</summary>
    public bool AddEosToken { get; init; }

    /// <summary>
    /// transformers' <c>legacy</c> flag (default true when absent, as for LLaVA's Vicuna):
    /// true encodes every text piece between special tokens as a fresh string (with the dummy
    /// prefix), false gives only the start of the text the dummy prefix.
    /// </summary>
    public bool Legacy { get; init; } = true;

    /// <summary><c>model_max_length</c>; null when absent or "unlimited" (transformers' 1e30).</summary>
    public int? ModelMaxLength { get; init; }

    /// <summary>Tokens added after the model's pieces (added_tokens.json, added_tokens_decoder): content -> id.</summary>
    public IReadOnlyDictionary<string, int> AddedTokens { get; init; } = new Dictionary<string, int>();

    /// <summary><c>additional_special_tokens</c>: added tokens that count as special (skipped by decode).</summary>
    public IReadOnlyList<string> AdditionalSpecialTokens { get; init; } = [];
}
