namespace SynthVlm.Tokenizers;

/// <summary>The ids of one encoded text: BOS, the kept content tokens, EOS (no padding).</summary>
public sealed class TokenizedText
{
    private readonly int[] _ids;

    internal TokenizedText(int[] ids, bool truncated, int tokenCount)
    {
        _ids = ids;
        Truncated = truncated;
        TokenCount = tokenCount;
    }

    /// <summary>The ids, BOS first and EOS last.</summary>
    public IReadOnlyList<int> Ids => _ids;

    /// <summary>The ids as a span.</summary>
    public ReadOnlySpan<int> Span => _ids;

    /// <summary>Number of ids (content tokens kept plus BOS and EOS).</summary>
    public int Length => _ids.Length;

    /// <summary>Whether content tokens were dropped to fit the maximum length.</summary>
    public bool Truncated { get; }

    /// <summary>Content tokens the text produced before truncation (BOS and EOS not counted).</summary>
    public int TokenCount { get; }
}
