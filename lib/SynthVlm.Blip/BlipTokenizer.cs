using Microsoft.ML.Tokenizers;

namespace SynthVlm.Blip;

/// <summary>
/// BLIP's text tokenizer: BERT WordPiece over a vocab.txt (bert-base-uncased's for the Salesforce
/// BLIP checkpoints), as Hugging Face's BertTokenizer does it — text cleaned (control and format
/// characters such as U+200B dropped, whitespace unified), CJK ideographs split one per token,
/// lower-cased and accents stripped (NFD, non-spacing marks removed) when <see cref="DoLowerCase"/>,
/// split on whitespace and punctuation, then greedy longest-match WordPiece with "##" continuations;
/// a word longer than 100 characters or with no match becomes [UNK]. Built on
/// Microsoft.ML.Tokenizers' <see cref="BertTokenizer"/>; this class adds the [CLS] … [SEP] framing
/// and the truncation Hugging Face applies (keep the first <c>maxLength − 2</c> pieces).
/// Quirk kept from Hugging Face: special-token text such as "[SEP]" inside a caption is read as that
/// special token (the original google-research/bert tokenizer would split it into "[", "sep", "]").
/// Thread-safe.
/// </summary>
public sealed class BlipTokenizer
{
    /// <summary>Hugging Face's limit on characters per word before WordPiece gives [UNK].</summary>
    public const int MaxInputCharsPerWord = 100;

    private readonly BertTokenizer _bert;

    private BlipTokenizer(BertTokenizer bert, bool doLowerCase)
    {
        _bert = bert;
        DoLowerCase = doLowerCase;
        ClsId = bert.ClassificationTokenId;
        SepId = bert.SeparatorTokenId;
        PadId = bert.PaddingTokenId;
    }

    /// <summary>Whether text is lower-cased and stripped of accents.</summary>
    public bool DoLowerCase { get; }

    /// <summary>Id of [CLS], the first token of every encoding.</summary>
    public int ClsId { get; }

    /// <summary>Id of [SEP], the last token of every encoding.</summary>
    public int SepId { get; }

    /// <summary>Id of [PAD], written after the end of shorter captions in a batch.</summary>
    public int PadId { get; }

    /// <summary>Reads a BERT vocab.txt (one token per line; the line number is the id).</summary>
    /// <exception cref="BlipModelException">The file is missing or lacks [CLS], [SEP], [PAD] or [UNK].</exception>
    public static BlipTokenizer FromVocabFile(string path, bool doLowerCase = true)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        if (!File.Exists(path))
        {
            throw new BlipModelException(path, "file not found (a BLIP ITM folder holds the BERT vocab.txt of its tokenizer)");
        }
        var missing = RequiredTokens(path);
        if (missing.Count > 0)
        {
            throw new BlipModelException(path, $"the vocabulary lacks {string.Join(", ", missing)}; expected a BERT WordPiece vocab.txt with [PAD], [UNK], [CLS] and [SEP]");
        }
        var options = new BertOptions
        {
            LowerCaseBeforeTokenization = doLowerCase,
            RemoveNonSpacingMarks = doLowerCase,
            ApplyBasicTokenization = true,
            IndividuallyTokenizeCjk = true,
            SplitOnSpecialTokens = true,
            MaxInputCharsPerWord = MaxInputCharsPerWord,
        };
        try
        {
            return new BlipTokenizer(BertTokenizer.Create(path, options), doLowerCase);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or IOException)
        {
            throw new BlipModelException(path, $"not a usable BERT vocabulary: {e.Message}", e);
        }
    }

    /// <summary>The WordPiece ids of <paramref name="text"/> without [CLS]/[SEP] and without truncation.</summary>
    public IReadOnlyList<int> Tokenize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _bert.EncodeToIds(text, addSpecialTokens: false);
    }

    /// <summary>
    /// Writes [CLS] pieces… [SEP] into <paramref name="destination"/>, keeping the first
    /// <c>maxLength − 2</c> pieces; returns the number of ids written.
    /// </summary>
    public int Encode(string text, int maxLength, Span<long> destination, out bool truncated)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 2);
        if (destination.Length < maxLength)
        {
            throw new ArgumentException($"The destination holds {destination.Length} ids; maxLength is {maxLength}.", nameof(destination));
        }
        var pieces = Tokenize(text);
        var keep = Math.Min(pieces.Count, maxLength - 2);
        truncated = keep < pieces.Count;
        destination[0] = ClsId;
        for (var i = 0; i < keep; i++)
        {
            destination[i + 1] = pieces[i];
        }
        destination[keep + 1] = SepId;
        return keep + 2;
    }

    private static List<string> RequiredTokens(string path)
    {
        var need = new HashSet<string>(["[PAD]", "[UNK]", "[CLS]", "[SEP]"], StringComparer.Ordinal);
        foreach (var line in File.ReadLines(path))
        {
            need.Remove(line.TrimEnd('\r'));
            if (need.Count == 0)
            {
                break;
            }
        }
        return [.. need.Order(StringComparer.Ordinal)];
    }
}
