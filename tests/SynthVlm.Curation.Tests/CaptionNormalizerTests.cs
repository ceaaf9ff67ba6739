using SynthVlm.Curation;

namespace SynthVlm.Curation.Tests;

public class CaptionNormalizerTests
{
    [Theory]
    [InlineData("A dog, running!", "a dog running")]
    [InlineData("  a\tdog \n running  ", "a dog running")]
    // Fullwidth letters and the ideographic space fold to ASCII.
    [InlineData("Ａ　ＤＯＧ", "a dog")]
    // Zero-width space and BOM (Cf) vanish; a punctuation-only token disappears with its space.
    [InlineData("\uFEFFa\u200Bdog -- running", "adog running")]
    // Symbols and emoji are content, not punctuation.
    [InlineData("a dog 😀 + 2", "a dog 😀 + 2")]
    // Python's lower(): final sigma at the end of a word.
    [InlineData("ΟΔΟΣ", "οδος")]
    [InlineData("", "")]
    [InlineData("?!...", "")]
    public void Normalizes(string text, string expected) => CaptionNormalizer.Normalize(text).Should().Be(expected);

    [Fact]
    public void Lone_surrogate_becomes_the_replacement_character()
    {
        // Not in InlineData: attribute strings are stored as UTF-8, which cannot hold a lone surrogate.
        // U+FFFD is category So, so it stays.
        CaptionNormalizer.Normalize("a\uD800").Should().Be("a\uFFFD");
    }

    [Fact]
    public void Duplicates_after_normalisation_share_a_hash_and_others_do_not()
    {
        CaptionNormalizer.Hash128("A dog, running!").Should().Be(CaptionNormalizer.Hash128("a  dog running"));
        CaptionNormalizer.Hash64("A dog, running!").Should().Be(CaptionNormalizer.Hash64("a  dog running"));
        CaptionNormalizer.Hash128("a dog").Should().NotBe(CaptionNormalizer.Hash128("a dog 2"));
    }

    [Fact]
    public void Hash_is_sha256_of_the_utf8_normal_form()
    {
        // printf 'a dog running' | sha256sum -> b1ee03eafba6d4ef37e9910e70d2a712bb21bf56...
        const string expected = "b1ee03eafba6d4ef37e9910e70d2a712";
        CaptionNormalizer.ToHex(CaptionNormalizer.Hash128("A dog, running!")).Should().Be(expected);
        CaptionNormalizer.Hash64("A dog, running!").Should().Be(Convert.ToUInt64(expected[..16], 16));
    }
}
