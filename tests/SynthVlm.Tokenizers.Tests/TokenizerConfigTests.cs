namespace SynthVlm.Tokenizers.Tests;

public sealed class TokenizerConfigTests
{
    [Fact]
    public void Clip_folder_pads_with_endoftext()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        Fixtures.ReferencePadToken(Fixtures.Clip).Should().Be("<|endoftext|>");
        tokenizer.PadId.Should().Be(tokenizer.EosId);
        tokenizer.IdToToken(tokenizer.BosId).Should().Be("<|startoftext|>");
        tokenizer.IdToToken(tokenizer.EosId).Should().Be("<|endoftext|>");
        tokenizer.EosId.Should().Be(tokenizer.VocabSize - 1, "CLIP puts the two specials last");
        tokenizer.BosId.Should().Be(tokenizer.VocabSize - 2);
        tokenizer.ModelMaxLength.Should().Be(77);
        tokenizer.UnkId.Should().Be(tokenizer.EosId);
    }

    [Fact]
    public void Bang_folder_pads_with_id_0_and_splits_every_bang_out()
    {
        var tokenizer = Fixtures.BangTokenizer;
        Fixtures.ReferencePadToken(Fixtures.BangPad).Should().Be("!");
        tokenizer.PadId.Should().Be(0);
        tokenizer.IdToToken(0).Should().Be("!");

        // SDXL tokenizer_2: "! !! !!!" -> BOS, six times id 0, EOS (reference doc section 4.1).
        tokenizer.Encode("! !! !!!").Ids.Should().Equal([tokenizer.BosId, 0, 0, 0, 0, 0, 0, tokenizer.EosId]);
    }

    [Fact]
    public void Clip_folder_treats_bang_as_ordinary_bpe()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        var ids = tokenizer.Encode("! !! !!!").Ids;

        // Each run of bangs is one BPE word ending in "!</w>" (id 256, as in CLIP); "!" inside a run is id 0.
        ids.Should().Equal(tokenizer.BosId, 256, 0, 256, 0, 0, 256, tokenizer.EosId);
        tokenizer.IdToToken(256).Should().Be("!</w>");
        ids.Should().NotEqual(Fixtures.BangTokenizer.Encode("! !! !!!").Ids);
    }

    [Fact]
    public void Special_token_text_is_matched_whole_after_lowercasing()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        tokenizer.Encode("<|ENDOFTEXT|>").Ids.Should().Equal([tokenizer.BosId, tokenizer.EosId, tokenizer.EosId]);
    }

    [Fact]
    public void Lone_surrogates_read_as_replacement_character()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        tokenizer.Encode("a\uD800b \uDC00").Ids.Should().Equal(tokenizer.Encode("a\uFFFDb \uFFFD").Ids);
    }

    [Fact]
    public void Token_lookup_round_trips()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        tokenizer.TokenToId("<|startoftext|>").Should().Be(tokenizer.BosId);
        tokenizer.TokenToId("a</w>").Should().NotBeNull();
        tokenizer.IdToToken(tokenizer.TokenToId("a</w>")!.Value).Should().Be("a</w>");
        tokenizer.TokenToId("not-a-token").Should().BeNull();
        tokenizer.IdToToken(-1).Should().BeNull();
        tokenizer.IdToToken(tokenizer.VocabSize).Should().BeNull();
    }

    [Fact]
    public void Decode_keeps_specials_when_asked()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        var ids = tokenizer.Encode("a dog").Ids.ToArray();
        tokenizer.Decode(ids).Should().Be("a dog");
        tokenizer.Decode(ids, skipSpecialTokens: false).Should().Be("<|startoftext|>a dog <|endoftext|>");
        FluentActions.Invoking(() => tokenizer.Decode([tokenizer.VocabSize])).Should().Throw<ArgumentOutOfRangeException>();
    }
}
