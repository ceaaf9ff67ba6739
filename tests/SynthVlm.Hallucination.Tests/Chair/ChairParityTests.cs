using System.Text.Json;
using SynthVlm.Hallucination.Chair;
using SynthVlm.Testing;

namespace SynthVlm.Hallucination.Tests.Chair;

/// <summary>
/// CHAIR against the official code: Fixtures/chair/expected.json was written by
/// make_reference.py running LisaAnne/Hallucination's chair.py (nltk 3.2.5, pattern 3.6) on the
/// committed annotations, captions and tokenisation cases.
/// </summary>
public sealed class ChairParityTests
{
    /// <summary>chair_s and chair_i are ratios of small counts; 1e-9 only absorbs float formatting.</summary>
    private const double Tolerance = 1e-9;

    internal static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hallucination.Tests", "Fixtures", "chair");

    private static JsonElement Expected { get; } = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures, "expected.json"))).RootElement;

    private static List<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();

    [Fact]
    public void Tokenisation_and_singularisation_equal_nltk_3_2_5_and_pattern()
    {
        foreach (var item in Expected.GetProperty("tokenisation").EnumerateArray())
        {
            var text = item.GetProperty("text").GetString()!;
            var tokens = TreebankWordTokenizer.WordTokenize(text.ToLowerInvariant());
            tokens.Should().Equal(Strings(item.GetProperty("tokens")), because: $"word_tokenize(\"{text}\".lower())");
            tokens.Select(PatternSingularizer.Singularize).Should().Equal(Strings(item.GetProperty("singular")), because: $"singularize over \"{text}\"");
            ChairVocabulary.Official.Read(text).Mentions.Select(m => m.Object).Should().Equal(Strings(item.GetProperty("objects")), because: $"caption_to_words(\"{text}\")");
        }
    }

    [Fact]
    public void Ground_truth_objects_per_image_equal_the_official_annotations()
    {
        var expected = Expected.GetProperty("ground_truth").EnumerateObject().ToList();
        var truth = ChairGroundTruth.LoadCoco(Path.Combine(Fixtures, "annotations"), expected.Select(p => long.Parse(p.Name, System.Globalization.CultureInfo.InvariantCulture)).ToHashSet(), ChairVocabulary.Official);
        foreach (var image in expected)
        {
            truth.ObjectsIn(long.Parse(image.Name, System.Globalization.CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal)
                .Should().Equal(Strings(image.Value), because: $"image {image.Name}");
        }
    }

    [Fact]
    public async Task Captions_file_scores_equal_the_official_code()
    {
        var results = new List<ChairCaptionResult>();
        var issues = new List<ChairInputIssue>();
        var summary = await ChairEvaluator.ScoreFileAsync(
            Path.Combine(Fixtures, "captions.json"), Path.Combine(Fixtures, "annotations"),
            r => { results.Add(r); return ValueTask.CompletedTask; }, issues.Add);

        issues.Should().BeEmpty();
        var expected = Expected.GetProperty("captions").EnumerateArray().ToList();
        results.Should().HaveCount(expected.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var e = expected[i];
            var because = $"caption {i + 1}: \"{results[i].Caption}\"";
            results[i].ImageId.Should().Be(e.GetProperty("image_id").GetInt64());
            results[i].Caption.Should().Be(e.GetProperty("caption").GetString());
            ChairVocabulary.Official.Read(results[i].Caption).Words.Should().Equal(Strings(e.GetProperty("words")), because: because);
            results[i].MentionedObjects.Should().Equal(Strings(e.GetProperty("mentioned_objects")), because: because);
            results[i].HallucinatedObjects.Should().Equal(Strings(e.GetProperty("hallucinated_objects")), because: because);
        }
        summary.ChairS.Should().BeApproximately(Expected.GetProperty("chair_s").GetDouble(), Tolerance);
        summary.ChairI.Should().BeApproximately(Expected.GetProperty("chair_i").GetDouble(), Tolerance);
        summary.Captions.Should().Be(expected.Count);
    }

    [Fact]
    public void Quirks_of_the_official_definition_are_kept()
    {
        // Singular nouns ending in s lose it, so a singular "bus" is not counted but "buses" is.
        ChairVocabulary.Official.Read("a bus").Mentions.Should().BeEmpty();
        ChairVocabulary.Official.Read("two buses").Mentions.Select(m => m.Object).Should().Equal("bus");
        // " motor bike" is written with a leading space in the table: the merged word never matches.
        ChairVocabulary.Official.Read("a motor bike").Mentions.Should().BeEmpty();
        // "toilet" anywhere drops every "seat" (not a chair); "baby" + animal is the animal, not a person.
        ChairVocabulary.Official.Read("the seat next to the toilet").Mentions.Select(m => m.Object).Should().Equal("toilet");
        ChairVocabulary.Official.Read("a baby elephant").Mentions.Select(m => m.Word).Should().Equal("elephant");
        ChairVocabulary.Official.Read("a baby").Mentions.Select(m => m.Object).Should().Equal("person");
    }

    [Fact]
    public void Punkt_orthographic_context_ends_a_sentence_after_an_initial_or_number_only_before_its_lowercase_starters()
    {
        // "administrators" was seen lower-case at a sentence start and never upper-case in Punkt's training
        // text, so after "2." or "j." it may start a sentence and the first-pass break stands.
        TreebankWordTokenizer.WordTokenize("a 2. administrators desk").Should().Equal("a", "2", ".", "administrators", "desk");
        TreebankWordTokenizer.WordTokenize("by j. b-week").Should().Equal("by", "j", ".", "b-week");
        // Any other lower-case word (listed in the table or not) cancels the break, as does an abbreviation before it.
        TreebankWordTokenizer.WordTokenize("a 2. administrator desk").Should().Equal("a", "2.", "administrator", "desk");
        TreebankWordTokenizer.WordTokenize("by j. dogs").Should().Equal("by", "j.", "dogs");
        TreebankWordTokenizer.WordTokenize("st. administrators").Should().Equal("st.", "administrators");
    }
}
