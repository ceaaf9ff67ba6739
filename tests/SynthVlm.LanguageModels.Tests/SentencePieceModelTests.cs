using Google.Protobuf;
using SynthVlm.LanguageModels.Proto;

namespace SynthVlm.LanguageModels.Tests;

public class SentencePieceModelTests
{
    [Theory]
    [InlineData("sp_identity")]
    [InlineData("sp_nfkc")]
    [InlineData("sp_userdef_bytes")]
    [InlineData("sp_suffix")]
    public void Encodes_every_probe_text_as_sentencepiece_0_1_97_does(string modelName)
    {
        var model = Fixtures.Sp(modelName);
        var texts = Fixtures.Texts();
        using var expected = Fixtures.Json("sp_expected.json");
        var rows = expected.RootElement.GetProperty(modelName).EnumerateArray().ToArray();
        rows.Should().HaveCount(texts.Length);
        var mismatches = new List<string>();
        for (var i = 0; i < texts.Length; i++)
        {
            var ids = rows[i].GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            var pieces = rows[i].GetProperty("pieces").EnumerateArray().Select(e => e.GetString()!).ToArray();
            var actualIds = model.EncodeAsIds(texts[i]);
            var actualPieces = model.EncodeAsPieces(texts[i]);
            if (!actualIds.SequenceEqual(ids) || !actualPieces.SequenceEqual(pieces))
            {
                mismatches.Add($"#{i} {System.Text.Json.JsonSerializer.Serialize(texts[i])}: expected [{string.Join(' ', pieces)}] ({string.Join(',', ids)}), got [{string.Join(' ', actualPieces)}] ({string.Join(',', actualIds)})");
            }
        }
        mismatches.Should().BeEmpty();
        texts.Length.Should().BeGreaterThanOrEqualTo(200);
    }

    [Fact]
    public void Reads_the_specs_it_was_trained_with()
    {
        var nfkc = Fixtures.Sp("sp_nfkc");
        nfkc.NormalizerName.Should().Be("nmt_nfkc");
        nfkc.UnknownId.Should().Be(0);
        nfkc.BosId.Should().Be(1);
        nfkc.EosId.Should().Be(2);
        nfkc.IdToPiece(0).Should().Be("<unk>");
        nfkc.PieceToId("<unk>").Should().Be(0);
        nfkc.PieceToId("no-such-piece").Should().Be(nfkc.UnknownId);
        Fixtures.Sp("sp_identity").NormalizerName.Should().Be("identity");
    }

