using SynthVlm.Curation;

namespace SynthVlm.Curation.Tests;

// Every expected value below is derived by hand from Data-Juicer's definitions (see the XML doc
// of DataJuicerStatistics); the derivation sits next to each case. Ratios are compared exactly
// where they are quotients of small integers computed the same way (int / int in IEEE double).
public class AlnumRatioTests
{
    [Theory]
    // "" : len 0 -> 0.0 by definition (no division).
    [InlineData("", 0.0)]
    // "a cat 42!" : 9 code points; alnum a,c,a,t,4,2 = 6 -> 6/9.
    [InlineData("a cat 42!", 6.0 / 9)]
    // "   " : whitespace only -> 0/3.
    [InlineData("   ", 0.0)]
    // "一只猫。" : 一 只 猫 are Lo (isalpha) -> alnum; 。 (U+3002) is Po -> 3/4.
    [InlineData("一只猫。", 3.0 / 4)]
    // "cat 😀" : 5 code points (the emoji is one, though two UTF-16 units); alnum c,a,t -> 3/5.
    [InlineData("cat 😀", 3.0 / 5)]
    // "«été»" : «, » are Pi/Pf; é, t, é are letters -> 3/5.
    [InlineData("«été»", 3.0 / 5)]
    // "x²" : ² (U+00B2, No, numeric value 2) is str.isnumeric -> alnum; 2/2.
    [InlineData("x²", 1.0)]
    // "１２Ⅻ" : fullwidth digits (Nd) and roman numeral twelve (Nl, numeric) -> 3/3.
    [InlineData("１２Ⅻ", 1.0)]
    // "a\u0000b\u0007" : control characters count in len but are not alnum -> 2/4.
    [InlineData("a\u0000b\u0007", 2.0 / 4)]
    // "⁂ok" : ⁂ (U+2042, Po) not alnum -> 2/3.
    [InlineData("⁂ok", 2.0 / 3)]
    public void Matches_hand_derivation(string text, double expected) =>
        DataJuicerStatistics.AlnumRatio(text).Should().Be(expected);

    [Fact]
    public void Lone_surrogate_counts_as_one_replacement_character()
    {
        // "a\uD800b" : 3 code points, the lone surrogate read as U+FFFD (not alnum) -> 2/3.
        var stats = DataJuicerStatistics.Compute("a\uD800b");
        stats.AlnumRatio.Should().Be(2.0 / 3);
        stats.CodePoints.Should().Be(3);
        stats.ReplacedCharacters.Should().Be(1);
    }
}

public class SpecialCharRatioTests
{
    [Theory]
    // "" -> 0.0.
    [InlineData("", 0.0)]
    // "a cat 42!" : ' ', ' ', '4', '2' (digits), '!' (punctuation) -> 5/9.
    [InlineData("a cat 42!", 5.0 / 9)]
    // " \t\n" : string.whitespace -> 3/3.
    [InlineData(" \t\n", 1.0)]
    // "\u00A0" : no-break space is neither in string.whitespace nor in OTHER_SPECIAL_CHARACTERS -> 0.
    [InlineData("\u00A0", 0.0)]
    // "一只猫。" : 一 (U+4E00) and 。 (U+3002) are in OTHER_SPECIAL_CHARACTERS; 只, 猫 are not -> 2/4.
    [InlineData("一只猫。", 2.0 / 4)]
    // "cat 😀" : ' ' and 😀 (U+1F600, a single-code-point emoji key) -> 2/5.
    [InlineData("cat 😀", 2.0 / 5)]
    // "❤️" : U+2764 is an emoji key, U+FE0F (variation selector) on its own is not -> 1/2.
    [InlineData("\u2764\uFE0F", 1.0 / 2)]
    // "🇫🇷" : regional indicators are emoji only as pairs, never per code point -> 0/2.
    [InlineData("🇫🇷", 0.0)]
    // "«été»" : « and » are in OTHER_SPECIAL_CHARACTERS -> 2/5.
    [InlineData("«été»", 2.0 / 5)]
    // "１２" : １ (U+FF11) is listed, ２ (U+FF12) is not -> 1/2.
    [InlineData("１２", 1.0 / 2)]
    // "⁂ok" : ⁂ is Unicode punctuation missing from every set -> 0/3.
    [InlineData("⁂ok", 0.0)]
    // "ªº" : feminine/masculine ordinals are letters yet listed as special -> 2/2.
    [InlineData("ªº", 1.0)]
    // "a\u0000b\u0007" : NUL and BEL are in no set -> 0/4.
    [InlineData("a\u0000b\u0007", 0.0)]
    public void Matches_hand_derivation(string text, double expected) =>
        DataJuicerStatistics.SpecialCharRatio(text).Should().Be(expected);

    [Fact]
    public void Lone_surrogate_is_the_listed_replacement_character()
    {
        // "a\uDC00" : U+FFFD is in OTHER_SPECIAL_CHARACTERS -> 1/2.
        DataJuicerStatistics.SpecialCharRatio("a\uDC00").Should().Be(0.5);
    }

