using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Curation;
using SynthVlm.Testing;
using Xunit.Abstractions;

namespace SynthVlm.Curation.Tests;

/// <summary>
/// Differential tests against Python itself (the Debian interpreter): its str methods over all of
/// Unicode, and a plain Python implementation of Data-Juicer's statistics over generated captions.
/// Equality is exact: both sides divide the same two integers in IEEE double.
/// </summary>
public class ReferenceParityTests(ITestOutputHelper output)
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Curation.Tests", "Fixtures");
    private static readonly string EmojiFile = Path.Combine(RepoPaths.Root, "lib", "SynthVlm.Curation", "Data", "emoji_single_codepoints.txt");

    [Fact]
    public async Task Character_classes_and_lowercasing_match_python_where_both_unicode_versions_agree()
    {
        var result = await ChildProcess.RunPythonAsync(Path.Combine(Fixtures, "unicode_classes.py"), [], TimeSpan.FromMinutes(2));
        result.ExitCode.Should().Be(0, result.StandardError);
        var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var mismatches = new List<string>();
        var versionSkips = 0;
        var compared = 0;
        Span<int> lowered = stackalloc int[4];
        foreach (var line in lines.Skip(1))
        {
            var f = line.Split(' ');
            var cp = int.Parse(f[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            // Characters new in one Unicode version only (.NET's is newer) can legitimately differ.
            if (Abbreviation(CharUnicodeInfo.GetUnicodeCategory(cp)) != f[1])
            {
                versionSkips++;
                continue;
            }
            compared++;
            var alnum = f[2] == "1";
            var space = f[3] == "1";
            var finalAfter = f[4] == "1";
            var finalBefore = f[5] == "1";
            var expectedLower = f.Skip(6).Select(h => int.Parse(h, NumberStyles.HexNumber, CultureInfo.InvariantCulture)).ToArray();
            var n = PythonText.Lower([cp], lowered);
            if (PythonText.IsAlnum(cp) != alnum || PythonText.IsSpace(cp) != space || !lowered[..n].SequenceEqual(expectedLower)
                || FinalSigma(['A', cp, 0x3A3], 2) != finalAfter || FinalSigma(['A', 0x3A3, cp], 1) != finalBefore)
            {
                mismatches.Add(line);
            }
        }
        output.WriteLine($"Python unicodedata {lines[0]}: {compared} code points compared, {versionSkips} skipped (category differs); " +
            $".NET U+2FFC (Unicode 15.1) is {CharUnicodeInfo.GetUnicodeCategory(0x2FFC)}, U+1CC00 (Unicode 16.0) is {CharUnicodeInfo.GetUnicodeCategory(0x1CC00)}");
        compared.Should().BeGreaterThan(140_000, "Python {0} assigns that many code points", lines[0]);
        // The versions differ by a few thousand new characters at most (Unicode 14 vs 15.1/16).
        versionSkips.Should().BeLessThan(10_000);
        mismatches.Should().BeEmpty();
    }

    [Fact]
    public async Task Statistics_match_a_plain_python_implementation_on_generated_captions()
    {
        var texts = GenerateCaptions(600, seed: 20261122);
        var dir = Directory.CreateTempSubdirectory("curation-parity-");
        try
        {
            var textsPath = Path.Combine(dir.FullName, "texts.json");
            var flaggedPath = Path.Combine(dir.FullName, "flagged.txt");
            await File.WriteAllTextAsync(textsPath, JsonSerializer.Serialize(texts));
            await File.WriteAllTextAsync(flaggedPath, "cat\nοδος\ni\u0307stanbul\ndon't\n");
            var result = await ChildProcess.RunPythonAsync(Path.Combine(Fixtures, "dj_reference.py"),
                [textsPath, EmojiFile, flaggedPath, "10", "3", "1"], TimeSpan.FromMinutes(2));
            result.ExitCode.Should().Be(0, result.StandardError);
            var lines = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            lines.Should().HaveCount(texts.Length);
            var flagged = FlaggedWordList.Load(flaggedPath);
            for (var i = 0; i < texts.Length; i++)
            {
                using var expected = JsonDocument.Parse(lines[i]);
                var e = expected.RootElement;
                var because = $"text #{i} {JsonSerializer.Serialize(texts[i])}";
                var s10 = DataJuicerStatistics.Compute(texts[i], 10, 10, flagged);
                s10.AlnumRatio.Should().Be(e.GetProperty("alnum_ratio").GetDouble(), because);
                s10.SpecialCharRatio.Should().Be(e.GetProperty("special_char_ratio").GetDouble(), because);
                s10.FlaggedWordsRatio.Should().Be(e.GetProperty("flagged_words_ratio").GetDouble(), because);
                DataJuicerStatistics.RefineWords(texts[i]).Should().Equal(
                    e.GetProperty("words").EnumerateArray().Select(w => w.GetString()), because);
                foreach (var rep in new[] { 10, 3, 1 })
                {
                    var s = DataJuicerStatistics.Compute(texts[i], rep, rep);
                    var key = rep.ToString(CultureInfo.InvariantCulture);
                    s.CharRepRatio.Should().Be(e.GetProperty("char_rep_ratio").GetProperty(key).GetDouble(), because + $" rep_len {rep}");
                    s.WordRepRatio.Should().Be(e.GetProperty("word_rep_ratio").GetProperty(key).GetDouble(), because + $" rep_len {rep}");
                }
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static bool FinalSigma(int[] word, int sigmaIndex)
    {
        var lowered = new int[2 * word.Length];
        var n = PythonText.Lower(word, lowered);
        // Only U+0130 expands, and it cannot be a probe here without shifting the index.
        return n == word.Length ? lowered[sigmaIndex] == 0x3C2 : lowered[n - word.Length + sigmaIndex] == 0x3C2;
    }

    // Captions from a small vocabulary (so n-grams repeat) mixing the cases that matter: case
    // folding (final sigma, dotted İ, Kelvin sign, titlecase ǅ), special characters at word edges,
    // emoji single and composed, CJK, digits and numerics, separators that split and ones that do not.
    internal static string[] GenerateCaptions(int count, int seed)
    {
        string[] vocab =
        [
            "the", "The", "cat", "CAT", "cat.", "«cat»", "dog", "a", "on", "e-mail", "don't", "2024", "x²", "①", "½",
            "猫", "一只猫。", "😀", "❤️", "🇫🇷", "👍🏽", "ªº", "é", "e\u0301", "ǅemal", "straße", "ﬁne", "ΟΔΟΣ", "ΟΔΟΣ.",
            "ΣΑΣ", "Σ", "İstanbul", "\u212Aelvin", "⁂", "…", "—", "#tag", "@user", "(ok)", "„quote“", "ø", "Ğ", "ı",
        ];
        string[] separators = [" ", " ", " ", "  ", "\n", "\t", "", "\u00A0", "\r", "\u3000", "\u0085"];
        var random = new Random(seed);
        var texts = new string[count];
        for (var t = 0; t < count; t++)
        {
            var sb = new StringBuilder();
            var words = random.Next(0, 30);
            for (var w = 0; w < words; w++)
            {
                if (w > 0)
                {
                    sb.Append(separators[random.Next(separators.Length)]);
                }
                sb.Append(vocab[random.Next(random.Next(2) == 0 ? 8 : vocab.Length)]);
            }
            texts[t] = sb.ToString();
        }
        return texts;
    }

    private static string Abbreviation(UnicodeCategory c) => c switch
    {
        UnicodeCategory.UppercaseLetter => "Lu",
        UnicodeCategory.LowercaseLetter => "Ll",
        UnicodeCategory.TitlecaseLetter => "Lt",
        UnicodeCategory.ModifierLetter => "Lm",
        UnicodeCategory.OtherLetter => "Lo",
        UnicodeCategory.NonSpacingMark => "Mn",
        UnicodeCategory.SpacingCombiningMark => "Mc",
        UnicodeCategory.EnclosingMark => "Me",
        UnicodeCategory.DecimalDigitNumber => "Nd",
        UnicodeCategory.LetterNumber => "Nl",
        UnicodeCategory.OtherNumber => "No",
        UnicodeCategory.SpaceSeparator => "Zs",
        UnicodeCategory.LineSeparator => "Zl",
        UnicodeCategory.ParagraphSeparator => "Zp",
        UnicodeCategory.Control => "Cc",
        UnicodeCategory.Format => "Cf",
        UnicodeCategory.Surrogate => "Cs",
        UnicodeCategory.PrivateUse => "Co",
        UnicodeCategory.ConnectorPunctuation => "Pc",
        UnicodeCategory.DashPunctuation => "Pd",
        UnicodeCategory.OpenPunctuation => "Ps",
        UnicodeCategory.ClosePunctuation => "Pe",
        UnicodeCategory.InitialQuotePunctuation => "Pi",
        UnicodeCategory.FinalQuotePunctuation => "Pf",
        UnicodeCategory.OtherPunctuation => "Po",
        UnicodeCategory.MathSymbol => "Sm",
        UnicodeCategory.CurrencySymbol => "Sc",
        UnicodeCategory.ModifierSymbol => "Sk",
        UnicodeCategory.OtherSymbol => "So",
        _ => "Cn",
    };
}
