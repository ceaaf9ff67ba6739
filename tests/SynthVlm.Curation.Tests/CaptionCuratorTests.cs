using SynthVlm.Curation;

namespace SynthVlm.Curation.Tests;

public class CaptionCuratorTests
{
    private static readonly CaptionCurator Paper = new(RuleFilterSettings.Default);

    [Fact]
    public void Plain_caption_passes_with_flagged_words_and_perplexity_reported_skipped()
    {
        // "a photo of a dog on the beach": 29 code points, 22 letters, 7 spaces.
        // alnum 22/29 ≈ 0.759 ≥ 0.6; special 7/29 ≈ 0.241 in [0.165, 0.420];
        // its 20 character 10-grams are distinct -> 0; 8 words < 10 -> word_rep 0.
        var result = Paper.Evaluate("a photo of a dog on the beach");
        result.Kept.Should().BeTrue();
        result.RejectReason.Should().BeNull();
        result.Statistics.AlnumRatio.Should().Be(22.0 / 29);
        result.Statistics.SpecialCharRatio.Should().Be(7.0 / 29);
        result.Verdicts.Select(v => v.Statistic).Should().Equal(
            "alnum_ratio", "char_rep_ratio", "flagged_words_ratio", "perplexity", "special_char_ratio", "word_rep_ratio");
        result.Verdicts.Select(v => v.Outcome).Should().Equal(
            VerdictOutcome.Passed, VerdictOutcome.Passed, VerdictOutcome.Skipped,
            VerdictOutcome.Skipped, VerdictOutcome.Passed, VerdictOutcome.Passed);
        result.Verdicts[3].Reason.Should().Be(CaptionCurator.PerplexitySkipReason).And.StartWith("skipped: needs KenLM ARPA + SentencePiece model files");
        result.Verdicts[2].Reason.Should().StartWith("skipped:");
        result.Statistics.NamedValues().Should().Equal(
            new KeyValuePair<string, double?>("alnum_ratio", 22.0 / 29),
            new KeyValuePair<string, double?>("char_rep_ratio", 0.0),
            new KeyValuePair<string, double?>("flagged_words_ratio", null),
            new KeyValuePair<string, double?>("perplexity", null),
            new KeyValuePair<string, double?>("special_char_ratio", 7.0 / 29),
            new KeyValuePair<string, double?>("word_rep_ratio", 0.0));
    }

    [Fact]
    public void First_failing_filter_gives_the_reason()
    {
        // "ab!!!" : alnum 2/5 = 0.4 < 0.6 (first in order); special 3/5 = 0.6 > 0.42023757 also fails.
        var result = Paper.Evaluate("ab!!!");
        result.Kept.Should().BeFalse();
        result.RejectReason.Should().Be("alnum_ratio 0.4 below min 0.6");
        result.Verdicts[4].Reason.Should().Be("special_char_ratio 0.6 above max 0.42023757");
    }

    [Fact]
    public void Reason_shows_full_precision_when_rounding_would_hide_the_violation()
    {
        // with min 0 and max 0.3333, text "ab " has special 1/3 = 0.33333..., rounded 0.3333 equals the max.
        var curator = new CaptionCurator(RuleFilterSettings.Default with { SpecialCharMinRatio = 0, SpecialCharMaxRatio = 0.3333 });
        var result = curator.Evaluate("ab ");
        result.RejectReason.Should().Be("special_char_ratio 0.3333333333333333 above max 0.3333");
    }

    [Fact]
    public void No_special_characters_fails_the_paper_minimum()
    {
        // "abcdefghijklmnop": alnum 1.0, 16 letters -> 7 distinct 10-grams -> char_rep 0, special 0 < 0.16534802.
        Paper.Evaluate("abcdefghijklmnop").RejectReason.Should().Be("special_char_ratio 0 below min 0.16534802");
    }

    [Fact]
    public void Flagged_word_drops_the_caption_at_max_zero()
    {
        var curator = new CaptionCurator(RuleFilterSettings.Default, FlaggedWordList.FromWords(["gore"]));
        // "a dog with gore on it": refined a,dog,with,gore,on,it -> 1/6 > 0.0.
        var result = curator.Evaluate("a dog with gore on it");
        result.Statistics.FlaggedWordsRatio.Should().Be(1.0 / 6);
        result.RejectReason.Should().Be("flagged_words_ratio 0.1667 above max 0");
        curator.Evaluate("a dog with a ball on it").Verdicts[2].Outcome.Should().Be(VerdictOutcome.Passed);
    }