    [Fact]
    public void Nfkc_charsmap_folds_compatibility_characters_and_identity_keeps_them()
    {
        // NFKC: fullwidth letters, the fi ligature and U+00A0 become their ASCII forms; whitespace
        // runs collapse, the dummy prefix is added and spaces are escaped as U+2581.
        Fixtures.Sp("sp_nfkc").Normalize("  Ｆｕｌｌ  ﬁne\u00a0x ").Should().Be("\u2581Full\u2581fine\u2581x");
        Fixtures.Sp("sp_identity").Normalize("  Ｆｕｌｌ  ﬁne\u00a0x ").Should().Be("\u2581Ｆｕｌｌ\u2581ﬁne\u00a0x");
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void Empty_or_blank_text_has_no_pieces(string text)
    {
        Fixtures.Sp("sp_nfkc").EncodeAsIds(text).Should().BeEmpty();
        Fixtures.Sp("sp_nfkc").EncodeAsPieces(text).Should().BeEmpty();
    }

    [Fact]
    public void Missing_file_is_reported_with_its_path()
    {
        var path = Path.Combine(Path.GetTempPath(), "synthvlm-no-such.model");
        var act = () => SentencePieceModel.Load(path);
        act.Should().Throw<FileNotFoundException>().WithMessage($"*{path}*");
    }

    [Fact]
    public void Truncated_model_is_a_format_error_naming_the_file()
    {
        var bytes = File.ReadAllBytes(Fixtures.PathOf("sp_identity.model"));
        var path = Fixtures.TempFile(bytes[..(bytes.Length / 2)]);
        try
        {
            var act = () => SentencePieceModel.Load(path);
            act.Should().Throw<LanguageModelFormatException>().Which.FilePath.Should().Be(path);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Garbage_bytes_are_a_format_error()
    {
        var act = () => SentencePieceModel.Parse([0xFF, 0xFF, 0xFF, 0xFF, 0x0F], "garbage");
        act.Should().Throw<LanguageModelFormatException>().WithMessage("garbage:*");
    }

    [Fact]
    public void Non_unigram_model_is_rejected()
    {
        var proto = Minimal();
        proto.TrainerSpec.ModelType = 2;
        var act = () => SentencePieceModel.Parse(proto.ToByteArray(), "bpe");
        act.Should().Throw<LanguageModelFormatException>().WithMessage("*model_type is 2*UNIGRAM*");
    }

    [Fact]
    public void Model_without_unknown_piece_is_rejected()
    {
        var proto = Minimal();
        proto.Pieces.RemoveAt(0);
        var act = () => SentencePieceModel.Parse(proto.ToByteArray(), "nounk");
        act.Should().Throw<LanguageModelFormatException>().WithMessage("*no UNKNOWN piece*");
    }

    [Fact]
    public void Charsmap_with_impossible_trie_size_is_rejected()
    {
        var proto = Minimal();
        proto.NormalizerSpec.PrecompiledCharsmap = ByteString.CopyFrom([0xFF, 0x00, 0x00, 0x00, 1, 2, 3, 4]);
        var act = () => SentencePieceModel.Parse(proto.ToByteArray(), "charsmap");
        act.Should().Throw<LanguageModelFormatException>().WithMessage("*precompiled_charsmap declares a trie of 255 bytes*");
    }

    [Fact]
    public void Hand_built_model_picks_the_best_scoring_segmentation_and_marks_unknown_characters()
    {
        // Pieces: ▁ab (-1), ▁a (-2), b (-2), c (-3). "ab" → ▁ab (-1 beats -4 for ▁a+b).
        // "abz" → ▁ab then z as an unknown piece (scored min -3 - 10).
        var proto = Minimal();
        var sp = SentencePieceModel.Parse(proto.ToByteArray(), "hand");
        sp.EncodeAsPieces("ab").Should().Equal("\u2581ab");
        sp.EncodeAsPieces("abz").Should().Equal("\u2581ab", "z");
        sp.EncodeAsIds("abz").Should().Equal(1, 0);
        sp.EncodeAsPieces("a b").Should().Equal("\u2581a", "\u2581", "b");
    }

    [Fact]
    public void Corrupted_charsmap_trie_never_escapes_as_an_untyped_exception()
    {
        // Flip bytes inside the nmt_nfkc trie: encoding must either work or report the model.
        var proto = ModelProto.Parser.ParseFrom(File.ReadAllBytes(Fixtures.PathOf("sp_nfkc.model")));
        var blob = proto.NormalizerSpec.PrecompiledCharsmap.ToByteArray();
        var trieSize = BitConverter.ToInt32(blob, 0);
        var random = new Random(8);
        for (var round = 0; round < 50; round++)
        {
            var corrupt = (byte[])blob.Clone();
            for (var k = 0; k < 64; k++)
            {
                corrupt[4 + random.Next(trieSize)] = (byte)random.Next(256);
            }
            proto.NormalizerSpec.PrecompiledCharsmap = ByteString.CopyFrom(corrupt);
            var model = SentencePieceModel.Parse(proto.ToByteArray(), "corrupt");
            try
            {
                model.EncodeAsIds("Ｆｕｌｌ ﬁne café x² 中文   a dog on the beach");
            }
            catch (LanguageModelFormatException)
            {
            }
        }
    }

    private static ModelProto Minimal()
    {
        var proto = new ModelProto
        {
            TrainerSpec = new TrainerSpec { ModelType = 1, UnkId = 0 },
            NormalizerSpec = new NormalizerSpec { Name = "identity" },
        };
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "<unk>", Score = 0, Type = 2 });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "\u2581ab", Score = -1 });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "\u2581a", Score = -2 });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "b", Score = -2 });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "c", Score = -3 });
        proto.Pieces.Add(new ModelProto.Types.SentencePiece { Piece = "\u2581", Score = -3 });
        return proto;
    }
}
