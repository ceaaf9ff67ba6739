using System.Security.Cryptography;
using System.Text;

namespace SynthVlm.Datasets.Tests;

public sealed class LlavaPromptsTests
{
    [Fact]
    public void There_are_LLaVAs_eleven_distinct_brief_description_prompts()
    {
        LlavaPrompts.BriefDescription.Should().HaveCount(11).And.OnlyHaveUniqueItems();
        LlavaPrompts.BriefDescription[0].Should().Be("Describe the image concisely.");
        LlavaPrompts.BriefDescription[1].Should().Be("Provide a brief description of the given image.");
        LlavaPrompts.BriefDescription[10].Should().Be("Create a compact narrative representing the image presented.");
        LlavaPrompts.BriefDescription.Should().OnlyContain(p => p.EndsWith('.') && !p.Contains('\n', StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData("cap-000")]
    [InlineData("../../x")]
    [InlineData("日本語")]
    [InlineData("emoji 😀")]
    public void The_prompt_is_the_sha256_prefix_of_the_id_modulo_eleven(string id)
    {
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes(id));
        var expected = (int)((((uint)hash[0] << 24) | ((uint)hash[1] << 16) | ((uint)hash[2] << 8) | hash[3]) % 11);
        LlavaPrompts.Index(id).Should().Be(expected);
        LlavaPrompts.For(id).Should().Be(LlavaPrompts.BriefDescription[expected]);
        LlavaPrompts.For(id).Should().Be(LlavaPrompts.For(new string(id.ToCharArray())));
        LlavaPrompts.HumanTurn(id).Should().Be(LlavaPrompts.BriefDescription[expected] + "\n<image>");
    }

    [Fact]
    public void A_known_id_gets_a_pinned_prompt()
    {
        // SHA-256("a") starts ca 97 81 12: 0xca978112 = 3398926610, mod 11 = 2.
        LlavaPrompts.Index("a").Should().Be(2);
        LlavaPrompts.For("a").Should().Be("Offer a succinct explanation of the picture presented.");
    }

    [Fact]
    public void Many_ids_cover_all_prompts_roughly_evenly()
    {
        var counts = new int[11];
        for (var i = 0; i < 2200; i++)
        {
            counts[LlavaPrompts.Index($"caption-{i}")]++;
        }
        // Expected 200 each; a binomial(2200, 1/11) count has sd ≈ 13.5, so 120..280 is ~6 sd.
        counts.Should().OnlyContain(c => c > 120 && c < 280);
    }

    [Fact]
    public void A_lone_surrogate_is_refused()
    {
        FluentActions.Invoking(() => LlavaPrompts.For("x\uDC00")).Should().Throw<ArgumentException>().WithMessage("*surrogate*");
    }
}
