namespace SynthVlm.LanguageModels.Tests;

public class ArpaModelTests
{
    // A hand-written trigram model; every expected score below is derived from it by hand.
    private const string HandArpa = """

        \data\
        ngram 1=5
        ngram 2=4
        ngram 3=2

        \1-grams:
        -1.0	<unk>
        -99	<s>	-0.5
        -0.6	</s>
        -0.7	a	-0.3
        -0.8	b	-0.2

        \2-grams:
        -0.4	<s> a	-0.1
        -0.3	a b	-0.25
        -0.2	b </s>
        -0.5	a a

        \3-grams:
        -0.15	<s> a b
        -0.05	a b </s>

        \end\

        """;

    // Sums of a few float32 values: single-precision rounding stays far below 1e-6.
    private const double HandTolerance = 1e-6;

    private static ArpaModel Hand() => ArpaModel.Parse(new StringReader(HandArpa), "hand.arpa");

    [Fact]
    public void Reads_orders_and_counts()
    {
        var lm = Hand();
        lm.Order.Should().Be(3);
        lm.Counts.Should().Equal(5L, 4L, 2L);
        lm.VocabularySize.Should().Be(5);
        lm.Contains("a").Should().BeTrue();
        lm.Contains("zebra").Should().BeFalse();
    }

    [Theory]
    // a|<s> = p(<s> a) = -0.4; b|<s> a = p(<s> a b) = -0.15; </s>|a b = p(a b </s>) = -0.05.
    [InlineData("a b", true, true, -0.6)]
    // b|<s>: no "<s> b" → bo(<s>) + p(b) = -0.5 - 0.8 = -1.3;
    // a|<s> b: no "b a" → p(a) + bo(b) + bo(<s> b)=0 → -0.7 - 0.2 = -0.9;
    // </s>|b a: no "a </s>" → p(</s>) + bo(a) + bo(b a)=0 → -0.6 - 0.3 = -0.9. Total -3.1.
    [InlineData("b a", true, true, -3.1)]
    // x is unknown → <unk>: a|<s> = -0.4; <unk>|<s> a = p(<unk>) + bo(a) + bo(<s> a) = -1.0 - 0.3 - 0.1 = -1.4;
    // </s>|a <unk> = p(</s>) + bo(<unk>)=0 = -0.6. Total -2.4.
    [InlineData("a x", true, true, -2.4)]
    // No <s>: a = p(a) = -0.7; b|a = p(a b) = -0.3. Total -1.0.
    [InlineData("a b", false, false, -1.0)]
    // a|<s> = -0.4; a|<s> a: no "<s> a a", "a a" = -0.5 plus bo(<s> a) -0.1 → -0.6;
    // b|a a: no "a a b", "a b" = -0.3, bo(a a) absent → -0.3. Total -1.3.
    [InlineData("a a b", true, false, -1.3)]
    // </s>|<s>: no "<s> </s>" → p(</s>) + bo(<s>) = -0.6 - 0.5 = -1.1.
    [InlineData("", true, true, -1.1)]
    // Runs of ASCII whitespace separate words as Python's bytes.split() does.
    [InlineData(" \ta \n b\r\n", true, true, -0.6)]
    public void Scores_hand_derived_sentences(string sentence, bool bos, bool eos, double expected)
    {
        Hand().Score(sentence, bos, eos).Should().BeApproximately(expected, HandTolerance);
    }

    [Fact]
    public void Missing_unk_gets_kenlm_default_probability()
    {
        var arpa = "\\data\\\nngram 1=3\nngram 2=1\n\n\\1-grams:\n-1\t<s>\t-0.5\n-0.5\t</s>\n-0.3\ta\n\n\\2-grams:\n-0.1\t<s> a\n\n\\end\\\n";
        var lm = ArpaModel.Parse(new StringReader(arpa), "nounk.arpa");
        lm.Contains("<unk>").Should().BeTrue();
        lm.Counts[0].Should().Be(4);
        // zebra|<s> = p(<unk>) + bo(<s>) = -100 - 0.5; </s>|<unk> = -0.5.
        lm.Score("zebra").Should().BeApproximately(-101.0, 1e-4);
    }

    [Fact]
    public void Matches_the_independent_python_backoff_scorer_on_the_fixture_model()
    {
        var lm = Fixtures.Arpa;
        using var expected = Fixtures.Json("lm_expected.json");
        var rows = expected.RootElement.GetProperty("scores").EnumerateArray().ToArray();
        rows.Length.Should().BeGreaterThan(100);
        foreach (var row in rows)
        {
            var sentence = row.GetProperty("sentence").GetString()!;
            var bos = row.GetProperty("bos").GetBoolean();
            var eos = row.GetProperty("eos").GetBoolean();
            // Both sides add the same float32 terms in the same order, so the sums agree exactly.
            lm.Score(sentence, bos, eos).Should().Be(row.GetProperty("score").GetDouble(), $"score({sentence}, bos={bos}, eos={eos})");
        }
    }

    [Fact]
    public void Missing_file_is_reported_with_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), "synthvlm-no-such.arpa");
        var act = () => ArpaModel.Load(path);
        act.Should().Throw<FileNotFoundException>().WithMessage($"*{path}*");
    }

    [Theory]
    [InlineData("hello\n", 1, "*expected \\data\\*")]
    [InlineData("\\data\\\nngram one=3\n", 2, "*ngram N=COUNT*")]
    [InlineData("\\data\\\nngram 1=3\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\n\\end\\\n", 7, "*declares 3 entries but has only 2*")]
    [InlineData("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\nabc\t</s>\n\n\\end\\\n", 6, "*log10 probability*'abc'*")]
    [InlineData("\\data\\\nngram 1=2\nngram 2=1\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\n\\2-grams:\n-1\t<s> zebra\n\n\\end\\\n", 10, "*'zebra'*not among the unigrams*")]
    [InlineData("\\data\\\nngram 1=2\nngram 2=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n\n\\2-grams:\n-1\t<s> </s>\n-2\t<s> </s>\n\n\\end\\\n", 11, "*duplicate 2-gram*")]
    [InlineData("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\t-0.5\t7\n\n\\end\\\n", 6, "*unexpected text*")]
    [InlineData("\\data\\\nngram 1=2\n\n\\1-grams:\n-1\t<s>\n-1\t</s>\n", 7, "*expected \\end\\*")]
    [InlineData("\\data\\\nngram 1=2\n\n\\2-grams:\n", 4, "*expected \\1-grams:*")]
    public void Malformed_arpa_names_the_line_and_the_problem(string text, long line, string message)
    {
        var act = () => ArpaModel.Parse(new StringReader(text), "bad.arpa");
        var error = act.Should().Throw<LanguageModelFormatException>().Which;
        error.LineNumber.Should().Be(line);
        error.FilePath.Should().Be("bad.arpa");
        error.Message.Should().Match(message).And.StartWith($"bad.arpa:{line}:");
    }

    [Fact]
    public void Model_without_sentence_markers_is_rejected()
    {
        var act = () => ArpaModel.Parse(new StringReader("\\data\\\nngram 1=1\n\n\\1-grams:\n-1\ta\n\n\\end\\\n"), "nomarkers.arpa");
        act.Should().Throw<LanguageModelFormatException>().WithMessage("*lack <s>*");
    }

    [Fact]
    public void Empty_file_is_rejected()
    {
        var path = Fixtures.TempFile(string.Empty);
        try
        {
            var act = () => ArpaModel.Load(path);
            act.Should().Throw<LanguageModelFormatException>().WithMessage("*empty*");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
