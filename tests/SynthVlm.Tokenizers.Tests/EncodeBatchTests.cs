namespace SynthVlm.Tokenizers.Tests;

public sealed class EncodeBatchTests
{
    [Theory]
    [InlineData(Fixtures.Clip)]
    [InlineData(Fixtures.BangPad)]
    public void Rows_hold_reference_ids_then_pad_with_mask_zero(string folder)
    {
        var tokenizer = Fixtures.Load(folder);
        var rows = Fixtures.ReferenceRows(folder);
        var texts = rows.Select(r => r.Text).ToArray();
        const int length = 77;
        var ids = new long[texts.Length * length];
        var mask = new long[texts.Length * length];
        var truncated = new bool[texts.Length];

        tokenizer.EncodeBatch(texts, ids, mask, length, truncated);

        for (var row = 0; row < texts.Length; row++)
        {
            var expected = rows[row].IdsMax77;
            var rowIds = ids.AsSpan(row * length, length).ToArray();
            var rowMask = mask.AsSpan(row * length, length).ToArray();
            rowIds.Take(expected.Length).Select(v => (int)v).Should().Equal(expected, "row {0} ({1})", row, texts[row]);
            rowIds.Skip(expected.Length).All(v => v == tokenizer.PadId).Should().BeTrue("row {0} is padded with {1}", row, tokenizer.PadId);
            rowMask.Take(expected.Length).All(v => v == 1).Should().BeTrue("row {0} attends to its tokens", row);
            rowMask.Skip(expected.Length).All(v => v == 0).Should().BeTrue("row {0} masks its padding", row);
            truncated[row].Should().Be(rows[row].Ids.Length > length);
        }
    }

    [Fact]
    public void Pad_ids_come_from_each_folder()
    {
        string[] texts = ["a dog"];
        var clipIds = new long[8];
        var bangIds = new long[8];
        Fixtures.ClipTokenizer.EncodeBatch(texts, clipIds, [], 8, []);
        Fixtures.BangTokenizer.EncodeBatch(texts, bangIds, [], 8, []);

        var clip = Fixtures.ClipTokenizer;
        clipIds.Should().Equal(clip.BosId, clip.TokenToId("a</w>")!.Value, clip.TokenToId("dog</w>")!.Value, clip.EosId, clip.EosId, clip.EosId, clip.EosId, clip.EosId);
        bangIds[4..].Should().Equal(0L, 0L, 0L, 0L);
        bangIds[..4].Should().Equal(clipIds[..4]);
    }

    [Fact]
    public void Short_rows_truncate_and_flag()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        string[] texts = ["a red bus parked on a city street at night", ""];
        var ids = new long[2 * 4];
        var mask = new long[2 * 4];
        var truncated = new bool[2];

        tokenizer.EncodeBatch(texts, ids, mask, 4, truncated);

        var full = tokenizer.Encode(texts[0], 100).Ids;
        ids[..4].Should().Equal(tokenizer.BosId, full[1], full[2], tokenizer.EosId);
        ids[4..].Should().Equal(tokenizer.BosId, tokenizer.EosId, tokenizer.PadId, tokenizer.PadId);
        mask.Should().Equal(1L, 1L, 1L, 1L, 1L, 1L, 0L, 0L);
        truncated.Should().Equal(true, false);
    }

    [Fact]
    public void Wrong_buffer_sizes_are_rejected_with_the_argument_name()
    {
        var tokenizer = Fixtures.ClipTokenizer;
        string[] texts = ["a", "b"];
        FluentActions.Invoking(() => tokenizer.EncodeBatch(texts, new long[10], [], 77, []))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "ids");
        FluentActions.Invoking(() => tokenizer.EncodeBatch(texts, new long[154], new long[3], 77, []))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "attentionMask");
        FluentActions.Invoking(() => tokenizer.EncodeBatch(texts, new long[154], [], 77, new bool[1]))
            .Should().Throw<ArgumentException>().Where(e => e.ParamName == "truncated");
        FluentActions.Invoking(() => tokenizer.EncodeBatch(texts, new long[2], [], 1, []))
            .Should().Throw<ArgumentOutOfRangeException>();
        FluentActions.Invoking(() => tokenizer.EncodeBatch(["a", null!], new long[154], [], 77, []))
            .Should().Throw<ArgumentException>().WithMessage("*texts[1]*");
        FluentActions.Invoking(() => tokenizer.Encode("a", 1)).Should().Throw<ArgumentOutOfRangeException>();
    }
}
