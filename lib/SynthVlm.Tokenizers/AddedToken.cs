namespace SynthVlm.Tokenizers;

/// <summary>
/// A token matched as a whole in the text before BPE (tokenizer_config.json's
/// added_tokens_decoder entry). Normalized tokens are looked for in normalized text, the others
/// in the raw text, as Hugging Face's added vocabulary does.
/// </summary>
/// <param name="Id">Its id.</param>
/// <param name="Content">The text it stands for.</param>
/// <param name="Special">Whether it is a special token (skipped by <see cref="ClipTokenizer.Decode(ReadOnlySpan{int})"/>).</param>
/// <param name="Normalized">Whether it is matched after normalization.</param>
/// <param name="LeftStrip">Whether whitespace on its left is swallowed with it.</param>
/// <param name="RightStrip">Whether whitespace on its right is swallowed with it.</param>
/// <param name="SingleWord">Whether it only matches when not inside a word.</param>
public sealed record AddedToken(int Id, string Content, bool Special, bool Normalized, bool LeftStrip = false, bool RightStrip = false, bool SingleWord = false);
