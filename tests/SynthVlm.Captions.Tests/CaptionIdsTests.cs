namespace SynthVlm.Captions.Tests;

public class CaptionIdsTests
{
    // Expected values from Python: "h" + hashlib.sha256(s.encode()).hexdigest()[:16].
    [Theory]
    [InlineData("a cat on a mat", "hb2281618d7e4848f")]
    [InlineData("", "he3b0c44298fc1c14")]
    [InlineData("日本語 🐱", "he63d33e1f0b881eb")]
    public void ForContent_is_h_plus_16_hex_of_sha256(string caption, string expected)
    {
        CaptionIds.ForContent(caption).Should().Be(expected);
    }

    [Fact]
    public void ForContent_hashes_long_captions_beyond_the_stack_buffer()
    {
        var caption = new string('x', 5000);
        var id = CaptionIds.ForContent(caption);
        id.Should().MatchRegex("^h[0-9a-f]{16}$");
        CaptionIds.ForContent(caption + "y").Should().NotBe(id);
    }

    [Fact]
    public void ForContent_rejects_null()
    {
        FluentActions.Invoking(() => CaptionIds.ForContent(null!)).Should().Throw<ArgumentNullException>();
    }
}