    [Fact]
    public void Emoji_table_holds_the_single_code_point_keys_of_emoji_2_2_0()
    {
        // make_emoji_codepoints.py reported 1386 single-code-point keys of 4733.
        PythonText.EmojiCount.Should().Be(1386);
        PythonText.IsSpecial(0x1F600).Should().BeTrue();
        PythonText.IsSpecial(0x1F1E6).Should().BeFalse();
    }
}

public class CharRepRatioTests
{
    [Theory]
    // "" : no 10-grams -> 0.0.
    [InlineData("", 0.0)]
    // "abcdefghi" : 9 < rep_len 10 -> no n-grams -> 0.0.
    [InlineData("abcdefghi", 0.0)]
    // "abcdefghij" : one 10-gram, D=1, S=1, k=min(int(sqrt 1), 1-1)=0 -> 0/1.
    [InlineData("abcdefghij", 0.0)]
    // 12 × 'a' : 3 identical 10-grams, D=1, S=0, k=min(1,1)=1 -> 3/3.
    [InlineData("aaaaaaaaaaaa", 1.0)]
    // "abcdefghij" twice : 11 10-grams; starts 0..9 are distinct rotations, start 10 repeats start 0.
    // D=10, S=9, k=min(int(sqrt 10)=3, 1)=1 -> top frequency 2 / 11.
    [InlineData("abcdefghijabcdefghij", 2.0 / 11)]
    // 11 × 猫 : 2 identical 10-grams of code points -> D=1, S=0, k=1 -> 2/2.
    [InlineData("猫猫猫猫猫猫猫猫猫猫猫", 1.0)]
    // 12 × 😀 : 12 code points (24 UTF-16 units) -> 3 identical 10-grams -> 3/3.
    [InlineData("😀😀😀😀😀😀😀😀😀😀😀😀", 1.0)]
    // 10 × 😀 : one 10-gram of code points -> 0.0 (counting UTF-16 units would give 11 n-grams with repeats).
    [InlineData("😀😀😀😀😀😀😀😀😀😀", 0.0)]
    public void Matches_hand_derivation_at_rep_len_10(string text, double expected) =>
        DataJuicerStatistics.CharRepRatio(text).Should().Be(expected);

    [Fact]
    public void Top_k_is_limited_by_the_square_root_of_distinct_ngrams()
    {
        // "ababab", rep_len 2 : bigrams ab,ba,ab,ba,ab -> ab:3, ba:2; D=2, S=0,
        // k=min(int(sqrt 2)=1, 2)=1 -> only the top frequency 3 counts -> 3/5.
        DataJuicerStatistics.CharRepRatio("ababab", 2).Should().Be(3.0 / 5);
    }

    [Fact]
    public void Several_repeated_ngrams_sum_the_largest()
    {
        // "aaaaabbbbbcc", rep_len 1 : a:5, b:5, c:2 -> D=3, S=0, k=min(int(sqrt 3)=1, 3)=1 -> 5/12.
        DataJuicerStatistics.CharRepRatio("aaaaabbbbbcc", 1).Should().Be(5.0 / 12);
        // "aabbccdde" rep_len 1 : a:2 b:2 c:2 d:2 e:1 -> D=5, S=1, k=min(int(sqrt 5)=2, 4)=2 -> (2+2)/9.
        DataJuicerStatistics.CharRepRatio("aabbccdde", 1).Should().Be(4.0 / 9);
    }
}

public class WordRepRatioTests
{
    [Theory]
    // "" -> no words -> 0.0.
    [InlineData("", 0.0)]
    // 9 words < rep_len 10 -> 0.0.
    [InlineData("a a a a a a a a a", 0.0)]
    // 11 × "a" : two identical 10-grams -> frequencies {2} -> 2/2.
    [InlineData("a a a a a a a a a a a", 1.0)]
    // 11 words separated by mixed '\n', '\t' and runs of spaces, with case and punctuation differences:
    // refine -> 11 × "dog" -> 2 identical 10-grams -> 1.0.
    [InlineData("Dog dog\ndog\tDOG  dog, dog. «dog» dog! dog? (dog) dog", 1.0)]
    public void Matches_hand_derivation_at_rep_len_10(string text, double expected) =>
        DataJuicerStatistics.WordRepRatio(text).Should().Be(expected);

    [Theory]
    // "The cat. the CAT!" : refined the,cat,the,cat -> bigrams "the cat"×2, "cat the"×1 -> 2/3.
    [InlineData("The cat. the CAT!", 2.0 / 3)]
    // "e-mail e-mail email email" : interior '-' stays -> bigrams (e-mail e-mail),(e-mail email),(email email) all distinct -> 0.
    [InlineData("e-mail e-mail email email", 0.0)]
    // "cat 😀 cat" : the emoji word strips to empty and is dropped -> words cat,cat -> one bigram -> 0/1.
    [InlineData("cat 😀 cat", 0.0)]
    // "2024 2024 2024" : digits are special, every word strips to empty -> no bigrams -> 0.0.
    [InlineData("2024 2024 2024", 0.0)]
    public void Matches_hand_derivation_at_rep_len_2(string text, double expected) =>
        DataJuicerStatistics.WordRepRatio(text, 2).Should().Be(expected);

