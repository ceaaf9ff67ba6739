using SynthVlm.LanguageModels;
using SynthVlm.Testing;

namespace SynthVlm.Curation.Tests;

public sealed class PerplexityFilterTests
{
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.LanguageModels.Tests", "Fixtures");
    private static readonly string Arpa = Path.Combine(Fixtures, "trigram.arpa");
    private static readonly string Pieces = Path.Combine(Fixtures, "sp_nfkc.model");

    [Fact]
    public void With_both_models_the_perplexity_filter_runs_with_the_scorers_value_and_its_max()
    {
        const string text = "the cat sat on the mat";
        var scorer = new PerplexityScorer(SentencePieceModel.Load(Pieces), ArpaModel.Load(Arpa));
        var expected = scorer.Perplexity(text);

        var lenient = new CaptionCurator(RuleFilterSettings.Default with { PerplexityArpaPath = Arpa, PerplexitySentencePiecePath = Pieces, PerplexityMax = expected + 1 });
        var result = lenient.Evaluate(text);
        result.Statistics.Perplexity.Should().Be(expected);
        var verdict = result.Verdicts.Single(v => v.Statistic == "perplexity");
        verdict.Outcome.Should().Be(VerdictOutcome.Passed);
        verdict.Value.Should().Be(expected);

        var strict = new CaptionCurator(RuleFilterSettings.Default with { PerplexityArpaPath = Arpa, PerplexitySentencePiecePath = Pieces, PerplexityMax = expected / 2 });
        var failed = strict.Evaluate(text).Verdicts.Single(v => v.Statistic == "perplexity");
        failed.Outcome.Should().Be(VerdictOutcome.Failed);
        failed.Reason.Should().Contain("perplexity").And.Contain("above max");
    }

    [Theory]
    [InlineData("trigram.probing.bin")]
    [InlineData("trigram.trie.bin")]
    public void A_kenlm_binary_model_gives_the_same_perplexity_as_its_arpa(string binary)
    {
        // build_binary output of trigram.arpa (Fixtures/kenlm/make_reference.py); chosen by content.
        const string text = "the cat sat on the mat";
        var fromArpa = new CaptionCurator(RuleFilterSettings.Default with { PerplexityArpaPath = Arpa, PerplexitySentencePiecePath = Pieces });
        var fromBinary = new CaptionCurator(RuleFilterSettings.Default with { PerplexityArpaPath = Path.Combine(Fixtures, "kenlm", binary), PerplexitySentencePiecePath = Pieces });
        var expected = fromArpa.Evaluate(text).Statistics.Perplexity;
        expected.Should().BeGreaterThan(0);
        fromBinary.Evaluate(text).Statistics.Perplexity.Should().Be(expected);
    }

    [Fact]
    public void Without_the_models_it_is_reported_skipped_and_one_model_alone_is_refused()
    {
        new CaptionCurator(RuleFilterSettings.Default).Evaluate("the cat sat on the mat").Verdicts.Single(v => v.Statistic == "perplexity")
            .Outcome.Should().Be(VerdictOutcome.Skipped);
        var act = () => new CaptionCurator(RuleFilterSettings.Default with { PerplexityArpaPath = Arpa });
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be(nameof(RuleFilterSettings.PerplexitySentencePiecePath));
    }
}
