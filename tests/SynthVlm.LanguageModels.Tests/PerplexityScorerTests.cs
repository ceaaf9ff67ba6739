namespace SynthVlm.LanguageModels.Tests;

public class PerplexityScorerTests
{
    [Theory]
    [InlineData("sp_nfkc")]
    [InlineData("sp_identity")]
    public void Equals_data_juicer_perplexity_filter_on_every_probe_text(string modelName)
    {
        var scorer = new PerplexityScorer(Fixtures.Sp(modelName), Fixtures.Arpa);
        using var expected = Fixtures.Json("lm_expected.json");
        var rows = expected.RootElement.GetProperty("perplexities").GetProperty(modelName).EnumerateArray().ToArray();
        rows.Length.Should().BeGreaterThanOrEqualTo(200);
        var mismatches = new List<string>();
        foreach (var row in rows)
        {
            var text = row.GetProperty("text").GetString()!;
            var raw = row.GetProperty("raw").GetDouble();
            var rounded = row.GetProperty("perplexity").GetDouble();
            // Same float32 KenLM sums and the same double arithmetic after them: the raw value may
            // differ only by pow's last-bit rounding, and the rounded statistic must be identical.
            if (scorer.Perplexity(text) != rounded || Math.Abs(scorer.RawPerplexity(text) - raw) > 1e-9 * raw)
            {
                mismatches.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: expected {rounded} ({raw:R}), got {scorer.Perplexity(text)} ({scorer.RawPerplexity(text):R})");
            }
        }
        mismatches.Should().BeEmpty();
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\t")]
    public void Text_without_pieces_has_perplexity_zero(string text)
    {
        new PerplexityScorer(Fixtures.Sp("sp_nfkc"), Fixtures.Arpa).Perplexity(text).Should().Be(0.0);
    }

    [Fact]
    public void Null_arguments_are_rejected()
    {
        var act = () => new PerplexityScorer(null!, Fixtures.Arpa);
        act.Should().Throw<ArgumentNullException>().WithParameterName("tokenizer");
        var scorer = new PerplexityScorer(Fixtures.Sp("sp_nfkc"), Fixtures.Arpa);
        var perplexity = () => scorer.Perplexity(null!);
        perplexity.Should().Throw<ArgumentNullException>();
    }

    [Fact]
    public void Is_safe_to_call_from_many_threads()
    {
        var scorer = new PerplexityScorer(Fixtures.Sp("sp_nfkc"), Fixtures.Arpa);
        var texts = Fixtures.Texts();
        var sequential = texts.Select(scorer.Perplexity).ToArray();
        var parallel = new double[texts.Length];
        Parallel.For(0, texts.Length * 20, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            var k = i % texts.Length;
            var value = scorer.Perplexity(texts[k]);
            if (i >= texts.Length * 19)
            {
                parallel[k] = value;
            }
        });
        parallel.Should().Equal(sequential);
    }

    [Theory]
    // Values checked with CPython's round(x, 1): ties are decided on the exact binary value.
    [InlineData(0.25, 0.2)]
    [InlineData(0.35, 0.3)]
    [InlineData(0.75, 0.8)]
    [InlineData(1.05, 1.1)]
    [InlineData(2.675, 2.7)]
    [InlineData(0.05, 0.1)]
    [InlineData(1234.45, 1234.5)]
    [InlineData(5500.05, 5500.1)]
    [InlineData(7.95, 8.0)]
    [InlineData(1e-5, 0.0)]
    [InlineData(123456789.25, 123456789.2)]
    [InlineData(-0.25, -0.2)]
    public void Rounds_like_python(double value, double expected)
    {
        PerplexityScorer.PythonRound1(value).Should().Be(expected);
    }

    [Theory]
    [InlineData("a b c", 3)]
    [InlineData("  a\u00a0b\u3000c\u001fd  ", 4)]
    [InlineData("", 0)]
    [InlineData("\u2581x \u2581y", 2)]
    public void Counts_words_as_python_str_split(string line, int expected)
    {
        PerplexityScorer.CountPythonWords(line).Should().Be(expected);
    }
}
