using SynthVlm.Recaptioning.Prompts;

namespace SynthVlm.Recaptioning.Tests.Recaption;

public sealed class PromptTests
{
    [Theory]
    [InlineData("brief", "brief")]
    [InlineData("Detailed", "detailed")]
    [InlineData("knowledge_rich", "knowledge-rich")]
    [InlineData("knowledge", "knowledge-rich")]
    public void Presets_are_found_by_name(string name, string expected) =>
        CaptionPrompt.Preset(name).Name.Should().Be(expected);

    [Fact]
    public void An_unknown_preset_lists_the_known_ones()
    {
        var act = () => CaptionPrompt.Preset("poetic");
        act.Should().Throw<ArgumentException>().WithMessage("*'poetic'*brief, detailed, knowledge-rich*");
    }

    [Fact]
    public void A_custom_prompt_is_recorded_as_custom_with_its_text()
    {
        CaptionPrompt.Custom("  Describe the image. ").Should().Be(new CaptionPrompt("custom", 1, "Describe the image."));
        var act = () => CaptionPrompt.Custom(" ");
        act.Should().Throw<ArgumentException>();
    }

    [Fact]
    public void A_word_limit_is_stated_in_the_prompt() =>
        CaptionPrompt.Brief.Render(30).Should().Be(CaptionPrompt.Brief.Text + " Use at most 30 words.");

    [Theory]
    [InlineData("  A dog. It runs  ", null, false, "A dog. It runs", false)]
    [InlineData("A dog. It runs", null, true, "A dog.", true)]
    [InlineData("A dog sits. A cat sleeps on the mat.", 5, true, "A dog sits.", true)]
    [InlineData("One two three four five six", 3, true, "One two three", true)]
    [InlineData("A sign says \"stop.\" Then", null, true, "A sign says \"stop.\"", true)]
    [InlineData("No sentence end here", null, true, "No sentence end here", false)]
    [InlineData("   ", null, true, "", false)]
    [InlineData("Version 1.5 of it. More", null, true, "Version 1.5 of it.", true)]
    public void Captions_are_cleaned_and_optionally_trimmed_to_a_sentence(string reply, int? maxWords, bool trim, string expected, bool expectTrimmed)
    {
        CaptionText.Clean(reply, new LengthControl(64, maxWords, trim), out var trimmed).Should().Be(expected);
        trimmed.Should().Be(expectTrimmed);
    }
}