    [Theory]
    // "cat 😀 cat" rep_len 1 : words cat, cat -> unigram frequency 2 -> 2/2.
    [InlineData("cat 😀 cat", 1.0)]
    // No-break space does not split: words "cat\u00A0cat" twice -> 2/2.
    [InlineData("cat\u00A0cat cat\u00A0cat", 1.0)]
    // '\r' does not split either: words "cat\rdog", "cat", "dog" -> all distinct -> 0/3.
    [InlineData("cat\rdog cat dog", 0.0)]
    public void Matches_hand_derivation_at_rep_len_1(string text, double expected) =>
        DataJuicerStatistics.WordRepRatio(text, 1).Should().Be(expected);

    [Fact]
    public void Refinement_lowercases_then_strips_special_characters_at_both_ends()
    {
        // "A1" -> "a1" -> trailing digit stripped -> "a"; "1a" -> "a"; "123" -> "" dropped;
        // "«Chat»" -> "«chat»" -> "chat"; "don't" keeps its interior apostrophe.
        DataJuicerStatistics.RefineWords("A1 1a 123 «Chat» don't").Should().Equal("a", "a", "chat", "don't");
    }

    [Fact]
    public void Refinement_uses_python_full_lowercasing()
    {
        // Python: "ΟΔΟΣ.".lower() == "οδος." (final sigma before a case-ignorable '.' at the end),
        // "ΣΑ".lower() == "σα" (no cased letter before), "İ".lower() == "i\u0307" (two code points).
        DataJuicerStatistics.RefineWords("ΟΔΟΣ. ΣΑ İ").Should().Equal("οδος", "σα", "i\u0307");
    }
}

public class FlaggedWordsRatioTests
{
    private static readonly FlaggedWordList CatDog = FlaggedWordList.FromWords(["cat", "dog"]);

    [Theory]
    // "" -> no words -> 0.0.
    [InlineData("", 0.0)]
    // "The Cat sat on the dog." : refined the,cat,sat,on,the,dog -> cat, dog flagged -> 2/6.
    [InlineData("The Cat sat on the dog.", 2.0 / 6)]
    // "«CAT»!!! 😀" : refined "cat" (the emoji word drops) -> 1/1.
    [InlineData("«CAT»!!! 😀", 1.0)]
    // "catalog dogma" : whole-word match only -> 0/2.
    [InlineData("catalog dogma", 0.0)]
    public void Matches_hand_derivation(string text, double expected) =>
        DataJuicerStatistics.FlaggedWordsRatio(text, CatDog).Should().Be(expected);

    [Fact]
    public void Upper_case_list_entries_never_match_refined_words()
    {
        // Words are lower-cased before lookup and the list is not, as in Data-Juicer.
        DataJuicerStatistics.FlaggedWordsRatio("Cat cat", FlaggedWordList.FromWords(["Cat"])).Should().Be(0.0);
    }

    [Fact]
    public void Json_list_takes_the_language_key_and_all_merges()
    {
        var path = Path.Combine(Path.GetTempPath(), $"flagged_words_{Guid.NewGuid():N}.json");
        File.WriteAllText(path, """{"en": ["bad"], "zh": ["坏"]}""");
        try
        {
            FlaggedWordList.Load(path).Count.Should().Be(1);
            var all = FlaggedWordList.Load(path, "all");
            all.Count.Should().Be(2);
            // "bad 坏 good" : 3 refined words, bad and 坏 flagged under "all" -> 2/3.
            DataJuicerStatistics.FlaggedWordsRatio("bad 坏 good", all).Should().Be(2.0 / 3);
            var missing = () => FlaggedWordList.Load(path, "fr");
            missing.Should().Throw<InvalidDataException>().WithMessage("*no \"fr\" list*");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Text_list_is_one_word_per_line()
    {
        var path = Path.Combine(Path.GetTempPath(), $"flagged_{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, "bad\r\n\n  worse \n");
        try
        {
            var list = FlaggedWordList.Load(path);
            list.Count.Should().Be(2);
            list.Contains("worse").Should().BeTrue();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Malformed_or_missing_files_are_named_in_the_error()
    {
        var path = Path.Combine(Path.GetTempPath(), $"flagged_{Guid.NewGuid():N}.json");
        File.WriteAllText(path, "{\"en\": [1]}");
        try
        {
            var act = () => FlaggedWordList.Load(path);
            act.Should().Throw<InvalidDataException>().WithMessage($"*{path}*expected strings*");
        }
        finally
        {
            File.Delete(path);
        }
        var absent = () => FlaggedWordList.Load("/nonexistent/flagged.json");
        absent.Should().Throw<FileNotFoundException>().WithMessage("*/nonexistent/flagged.json*");
    }
}
