using SynthVlm.Curation.Cleaning;

namespace SynthVlm.Curation.Tests.Cleaning;

public class CaptionCleanerTests
{
    [Fact]
    public void Off_by_default_so_the_curator_scores_captions_as_given()
    {
        RuleFilterSettings.Default.Cleaning.Should().Be(CaptionCleaningSettings.None);
        new CaptionCleaner(CaptionCleaningSettings.None).Mappers.Should().BeEmpty();
        new CaptionCurator(RuleFilterSettings.Default).Evaluate("Tom &amp; Jerry on a sofa").Cleaning.Should().BeNull();
    }

    [Fact]
    public void Mappers_run_in_recipe_order_and_each_change_is_recorded_with_before_and_after()
    {
        var all = CaptionCleaningSettings.DataJuicerRecipe with { CleanHtml = true };
        var cleaner = new CaptionCleaner(all);
        cleaner.Mappers.Select(m => m.Name).Should().Equal(CaptionCleaner.AllMapperNames);
        var cleaned = cleaner.Clean("  <b>Café</b> — mail me@x.org or see www.x.org/a\u3000 ");
        cleaned.Changes.Select(c => c.Mapper).Should().Equal(
            "clean_html_mapper", "clean_email_mapper", "clean_links_mapper", "fix_unicode_mapper", "punctuation_normalization_mapper", "whitespace_normalization_mapper");
        cleaned.Changes[0].Before.Should().Be("  <b>Café</b> — mail me@x.org or see www.x.org/a\u3000 ");
        cleaned.Changes[0].After.Should().Be("  Café — mail me@x.org or see www.x.org/a\u3000 ");
        for (var i = 1; i < cleaned.Changes.Count; i++)
        {
            cleaned.Changes[i].Before.Should().Be(cleaned.Changes[i - 1].After);
        }
        cleaned.Text.Should().Be("Café  -  mail  or see");
    }

    [Fact]
    public void The_curator_scores_the_cleaned_text()
    {
        var curator = new CaptionCurator(RuleFilterSettings.Default with { Cleaning = CaptionCleaningSettings.LlavaPretrainRecipe });
        var result = curator.Evaluate("A dog &amp; a cat on a sofa");
        result.Cleaning!.Text.Should().Be("A dog & a cat on a sofa");
        result.Cleaning.Changes.Should().ContainSingle().Which.Mapper.Should().Be("fix_unicode_mapper");
        result.Statistics.Should().Be(new CaptionCurator(RuleFilterSettings.Default).Evaluate("A dog & a cat on a sofa").Statistics);
    }

    [Fact]
    public void Null_cleaning_settings_are_refused_with_the_setting_named()
    {
        var act = () => new CaptionCurator(RuleFilterSettings.Default with { Cleaning = null! });
        act.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("Cleaning");
    }
}
