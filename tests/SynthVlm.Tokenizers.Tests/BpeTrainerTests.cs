namespace SynthVlm.Tokenizers.Tests;

public sealed class BpeTrainerTests
{
    [Fact]
    public void Vocabulary_is_laid_out_like_clip()
    {
        var model = BpeTrainer.TrainTiny(50);

        model.Tokens.Should().HaveCount(512 + 50 + 2);
        model.Tokens[0].Should().Be("!");
        model.Tokens[93].Should().Be("~");
        model.Tokens[94].Should().Be("¡");
        model.Tokens[188].Should().Be("\u0100", "the first remapped byte (0x00) follows the 188 printable ones");
        model.Tokens[256].Should().Be("!</w>");
        model.Tokens.Skip(256).Take(256).Should().Equal(model.Tokens.Take(256).Select(t => t + "</w>"));
        model.Tokens[^2].Should().Be("<|startoftext|>");
        model.Tokens[^1].Should().Be("<|endoftext|>");
        model.BosId.Should().Be(model.Tokens.Count - 2);
        model.EosId.Should().Be(model.Tokens.Count - 1);
        for (var i = 0; i < model.Merges.Count; i++)
        {
            model.Tokens[512 + i].Should().Be(model.Merges[i].Left + model.Merges[i].Right);
        }
    }

    [Fact]
    public void Training_is_deterministic_and_picks_the_most_frequent_pair_first()
    {
        string[] corpus = ["aaa aaa aaa", "ab ab", "b"];
        var first = BpeTrainer.Train(corpus, 10);
        var second = BpeTrainer.Train(corpus, 10);

        first.Merges.Should().Equal(second.Merges);
        first.Tokens.Should().Equal(second.Tokens);
        // "aaa</w>" three times: pairs (a,a) x3 and (a,a</w>) x3 tie, ordinal order puts "a"+"a" first.
        first.Merges[0].Should().Be(new BpeMerge("a", "a"));
        // Every word ends up as one token, and then training stops.
        first.Merges.Should().HaveCount(3);
        first.Merges.Select(m => m.Left + m.Right).Should().Equal("aa", "aaa</w>", "ab</w>");
    }

    [Fact]
    public void Tiny_training_stops_when_every_corpus_word_is_a_token()
    {
        var model = BpeTrainer.TrainTiny();
        // The figure BpeTrainer.TrainTiny's documentation states.
        model.Merges.Should().HaveCount(1574);
        model.Tokens.Should().HaveCount(2088);
        BpeTrainer.TinyCorpus.Length.Should().BeGreaterThan(4000);
    }

    [Fact]
    public void Written_folder_round_trips_through_the_tokenizer()
    {
        using var temp = new Fixtures.TempFolder();
        var model = BpeTrainer.TrainTiny();
        BpeTrainer.WriteFolder(temp.Path, model);
        var tokenizer = ClipTokenizer.FromFolder(temp.Path);

        tokenizer.VocabSize.Should().Be(model.Tokens.Count);
        tokenizer.BosId.Should().Be(model.BosId);
        tokenizer.EosId.Should().Be(model.EosId);
        tokenizer.PadId.Should().Be(model.EosId);
        foreach (var line in BpeTrainer.TinyCorpus.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(50))
        {
            var encoded = tokenizer.Encode(line, 1000);
            // Trained on these lines to the end, so each word is a single token.
            var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            encoded.TokenCount.Should().BeGreaterThanOrEqualTo(words.Length);
            tokenizer.Decode(encoded.Span).Replace(" ", "", StringComparison.Ordinal)
                .Should().Be(line.ToLowerInvariant().Replace(" ", "", StringComparison.Ordinal));
        }
    }

    [Theory]
    [InlineData(Fixtures.Clip, null)]
    [InlineData(Fixtures.BangPad, "!")]
    public void Committed_fixture_folders_are_what_the_trainer_writes(string folder, string? pad)
    {
        using var temp = new Fixtures.TempFolder();
        var options = pad is null ? null : new TokenizerFolderOptions { PadToken = pad };
        BpeTrainer.WriteFolder(temp.Path, BpeTrainer.TrainTiny(Fixtures.FixtureMerges), options);

        var expected = Directory.GetFiles(Fixtures.Folder(folder)).Select(Path.GetFileName).Order().ToArray();
        Directory.GetFiles(temp.Path).Select(Path.GetFileName).Order().Should().Equal(expected);
        foreach (var file in expected)
        {
            File.ReadAllText(Path.Combine(temp.Path, file!)).Should().Be(File.ReadAllText(Path.Combine(Fixtures.Folder(folder), file!)), file);
        }
    }

    [Fact]
    public void Unknown_pad_token_is_rejected()
    {
        using var temp = new Fixtures.TempFolder();
        FluentActions.Invoking(() => BpeTrainer.WriteFolder(temp.Path, BpeTrainer.TrainTiny(5), new TokenizerFolderOptions { PadToken = "<pad>" }))
            .Should().Throw<ArgumentException>().WithMessage("*<pad>*");
    }
}
