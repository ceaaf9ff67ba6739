namespace SynthVlm.Tokenizers.Tests;

/// <summary>Broken folders fail with a <see cref="TokenizerFormatException"/> that names the file.</summary>
public sealed class FolderErrorTests
{
    private static Fixtures.TempFolder CopyOfClip()
    {
        var temp = new Fixtures.TempFolder();
        foreach (var file in Directory.GetFiles(Fixtures.Folder(Fixtures.Clip)))
        {
            File.Copy(file, Path.Combine(temp.Path, Path.GetFileName(file)));
        }
        return temp;
    }

    private static TokenizerFormatException Load(string dir) =>
        FluentActions.Invoking(() => ClipTokenizer.FromFolder(dir)).Should().Throw<TokenizerFormatException>().Which;

    [Theory]
    [InlineData("vocab.json")]
    [InlineData("merges.txt")]
    public void Missing_file_is_named(string file)
    {
        using var temp = CopyOfClip();
        File.Delete(Path.Combine(temp.Path, file));

        var error = Load(temp.Path);

        error.Message.Should().Contain(file).And.Contain("missing");
        error.FilePath.Should().Be(Path.Combine(temp.Path, file));
    }

    [Theory]
    [InlineData("vocab.json")]
    [InlineData("tokenizer_config.json")]
    [InlineData("special_tokens_map.json")]
    public void Malformed_json_is_named(string file)
    {
        using var temp = CopyOfClip();
        File.WriteAllText(Path.Combine(temp.Path, file), "{ \"a\": ");

        Load(temp.Path).Message.Should().Contain(file).And.Contain("malformed JSON");
    }

    [Fact]
    public void Vocab_with_a_non_integer_id_is_named()
    {
        using var temp = CopyOfClip();
        File.WriteAllText(Path.Combine(temp.Path, "vocab.json"), "{\"a\": \"one\"}");

        Load(temp.Path).Message.Should().Contain("vocab.json").And.Contain("'a'");
    }

    [Fact]
    public void Merge_part_missing_from_vocab_names_merges_and_line()
    {
        using var temp = CopyOfClip();
        var path = Path.Combine(temp.Path, "merges.txt");
        File.AppendAllText(path, "zzzqqq a</w>\n");
        var line = File.ReadAllLines(path).Length;

        Load(temp.Path).Message.Should().Contain("merges.txt").And.Contain($"line {line}").And.Contain("'zzzqqq' is not in vocab.json");
    }

    [Fact]
    public void Merge_result_missing_from_vocab_is_named()
    {
        using var temp = CopyOfClip();
        File.AppendAllText(Path.Combine(temp.Path, "merges.txt"), "q z</w>\n");

        Load(temp.Path).Message.Should().Contain("merges.txt").And.Contain("'qz</w>'");
    }

    [Fact]
    public void Merge_line_with_three_parts_is_named()
    {
        using var temp = CopyOfClip();
        File.AppendAllText(Path.Combine(temp.Path, "merges.txt"), "a b c\n");

        Load(temp.Path).Message.Should().Contain("merges.txt").And.Contain("two tokens");
    }

    [Fact]
    public void Special_token_missing_everywhere_is_named()
    {
        using var temp = CopyOfClip();
        var config = Path.Combine(temp.Path, "tokenizer_config.json");
        File.WriteAllText(config, "{\"bos_token\": \"<|nope|>\"}");

        Load(temp.Path).Message.Should().Contain("tokenizer_config.json").And.Contain("bos_token '<|nope|>'");
    }

    [Fact]
    public void Folder_without_configs_uses_clip_defaults()
    {
        using var temp = CopyOfClip();
        File.Delete(Path.Combine(temp.Path, "tokenizer_config.json"));
        File.Delete(Path.Combine(temp.Path, "special_tokens_map.json"));

        var tokenizer = ClipTokenizer.FromFolder(temp.Path);

        tokenizer.PadId.Should().Be(Fixtures.ClipTokenizer.EosId);
        tokenizer.BosId.Should().Be(Fixtures.ClipTokenizer.BosId);
        tokenizer.Encode("a red bus").Ids.Should().Equal(Fixtures.ClipTokenizer.Encode("a red bus").Ids);
    }

    [Fact]
    public void Unlimited_model_max_length_falls_back_to_77()
    {
        using var temp = CopyOfClip();
        var config = Path.Combine(temp.Path, "tokenizer_config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"model_max_length\": 77", "\"model_max_length\": 1e30", StringComparison.Ordinal));

        ClipTokenizer.FromFolder(temp.Path).ModelMaxLength.Should().Be(77);
        File.ReadAllText(config).Should().Contain("1e30");
    }

    [Fact]
    public void Missing_folder_is_named()
    {
        var dir = Path.Combine(Path.GetTempPath(), "synthvlm-no-such-" + Guid.NewGuid().ToString("N"));
        FluentActions.Invoking(() => ClipTokenizer.FromFolder(dir)).Should().Throw<DirectoryNotFoundException>().WithMessage($"*{dir}*");
    }
}
