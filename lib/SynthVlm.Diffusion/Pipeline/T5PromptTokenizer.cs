using System.Text.Json;
using Microsoft.ML.Tokenizers;

namespace SynthVlm.Diffusion;

/// <summary>
/// SD3's third tokenizer (T5TokenizerFast, a SentencePiece Unigram model) as diffusers calls it:
/// <c>padding="max_length", truncation=True, add_special_tokens=True</c>: the pieces of the text, cut to
/// <c>maxLength − 1</c>, then <c>&lt;/s&gt;</c>, then the pad id up to <c>maxLength</c>. No BOS (T5 has none).
/// The Unigram segmentation is Microsoft.ML.Tokenizers' <see cref="SentencePieceTokenizer"/>, loaded from
/// <c>tokenizer.json</c> when the folder has it (the fast tokenizer diffusers runs: its normalizer and
/// pre-tokenizer chain), else from <c>spiece.model</c> (the slow tokenizer's SentencePiece model).
/// </summary>
internal sealed class T5PromptTokenizer
{
    private readonly SentencePieceTokenizer _model;

    private T5PromptTokenizer(SentencePieceTokenizer model, int padId, string source)
    {
        _model = model;
        PadId = padId;
        Source = source;
        EosId = model.EndOfSentenceId;
    }

    /// <summary>The file the model came from.</summary>
    public string Source { get; }

    /// <summary>The id appended after the text (<c>&lt;/s&gt;</c>).</summary>
    public int EosId { get; }

    /// <summary>The id that fills the rest of the row (<c>&lt;pad&gt;</c>, 0 for T5).</summary>
    public int PadId { get; }

    /// <summary>Loads <paramref name="folder"/>/tokenizer.json, or <paramref name="folder"/>/spiece.model when there is none.</summary>
    /// <exception cref="DiffusionException">Neither file exists or the model cannot be read (the message names the file).</exception>
    public static T5PromptTokenizer FromFolder(string folder)
    {
        var spiece = Path.Combine(folder, "spiece.model");
        var json = Path.Combine(folder, "tokenizer.json");
        var source = File.Exists(json) ? json : File.Exists(spiece) ? spiece
            : throw new DiffusionException($"{folder}: neither spiece.model nor tokenizer.json found (SD3's T5 tokenizer)");
        SentencePieceTokenizer model;
        try
        {
            using var stream = File.OpenRead(source);
            model = source == spiece
                ? SentencePieceTokenizer.Create(stream, addBeginningOfSentence: false, addEndOfSentence: false)
                : SentencePieceTokenizer.CreateFromTokenizerJson(stream, addBeginningOfSentence: false, addEndOfSentence: false);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or JsonException or NotSupportedException or InvalidOperationException or IOException)
        {
            throw new DiffusionException($"{source}: not a usable SentencePiece Unigram tokenizer: {e.Message}", e);
        }

        if (model.EndOfSentenceId < 0)
        {
            throw new DiffusionException($"{source}: the vocabulary has no </s> piece, which T5 appends to every prompt");
        }

        var padId = model.Vocabulary.TryGetValue("<pad>", out var p) ? p : 0;
        return new T5PromptTokenizer(model, padId, source);
    }

    /// <summary>
    /// Writes one row of <paramref name="maxLength"/> ids per text into <paramref name="ids"/>; returns per text
    /// whether it was cut.
    /// </summary>
    public bool[] EncodeBatch(IReadOnlyList<string> texts, long[] ids, int maxLength)
    {
        var truncated = new bool[texts.Count];
        for (var i = 0; i < texts.Count; i++)
        {
            var pieces = _model.EncodeToIds(texts[i], addBeginningOfSentence: false, addEndOfSentence: false);
            var row = ids.AsSpan(i * maxLength, maxLength);
            var keep = Math.Min(pieces.Count, maxLength - 1);
            truncated[i] = pieces.Count > maxLength - 1;
            for (var k = 0; k < keep; k++)
            {
                row[k] = pieces[k];
            }

            row[keep] = EosId;
            row[(keep + 1)..].Fill(PadId);
        }

        return truncated;
    }
}
