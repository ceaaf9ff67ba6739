using System.Globalization;
using SynthVlm.Curation.Cleaning;
using Xunit.Abstractions;

namespace SynthVlm.Curation.Tests.Cleaning;

/// <summary>
/// What the paper's rule filters catch of a spam caption and what they do not (issue 19 point 4):
/// the statistics against each threshold, with and without cleaning.
/// </summary>
public class SpamCaptionTests(ITestOutputHelper output)
{
    private const string Spam = "BUY NOW!!! $$$ CLICK HERE http://spam.example.com/deal?id=42 $$$";

    private void Print(string title, CurationResult result)
    {
        output.WriteLine(title);
        foreach (var v in result.Verdicts)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {v.Filter}: {v.Statistic}={v.Value?.ToString("R", CultureInfo.InvariantCulture) ?? "-"} [{v.Min}, {v.Max}] {v.Outcome} {v.Reason}"));
        }
    }

    [Fact]
    public void Default_settings_keep_the_spam_caption_as_only_a_perplexity_model_or_word_list_could_catch_it()
    {
        var result = new CaptionCurator(RuleFilterSettings.Default).Evaluate(Spam);
        Print("default settings", result);
        result.Kept.Should().BeTrue();
        result.Cleaning.Should().BeNull();
        var byFilter = result.Verdicts.ToDictionary(v => v.Filter);
        // 64 code points: 41 alphanumeric (0.6406 ≥ 0.60), 25 special (0.3906 within [0.1653, 0.4202]).
        byFilter["alphanumeric_filter"].Outcome.Should().Be(VerdictOutcome.Passed);
        byFilter["alphanumeric_filter"].Value.Should().Be(41.0 / 64);
        byFilter["special_characters_filter"].Outcome.Should().Be(VerdictOutcome.Passed);
        byFilter["special_characters_filter"].Value.Should().Be(25.0 / 64);
        byFilter["character_repetition_filter"].Outcome.Should().Be(VerdictOutcome.Passed);
        byFilter["word_repetition_filter"].Outcome.Should().Be(VerdictOutcome.Passed);
        byFilter["flagged_words_filter"].Outcome.Should().Be(VerdictOutcome.Skipped);
        byFilter["perplexity_filter"].Outcome.Should().Be(VerdictOutcome.Skipped);
    }

    [Fact]
    public void Cleaning_removes_the_link_and_the_rules_then_drop_the_spam()
    {
        var result = new CaptionCurator(RuleFilterSettings.Default with { Cleaning = CaptionCleaningSettings.DataJuicerRecipe }).Evaluate(Spam);
        Print("data_juicer_recipe cleaning", result);
        result.Cleaning!.Text.Should().Be("BUY NOW!!! $$$ CLICK HERE  $$$");
        result.Cleaning.Changes.Select(c => c.Mapper).Should().Equal("clean_links_mapper");
        result.Cleaning.Changes[0].Before.Should().Be(Spam);
        // 30 code points left: 15 alphanumeric (0.5 < 0.60) and 15 special (0.5 > 0.4202).
        result.Kept.Should().BeFalse();
        result.RejectReason.Should().Be("alnum_ratio 0.5 below min 0.6");
        var byFilter = result.Verdicts.ToDictionary(v => v.Filter);
        byFilter["alphanumeric_filter"].Value.Should().Be(0.5);
        byFilter["special_characters_filter"].Outcome.Should().Be(VerdictOutcome.Failed);
        byFilter["special_characters_filter"].Value.Should().Be(0.5);
    }

    [Fact]
    public void Spam_in_plain_words_passes_every_rule_even_cleaned()
    {
        var result = new CaptionCurator(RuleFilterSettings.Default with { Cleaning = CaptionCleaningSettings.DataJuicerRecipe })
            .Evaluate("Buy now, get a big sale on all of our new shoes at the shop today.");
        Print("plain-word spam", result);
        result.Kept.Should().BeTrue();
        result.Cleaning!.Changed.Should().BeFalse();
    }
}
