namespace SynthVlm.Hallucination.Chair;

/// <summary>One COCO object a caption mentions: the word as CHAIR read it and the object it names.</summary>
/// <param name="Word">The caption's word after singularisation and two-word merges ("puppy", "wine glass").</param>
/// <param name="Object">The COCO object, named as the first entry of its synonym-table line ("dog").</param>
public sealed record ChairMention(string Word, string Object);

/// <summary>What CHAIR reads in one caption.</summary>
/// <param name="Words">Every token after singularisation and two-word merges (the official code's "words").</param>
/// <param name="Mentions">The COCO objects mentioned, in caption order, repeats included.</param>
public sealed record ChairCaptionWords(IReadOnlyList<string> Words, IReadOnlyList<ChairMention> Mentions);

/// <summary>
/// The CHAIR vocabulary and caption reading of the official code (Rohrbach et al. 2018,
/// github.com/LisaAnne/Hallucination utils/chair.py, <c>CHAIR.__init__</c> and
/// <c>caption_to_words</c>): the 80 COCO objects with their synonyms (data/synonyms.txt, embedded),
/// nltk 3.2.5 word tokenisation of the lowercased caption, pattern's singularisation of every
/// token, two-word merges, and the "toilet seat" rule.
/// </summary>
/// <remarks>
/// Quirks of the official definition, kept: a synonym listed on two lines names the object of the
/// later line; the table's entries are split on ", " exactly, so entries written after a double
/// space keep a leading space and never match a word (" motor bike", " cheesecake"), and "iPhone"
/// never matches a lowercased caption; "motor bike" and "motor cycle" are merged into one word that
/// is therefore not counted; "baby"/"adult" + an animal word and "passenger" + "jet"/"train" read
/// as the animal or vehicle (not a person); "bow tie" reads as "tie", "toilet seat" as "toilet", the
/// singularised "wine glas" as "wine glass"; when a caption says "toilet" anywhere, every "seat"
/// in it is dropped (so it does not count as a chair). Merges are greedy from the left over pairs.
/// </remarks>
public sealed class ChairVocabulary
{
    private static readonly string[] CocoDoubleWords =
    [
        "motor bike", "motor cycle", "air plane", "traffic light", "street light", "traffic signal", "stop light",
        "fire hydrant", "stop sign", "parking meter", "suit case", "sports ball", "baseball bat", "baseball glove",
        "tennis racket", "wine glass", "hot dog", "cell phone", "mobile phone", "teddy bear", "hair drier",
        "potted plant", "bow tie", "laptop computer", "stove top oven", "hot dog", "teddy bear", "home plate",
        "train track",
    ];

    private static readonly string[] AnimalWords = ["bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "animal", "cub"];
    private static readonly string[] VehicleWords = ["jet", "train"];

    private readonly HashSet<string> _objectWords = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _objectOf = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _doubleWords = new(StringComparer.Ordinal);

    private ChairVocabulary(IEnumerable<string> synonymLines)
    {
        foreach (var line in synonymLines)
        {
            var synonyms = line.Trim().Split(", ");
            foreach (var s in synonyms)
            {
                _objectWords.Add(s);
                _objectOf[s] = synonyms[0];
            }
        }
        foreach (var word in CocoDoubleWords)
        {
            _doubleWords[word] = word;
        }
        foreach (var animal in AnimalWords)
        {
            _doubleWords["baby " + animal] = animal;
            _doubleWords["adult " + animal] = animal;
        }
        foreach (var vehicle in VehicleWords)
        {
            _doubleWords["passenger " + vehicle] = vehicle;
        }
        _doubleWords["bow tie"] = "tie";
        _doubleWords["toilet seat"] = "toilet";
        _doubleWords["wine glas"] = "wine glass";
    }

    /// <summary>The official vocabulary (the embedded synonym table).</summary>
    public static ChairVocabulary Official { get; } = new(ChairResources.Lines("synonyms.txt"));

    /// <summary>
    /// The COCO object a category name or synonym names (the synonym table's inverse), or null
    /// when the table does not list it.
    /// </summary>
    public string? ObjectOf(string word) => _objectOf.GetValueOrDefault(word);

    /// <summary>Reads <paramref name="caption"/> as the official <c>caption_to_words</c> does.</summary>
    public ChairCaptionWords Read(string caption)
    {
        var tokens = TreebankWordTokenizer.WordTokenize(caption.ToLowerInvariant());
        for (var t = 0; t < tokens.Count; t++)
        {
            tokens[t] = PatternSingularizer.Singularize(tokens[t]);
        }
        var merged = new List<string>(tokens.Count);
        var i = 0;
        while (i < tokens.Count)
        {
            // ' '.join(words[i:i+2]): the last word alone at the end, which no pair key equals.
            var pair = i + 1 < tokens.Count ? tokens[i] + " " + tokens[i + 1] : tokens[i];
            if (_doubleWords.TryGetValue(pair, out var replacement))
            {
                merged.Add(replacement);
                i += 2;
            }
            else
            {
                merged.Add(tokens[i]);
                i += 1;
            }
        }
        var dropSeat = merged.Contains("toilet") && merged.Contains("seat");
        var mentions = new List<ChairMention>();
        foreach (var word in merged)
        {
            if ((dropSeat && word == "seat") || !_objectWords.Contains(word))
            {
                continue;
            }
            mentions.Add(new ChairMention(word, _objectOf[word]));
        }
        return new ChairCaptionWords(merged, mentions);
    }
}
