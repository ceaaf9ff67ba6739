using SynthVlm.Hallucination.Claims;

namespace SynthVlm.Hallucination.Tests;

/// <summary>The claim-list and verdict parsers on the shapes models send, and on garbage.</summary>
public sealed class ClaimsParsingTests
{
    public static TheoryData<string, string[]> Lists => new()
    {
        { "- The car is red.\n- The car is parked.", ["The car is red.", "The car is parked."] },
        { "### Claims:\n* A dog runs.\n* The dog is brown.", ["A dog runs.", "The dog is brown."] },
        { "Here are the claims:\n1. There are two cats.\n2) The cats sleep.\n(3) A sofa is grey.", ["There are two cats.", "The cats sleep.", "A sofa is grey."] },
        { "• **The sky is blue.**\n• \"A kite flies.\"", ["The sky is blue.", "A kite flies."] },
        { "[\"A man stands.\", \"The man wears a hat.\"]", ["A man stands.", "The man wears a hat."] },
        { "```json\n{\"claims\": [\"A bus is yellow.\"]}\n```", ["A bus is yellow."] },
        { "{\"facts\": [\"Snow covers the ground.\"]}", ["Snow covers the ground."] },
        { "- The cup is white.\n- the cup is white.\n- The cup is full.", ["The cup is white.", "The cup is full."] },
        { "  -   Leading spaces are fine.  \r\n- Windows line ends too.\r\n", ["Leading spaces are fine.", "Windows line ends too."] },
    };

    [Theory]
    [MemberData(nameof(Lists))]
    public void Claim_lists_parse_from_bullets_numbers_and_json(string reply, string[] expected)
    {
        ClaimExtractionPrompt.Parse(reply, out var claims, out var reason).Should().BeTrue(reason);
        reason.Should().BeNull();
        claims.Should().Equal(expected);
    }

    [Theory]
    [InlineData("NONE")]
    [InlineData("none.")]
    [InlineData("[]")]
    [InlineData("- NONE")]
    public void An_answer_of_none_is_an_empty_list(string reply)
    {
        ClaimExtractionPrompt.Parse(reply, out var claims, out _).Should().BeTrue();
        claims.Should().BeEmpty();
    }

    [Theory]
    [InlineData("", "empty answer")]
    [InlineData("   ", "empty answer")]
    [InlineData("I cannot help with that request.", "not a list of claims: I cannot help")]
    [InlineData("{\"answer\": \"a dog\"}", "JSON object without a \"claims\" or \"facts\" array")]
    [InlineData("[1, 2]", "JSON claims hold a Number, expected strings")]
    [InlineData("{\"claims\": \"a dog\"}", "JSON claims are a String, expected an array of strings")]
    public void Garbage_is_not_a_list_and_says_why(string reply, string expectedStart)
    {
        ClaimExtractionPrompt.Parse(reply, out var claims, out var reason).Should().BeFalse();
        claims.Should().BeEmpty();
        reason.Should().StartWith(expectedStart);
    }

    [Fact]
    public void A_long_unreadable_answer_is_cut_in_the_reason()
    {
        ClaimExtractionPrompt.Parse(new string('x', 500), out _, out var reason).Should().BeFalse();
        reason!.Length.Should().BeLessThan(120);
    }

    [Fact]
    public void The_prompt_carries_the_caption_and_its_version_is_pinned()
    {
        ClaimExtractionPrompt.Version.Should().Be("synthvlm-claims-v1");
        ClaimVerificationPrompt.Version.Should().Be("synthvlm-claim-check-v1");
        ClaimExtractionPrompt.Build("A red car.").Should().Contain("Caption: \"A red car.\"");
        ClaimVerificationPrompt.Build("The car is red.").Should().Contain("Statement: \"The car is red.\"");
    }

    [Theory]
    [InlineData("yes", ClaimVerdict.Supported)]
    [InlineData("Yes.", ClaimVerdict.Supported)]
    [InlineData("**YES**, it is", ClaimVerdict.Supported)]
    [InlineData("No", ClaimVerdict.Rejected)]
    [InlineData("no, the car is blue", ClaimVerdict.Rejected)]
    [InlineData("Unsure.", ClaimVerdict.Unsure)]
    [InlineData("uncertain", ClaimVerdict.Unsure)]
    [InlineData("Not sure.", ClaimVerdict.Unsure)]
    [InlineData("Not visible", ClaimVerdict.Unjudged)]
    [InlineData("Maybe", ClaimVerdict.Unjudged)]
    [InlineData("yesno", ClaimVerdict.Unjudged)]
    [InlineData("", ClaimVerdict.Unjudged)]
    public void Verdicts_are_read_from_the_first_word(string reply, ClaimVerdict expected)
    {
        var verdict = ClaimVerificationPrompt.Parse(reply, out var reason);
        verdict.Should().Be(expected);
        if (expected == ClaimVerdict.Unjudged)
        {
            reason.Should().StartWith("unparseable verdict: ");
        }
        else
        {
            reason.Should().BeNull();
        }
    }
}