    [Fact]
    public void Flagged_words_path_is_loaded_from_settings()
    {
        var path = Path.Combine(Path.GetTempPath(), $"flagged_{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "gore\n");
        try
        {
            var curator = new CaptionCurator(RuleFilterSettings.Default with { FlaggedWordsPath = path });
            curator.Evaluate("gore gore").Statistics.FlaggedWordsRatio.Should().Be(1.0);
        }
        finally
        {
            File.Delete(path);
        }
        var missing = () => new CaptionCurator(RuleFilterSettings.Default with { FlaggedWordsPath = "/nonexistent/words.txt" });
        missing.Should().Throw<FileNotFoundException>();
    }

    [Theory]
    [InlineData(nameof(RuleFilterSettings.AlnumMinRatio))]
    [InlineData(nameof(RuleFilterSettings.CharRepMaxRatio))]
    [InlineData(nameof(RuleFilterSettings.CharRepLen))]
    [InlineData(nameof(RuleFilterSettings.WordRepLen))]
    [InlineData(nameof(RuleFilterSettings.SpecialCharMinRatio))]
    [InlineData(nameof(RuleFilterSettings.PerplexityMax))]
    [InlineData(nameof(RuleFilterSettings.FlaggedWordsLanguage))]
    [InlineData(nameof(RuleFilterSettings.FlaggedWordsPath))]
    public void Invalid_setting_is_named(string field)
    {
        var d = RuleFilterSettings.Default;
        var bad = field switch
        {
            nameof(RuleFilterSettings.AlnumMinRatio) => d with { AlnumMinRatio = -0.1 },
            nameof(RuleFilterSettings.CharRepMaxRatio) => d with { CharRepMaxRatio = double.NaN },
            nameof(RuleFilterSettings.CharRepLen) => d with { CharRepLen = 0 },
            nameof(RuleFilterSettings.WordRepLen) => d with { WordRepLen = -3 },
            nameof(RuleFilterSettings.SpecialCharMinRatio) => d with { SpecialCharMinRatio = 0.5 }, // above its max 0.42
            nameof(RuleFilterSettings.PerplexityMax) => d with { PerplexityMax = 0 },
            nameof(RuleFilterSettings.FlaggedWordsLanguage) => d with { FlaggedWordsLanguage = " " },
            _ => d with { FlaggedWordsPath = "" },
        };
        var act = () => new CaptionCurator(bad, flaggedWords: null);
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(field);
    }

    [Fact]
    public void Defaults_are_the_papers_thresholds()
    {
        var d = RuleFilterSettings.Default;
        (d.AlnumMinRatio, d.CharRepLen, d.CharRepMaxRatio, d.FlaggedWordsMaxRatio, d.PerplexityMax).Should()
            .Be((0.60, 10, 0.09373663, 0.0, 5500.0));
        (d.SpecialCharMinRatio, d.SpecialCharMaxRatio, d.WordRepLen, d.WordRepMaxRatio).Should()
            .Be((0.16534802, 0.42023757, 10, 0.03085751));
        d.AlnumMaxRatio.Should().Be(double.PositiveInfinity);
    }

    [Theory]
    // Empty and whitespace-only: every ratio defined; alnum 0 < 0.6 drops them.
    [InlineData("")]
    [InlineData(" \t\n ")]
    [InlineData("\u0000\u0001\u001B[31m")]
    public void Bad_input_gets_defined_statistics(string text)
    {
        var result = Paper.Evaluate(text);
        result.Kept.Should().BeFalse();
        result.RejectReason.Should().StartWith("alnum_ratio ");
        var s = result.Statistics;
        new[] { s.AlnumRatio, s.CharRepRatio, s.SpecialCharRatio, s.WordRepRatio }.Should().OnlyContain(v => v >= 0 && v <= 1);
    }

    [Fact]
    public void Lone_surrogates_get_defined_statistics()
    {
        // Built in code: attribute strings are stored as UTF-8, which cannot hold a lone surrogate.
        // "a\uD800b\uDFFFc" -> a, U+FFFD, b, U+FFFD, c: alnum 3/5 = 0.6 passes; special 2/5 = 0.4 passes.
        var result = Paper.Evaluate("a\uD800b\uDFFFc");
        result.Statistics.ReplacedCharacters.Should().Be(2);
        result.Statistics.AlnumRatio.Should().Be(3.0 / 5);
        result.Statistics.SpecialCharRatio.Should().Be(2.0 / 5);
        result.Kept.Should().BeTrue();
    }

    [Fact]
    public void Hundred_kilobyte_caption_is_handled()
    {
        // 100 000 × 'x': 99 991 identical 10-grams -> char_rep 1.0; alnum 1.0; special 0; one word -> word_rep 0.
        var s = Paper.Evaluate(new string('x', 100_000)).Statistics;
        (s.AlnumRatio, s.CharRepRatio, s.SpecialCharRatio, s.WordRepRatio, s.CodePoints, s.Words).Should()
            .Be((1.0, 1.0, 0.0, 0.0, 100_000, 1));
        // 20 000 × "ab c " (100 000 code points): words alternate ab, c, so every word 10-gram is one of
        // two, each seen about 20 000 times -> all frequencies > 1 -> word_rep 1.0.
        var t = Paper.Evaluate(string.Concat(Enumerable.Repeat("ab c ", 20_000))).Statistics;
        t.WordRepRatio.Should().Be(1.0);
        t.Words.Should().Be(40_000);
    }

    [Fact]
    public void Concurrent_evaluation_equals_sequential()
    {
        var texts = ReferenceParityTests.GenerateCaptions(2000, seed: 1234);
        var curator = new CaptionCurator(RuleFilterSettings.Default, FlaggedWordList.FromWords(["abcde"]));
        var sequential = texts.Select(t => curator.Evaluate(t).Statistics).ToArray();
        var parallel = new RuleStatistics[texts.Length];
        Parallel.For(0, texts.Length, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i => parallel[i] = curator.Evaluate(texts[i]).Statistics);
        parallel.Should().Equal(sequential);
    }
}
