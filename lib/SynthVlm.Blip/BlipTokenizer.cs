using Microsoft.ML.Tokenizers;

namespace SynthVlm.Blip;

/// <summary>
/// BLIP's text tokenizer: BERT WordPiece over a vocab.txt (bert-base-uncased's for the Salesforce
/// BLIP checkpoints), as Hugging Face's BertTokenizer does it. <see cref="BertBasicTokenizer"/>
/// (in-tree) cleans and splits the text — control and format characters such as U+200B dropped,
/// CJK ideographs one per word, lower-cased and accents stripped when <see cref="DoLowerCase"/>,
/// split on whitespace and punctuation; Microsoft.ML.Tokenizers' <see cref="WordPieceTokenizer"/>
/// then applies greedy longest-match WordPiece with "##" continuations to each word (a word longer
/// than 100 characters, Hugging Face's limit, or with no match becomes [UNK]). This class adds the
/// [CLS] … [SEP] framing and Hugging Face's truncation (keep the first <c>maxLength − 2</c> pieces).
/// Difference from Hugging Face kept on purpose: special-token text such as "[SEP]" typed inside a
/// caption is split as ordinary text ("[", "sep", "]"), as google-research/bert does, where Hugging
/// Face reads it as the special token. Thread-safe.
/// </summary>
public sealed class BlipTokenizer
{
    /// <summary>Hugging Face's limit on characters per word before WordPiece gives [UNK].</summary>
    public const int MaxInputCharsPerWord = 100;

    private readonly WordPieceTokenizer _wordPiece;
    private readonly int _unknownId;

    private BlipTokenizer(WordPieceTokenizer wordPiece, bool doLowerCase, IReadOnlyDictionary<string, int> special)
    {
        _wordPiece = wordPiece;
        DoLowerCase = doLowerCase;
        ClsId = special["[CLS]"];
        SepId = special["[SEP]"];
        PadId = special["[PAD]"];
        _unknownId = special["[UNK]"];
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
        var special = SpecialIds(path);
        var missing = new[] { "[PAD]", "[UNK]", "[CLS]", "[SEP]" }.Where(t => !special.ContainsKey(t)).ToArray();
        if (missing.Length > 0)
        {
            throw new BlipModelException(path, $"the vocabulary lacks {string.Join(", ", missing)}; expected a BERT WordPiece vocab.txt with [PAD], [UNK], [CLS] and [SEP]");
        }
        var options = new WordPieceOptions
        {
            PreTokenizer = null,
            Normalizer = null,
            UnknownToken = "[UNK]",
            ContinuingSubwordPrefix = "##",
            MaxInputCharsPerWord = MaxInputCharsPerWord,
        };
        try
        {
            return new BlipTokenizer(WordPieceTokenizer.Create(path, options), doLowerCase, special);
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
        var ids = new List<int>();
        foreach (var word in BertBasicTokenizer.Tokenize(text, DoLowerCase))
        {
            // Python counts code points; a word of more than 100 is [UNK] whatever its UTF-16 length.
            if (word.EnumerateRunes().Count() > MaxInputCharsPerWord)
            {
                ids.Add(_unknownId);
                continue;
            }
            ids.AddRange(_wordPiece.EncodeToIds(word, considerPreTokenization: false, considerNormalization: false));
        }
        return ids;
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

    private static Dictionary<string, int> SpecialIds(string path)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var line = 0;
        foreach (var raw in File.ReadLines(path))
        {
            var token = raw.TrimEnd('\r');
            if (token is "[PAD]" or "[UNK]" or "[CLS]" or "[SEP]")
            {
                ids.TryAdd(token, line);
            }
            line++;
        }
        return ids;
    }
}
