using System.Text.Json;

namespace SynthVlm.Blip.Tests;

public sealed class BlipTokenizerTests
{
    private static readonly BlipTokenizer Tokenizer = BlipTokenizer.FromVocabFile(Path.Combine(BlipFixtures.Tokenizer, "vocab.txt"));

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Expected().Count; i++)
        {
            data.Add(i);
        }
        return data;
    }

    private static List<(string Text, int[] Ids)> Expected()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(BlipFixtures.Tokenizer, "expected.json")));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray()
            .Select(c => (c.GetProperty("text").GetString()!, c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))];
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Pieces_match_google_research_bert_BasicTokenizer_and_WordpieceTokenizer(int index)
    {
        var (text, ids) = Expected()[index];
        Tokenizer.Tokenize(text).Should().Equal(ids, $"text #{index} {JsonSerializer.Serialize(text)}");
    }

    [Fact]
    public void Encode_frames_with_cls_and_sep_and_keeps_the_first_pieces_when_truncating()
    {
        var buffer = new long[8];
        var n = Tokenizer.Encode("a photo of a cat.", 8, buffer, out var truncated);
        n.Should().Be(8);
        truncated.Should().BeFalse("6 pieces + [CLS] + [SEP] fit exactly");
        buffer.Should().Equal(2, 5, 8, 10, 5, 11, 81, 3);

        n = Tokenizer.Encode("a photo of a cat.", 5, buffer, out truncated);
        n.Should().Be(5);
        truncated.Should().BeTrue();
        buffer.Take(5).Should().Equal(2, 5, 8, 10, 3);

        n = Tokenizer.Encode("", 5, buffer, out truncated);
        n.Should().Be(2);
        truncated.Should().BeFalse();
        buffer.Take(2).Should().Equal(2, 3);
    }

    [Fact]
    public void Cased_vocabularies_keep_case_and_accents()
    {
        var cased = BlipTokenizer.FromVocabFile(Path.Combine(BlipFixtures.Tokenizer, "vocab.txt"), doLowerCase: false);
        cased.DoLowerCase.Should().BeFalse();
        cased.Tokenize("cat Cat café cafe").Should().Equal(11, 1, 1, 52);
    }

    [Fact]
    public void Special_ids_come_from_the_vocabulary()
    {
        (Tokenizer.ClsId, Tokenizer.SepId, Tokenizer.PadId).Should().Be((2, 3, 0));
    }

    [Fact]
    public void Vocabulary_without_the_special_tokens_is_refused_naming_the_file_and_the_missing_tokens()
    {
        var root = Directory.CreateTempSubdirectory("blip-vocab-");
        try
        {
            var path = Path.Combine(root.FullName, "vocab.txt");
            File.WriteAllLines(path, ["[PAD]", "[UNK]", "a", "cat"]);
            var act = () => BlipTokenizer.FromVocabFile(path);
            act.Should().Throw<BlipModelException>()
                .Where(e => e.Path == path && e.Message.Contains("lacks [CLS], [SEP]", StringComparison.Ordinal));
            var missing = () => BlipTokenizer.FromVocabFile(Path.Combine(root.FullName, "none.txt"));
            missing.Should().Throw<BlipModelException>().Where(e => e.Message.Contains("none.txt: file not found", StringComparison.Ordinal));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }
}
