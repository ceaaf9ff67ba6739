namespace SynthVlm.Tokenizers.Tests;

/// <summary>Exact agreement with Hugging Face's Rust tokenizers (reference_ids.json).</summary>
public sealed class ReferenceIdsTests
{
    public static TheoryData<string, int> Rows()
    {
        var data = new TheoryData<string, int>();
        foreach (var folder in Fixtures.ReferenceFolders)
        {
            for (var i = 0; i < Fixtures.ReferenceRows(folder).Count; i++)
            {
                data.Add(folder, i);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Encode_without_limit_matches_hf_tokenizers(string folder, int row)
    {
        var reference = Fixtures.ReferenceRows(folder)[row];
        var encoded = Fixtures.Load(folder).Encode(reference.Text, maxLength: 100_000);

        encoded.Ids.Should().Equal(reference.Ids, "text {0}", reference.Text);
        encoded.TokenCount.Should().Be(reference.Ids.Length - 2);
        encoded.Truncated.Should().BeFalse();
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Encode_at_77_matches_hf_truncation(string folder, int row)
    {
        var reference = Fixtures.ReferenceRows(folder)[row];
        var encoded = Fixtures.Load(folder).Encode(reference.Text);

        encoded.Ids.Should().Equal(reference.IdsMax77, "text {0}", reference.Text);
        encoded.Truncated.Should().Be(reference.Ids.Length > 77);
        encoded.TokenCount.Should().Be(reference.Ids.Length - 2);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Decode_matches_hf_clip_decode(string folder, int row)
    {
        var reference = Fixtures.ReferenceRows(folder)[row];
        Fixtures.Load(folder).Decode(reference.Ids).Should().Be(reference.Decoded);
    }

    [Fact]
    public void Reference_covers_a_caption_longer_than_the_context()
    {
        Fixtures.ReferenceFolders.Should().BeEquivalentTo([Fixtures.Clip, Fixtures.BangPad, Fixtures.AddedFlags]);
        Fixtures.ReferenceRows(Fixtures.Clip).Should().Contain(r => r.Ids.Length > 77 && r.IdsMax77.Length == 77);
        Fixtures.ReferenceRows(Fixtures.Clip).Should().Contain(r => r.Text.Length == 0);
    }

    [Fact]
    public void Truncation_keeps_the_first_content_tokens_then_eos()
    {
        var reference = Fixtures.ReferenceRows(Fixtures.Clip).First(r => r.Ids.Length > 77);
        var tokenizer = Fixtures.ClipTokenizer;

        var encoded = tokenizer.Encode(reference.Text, maxLength: 10);

        encoded.Ids.Should().Equal([.. reference.Ids.Take(9), tokenizer.EosId]);
        encoded.Truncated.Should().BeTrue();
        encoded.TokenCount.Should().Be(reference.Ids.Length - 2);
    }

    [Fact]
    public void Decomposed_and_precomposed_accents_encode_alike()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        tokenizer.Encode("cafe\u0301 Zu\u0308rich").Ids.Should().Equal(tokenizer.Encode("café Zürich").Ids);
    }
}
