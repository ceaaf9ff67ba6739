namespace SynthVlm.Judge.Tests;

public sealed class JudgePromptTests
{
    [Theory]
    [InlineData("Yes", JudgeOutcome.Yes)]
    [InlineData("yes.", JudgeOutcome.Yes)]
    [InlineData("  YES, it is detailed", JudgeOutcome.Yes)]
    [InlineData("**Yes**", JudgeOutcome.Yes)]
    [InlineData("\"no\"", JudgeOutcome.No)]
    [InlineData("No!\n", JudgeOutcome.No)]
    [InlineData("no - too vague", JudgeOutcome.No)]
    public void The_first_word_decides(string answer, JudgeOutcome expected)
    {
        JudgePrompt.ParseAnswer(answer, out var reason).Should().Be(expected);
        reason.Should().BeNull();
    }

    [Theory]
    [InlineData("Yesterday I saw it")]
    [InlineData("Maybe")]
    [InlineData("")]
    [InlineData("The answer is yes")]
    public void Anything_else_is_unparseable(string answer)
    {
        JudgePrompt.ParseAnswer(answer, out var reason).Should().Be(JudgeOutcome.Failed);
        reason.Should().Be("unparseable: " + answer);
    }

    [Fact]
    public void The_unparseable_excerpt_is_80_characters_and_never_splits_a_surrogate_pair()
    {
        var answer = new string('a', 79) + "😀" + "tail";
        JudgePrompt.ParseAnswer(answer, out var reason).Should().Be(JudgeOutcome.Failed);
        reason.Should().Be("unparseable: " + new string('a', 79));
    }

    [Fact]
    public void The_prompt_embeds_the_caption_and_asks_for_yes_or_no()
    {
        var prompt = JudgePrompt.Build("A {caption} with braces");
        prompt.Should().Contain("Caption: \"A {caption} with braces\"").And.EndWith("Answer with one word: yes or no.");
    }
}
