using System.Text.Json;

namespace SynthVlm.Tokenizers.Tests;

/// <summary>
/// SentencePieceLlamaTokenizer against the slow LlamaTokenizer rules run on python sentencepiece
/// (Fixtures/make_llama_reference_ids.py -> llama_reference_ids.json), legacy and non-legacy.
/// </summary>
public sealed class LlamaTokenizerTests
{
    private const string Legacy = "tiny_llama";
    private const string NonLegacy = "tiny_llama_nonlegacy";

    private sealed record Row(string Text, int[] Ids, int[] IdsNoSpecial, string? Decoded);

    private static readonly Lazy<IReadOnlyDictionary<string, Row[]>> Reference = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "llama_reference_ids.json")));
        var result = new Dictionary<string, Row[]>();
        foreach (var folder in doc.RootElement.GetProperty("folders").EnumerateObject())
        {
            result[folder.Name] = [.. folder.Value.GetProperty("rows").EnumerateArray().Select(r => new Row(
                r.GetProperty("text").GetString()!,
                [.. r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())],
                [.. r.GetProperty("ids_no_special").EnumerateArray().Select(e => e.GetInt32())],
                r.GetProperty("decoded").ValueKind == JsonValueKind.Null ? null : r.GetProperty("decoded").GetString()))];
        }
        return result;
    });

    private static readonly Lazy<SentencePieceLlamaTokenizer> LegacyTokenizer = new(() => SentencePieceLlamaTokenizer.FromFolder(Fixtures.Folder(Legacy)));
    private static readonly Lazy<SentencePieceLlamaTokenizer> NonLegacyTokenizer = new(() => SentencePieceLlamaTokenizer.FromFolder(Fixtures.Folder(NonLegacy)));

    private static SentencePieceLlamaTokenizer Load(string folder) => folder == Legacy ? LegacyTokenizer.Value : NonLegacyTokenizer.Value;

    public static TheoryData<string, int> Rows()
    {
        var data = new TheoryData<string, int>();
        foreach (var (folder, rows) in Reference.Value)
        {
            for (var i = 0; i < rows.Length; i++)
            {
                data.Add(folder, i);
            }
        }
        return data;
    }

    [Fact]
    public void Reference_covers_both_folders_and_about_forty_texts()
    {
        Reference.Value.Keys.Should().BeEquivalentTo([Legacy, NonLegacy]);
        Reference.Value[Legacy].Length.Should().BeGreaterThanOrEqualTo(40);
        // The two rule sets must disagree somewhere, or the non-legacy path is not tested.
        Reference.Value[Legacy].Zip(Reference.Value[NonLegacy]).Count(p => !p.First.Ids.SequenceEqual(p.Second.Ids)).Should().BeGreaterThan(3);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Encode_matches_the_slow_tokenizer_reference(string folder, int row)
    {
        var reference = Reference.Value[folder][row];
        Load(folder).Encode(reference.Text).Should().Equal(reference.Ids, "text {0}", reference.Text);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Encode_without_special_tokens_matches_the_reference(string folder, int row)
    {
        var reference = Reference.Value[folder][row];
        Load(folder).Encode(reference.Text, addSpecialTokens: false).Should().Equal(reference.IdsNoSpecial, "text {0}", reference.Text);
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Decode_matches_sentencepiece_and_round_trips(string folder, int row)
    {
        var reference = Reference.Value[folder][row];
        var tokenizer = Load(folder);
        if (reference.Decoded is not null)
        {
            tokenizer.Decode(reference.IdsNoSpecial).Should().Be(reference.Decoded, "text {0}", reference.Text);
            tokenizer.Decode(reference.Ids).Should().Be(reference.Decoded, "BOS is skipped");
        }
        else if (!reference.Text.StartsWith(' '))
        {
            tokenizer.Decode(reference.IdsNoSpecial, skipSpecialTokens: false).Should().Be(reference.Text);
        }
    }

    [Fact]
    public void Legacy_and_non_legacy_differ_after_a_special_token_as_transformers_documents()
    {
        var legacy = LegacyTokenizer.Value;
        var nonLegacy = NonLegacyTokenizer.Value;
        legacy.IdsToTokens(legacy.Encode("</s>USER")).Should().Equal("<s>", "</s>", "\u2581USER");
        nonLegacy.IdsToTokens(nonLegacy.Encode("</s>USER")).Should().Equal("<s>", "</s>", "U", "SER");
        legacy.Legacy.Should().BeTrue();
        nonLegacy.Legacy.Should().BeFalse();
    }

    [Fact]
    public void Folder_settings_are_read()
    {
        var tokenizer = LegacyTokenizer.Value;
        tokenizer.BosId.Should().Be(1);
        tokenizer.EosId.Should().Be(2);
        tokenizer.UnkId.Should().Be(0);
        tokenizer.PadId.Should().Be(513);
        tokenizer.ModelVocabularySize.Should().Be(512);
        tokenizer.VocabularySize.Should().Be(514);
        tokenizer.ModelMaxLength.Should().Be(2048);
        tokenizer.TokenToId("<image>").Should().Be(512);
        tokenizer.TokenToId("\u2581the").Should().NotBeNull();
        tokenizer.TokenToId("no such piece").Should().BeNull();
        tokenizer.IdToToken(3).Should().Be("<0x00>");
        tokenizer.Encode("").Should().Equal(1);
    }

    [Fact]
    public void FromFile_uses_the_slow_tokenizer_defaults()
    {
        var tokenizer = SentencePieceLlamaTokenizer.FromFile(Path.Combine(Fixtures.Folder(Legacy), "tokenizer.model"));
        tokenizer.Legacy.Should().BeTrue();
        tokenizer.PadId.Should().BeNull();
        tokenizer.ModelMaxLength.Should().BeNull();
        tokenizer.VocabularySize.Should().Be(512);
        tokenizer.Encode("</s>USER").Should().Equal(LegacyTokenizer.Value.Encode("</s>USER"));
        tokenizer.Encode("<image>").Should().NotEqual(LegacyTokenizer.Value.Encode("<image>"), "<image> is not an added token without the folder");
    }

    [Fact]
    public void Add_eos_option_appends_eos()
    {
        var tokenizer = SentencePieceLlamaTokenizer.FromFile(Path.Combine(Fixtures.Folder(Legacy), "tokenizer.model"), new LlamaTokenizerOptions { AddEosToken = true, AddBosToken = false });
        var ids = tokenizer.Encode("a dog");
        ids[0].Should().NotBe(tokenizer.BosId);
        ids[^1].Should().Be(tokenizer.EosId);
        tokenizer.Encode("").Should().Equal(tokenizer.EosId);
    }

    [Fact]
    public void A_special_token_missing_from_the_model_is_refused_naming_file_and_token()
    {
        using var temp = new Fixtures.TempFolder();
        File.Copy(Path.Combine(Fixtures.Folder(Legacy), "tokenizer.model"), Path.Combine(temp.Path, "tokenizer.model"));
        var config = Path.Combine(temp.Path, "tokenizer_config.json");
        File.WriteAllText(config, """{"pad_token": {"content": "<mask>"}}""");

        var act = () => SentencePieceLlamaTokenizer.FromFolder(temp.Path);

        act.Should().Throw<TokenizerFormatException>()
            .Where(e => e.Message.Contains(config, StringComparison.Ordinal) && e.Message.Contains("<mask>", StringComparison.Ordinal)
                && e.Message.Contains("do not match the model", StringComparison.Ordinal));
    }

    [Fact]
    public void Malformed_added_tokens_and_missing_model_are_refused_naming_the_file()
    {
        using var temp = new Fixtures.TempFolder();
        var act = () => SentencePieceLlamaTokenizer.FromFolder(temp.Path);
        act.Should().Throw<TokenizerFormatException>().Where(e => e.Message.Contains("tokenizer.model", StringComparison.Ordinal));

        File.Copy(Path.Combine(Fixtures.Folder(Legacy), "tokenizer.model"), Path.Combine(temp.Path, "tokenizer.model"));
        var added = Path.Combine(temp.Path, "added_tokens.json");
        File.WriteAllText(added, """{"<image>": "x"}""");
        act.Should().Throw<TokenizerFormatException>().Where(e => e.Message.Contains(added, StringComparison.Ordinal) && e.Message.Contains("<image>", StringComparison.Ordinal));

        File.WriteAllText(added, "[1, 2");
        act.Should().Throw<TokenizerFormatException>().Where(e => e.Message.Contains(added, StringComparison.Ordinal));
    }

    [Fact]
    public void Added_tokens_decoder_of_llava_hf_style_config_is_read()
    {
        using var temp = new Fixtures.TempFolder();
        File.Copy(Path.Combine(Fixtures.Folder(Legacy), "tokenizer.model"), Path.Combine(temp.Path, "tokenizer.model"));
        File.WriteAllText(Path.Combine(temp.Path, "tokenizer_config.json"), """
            {"added_tokens_decoder": {"512": {"content": "<image>", "special": true}, "513": {"content": "<pad>", "special": true}},
             "pad_token": "<pad>", "legacy": false, "model_max_length": 1000000000000000019884624838656, "additional_special_tokens": ["<image>"]}
            """);

        var tokenizer = SentencePieceLlamaTokenizer.FromFolder(temp.Path);

        tokenizer.PadId.Should().Be(513);
        tokenizer.ModelMaxLength.Should().BeNull("transformers writes 1e30 for no limit");
        tokenizer.Encode("<image>").Should().Equal(1, 512);
        tokenizer.Decode([1, 512, 2]).Should().BeEmpty();
        tokenizer.Decode([1, 512, 2], skipSpecialTokens: false).Should().Be("<s><image></s>");
    }

    [Fact]
    public void Decode_rejects_an_id_outside_the_vocabulary()
    {
        var act = () => LegacyTokenizer.Value.Decode([1, 9999]);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*9999*");
    }
}

/// <summary>
/// The second reference: @huggingface/transformers (JS tokenizers) on tokenizer.json files converted
/// from the same folders with LlamaConverter's semantics (make_llama_reference_ids_transformersjs.mjs).
/// Legacy must agree everywhere; non-legacy differs from the slow tokenizer only where the fast
/// Metaspace pre-tokenizer is known to: it adds no dummy prefix to text that already starts with
/// whitespace, and it puts no lone "▁" before a leading non-special added token.
/// </summary>
public sealed class LlamaTransformersJsReferenceTests
{
    private sealed record Row(string Text, int[] Ids, int[] IdsNoSpecial, bool SameAsSlow);

    private static readonly Lazy<IReadOnlyDictionary<string, Row[]>> Reference = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Fixtures.Directory, "llama_reference_ids_transformersjs.json")));
        var result = new Dictionary<string, Row[]>();
        foreach (var folder in doc.RootElement.GetProperty("folders").EnumerateObject())
        {
            result[folder.Name] = [.. folder.Value.EnumerateArray().Select(r => new Row(
                r.GetProperty("text").GetString()!,
                [.. r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32())],
                [.. r.GetProperty("ids_no_special").EnumerateArray().Select(e => e.GetInt32())],
                r.GetProperty("same_as_slow").GetBoolean()))];
        }
        return result;
    });

    public static TheoryData<string, int> Rows()
    {
        var data = new TheoryData<string, int>();
        foreach (var (folder, rows) in Reference.Value)
        {
            for (var i = 0; i < rows.Length; i++)
            {
                data.Add(folder, i);
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void Encode_matches_transformers_js_except_the_known_fast_slow_differences(string folder, int row)
    {
        var reference = Reference.Value[folder][row];
        var tokenizer = SentencePieceLlamaTokenizer.FromFolder(Fixtures.Folder(folder));
        var ids = tokenizer.Encode(reference.Text);
        if (reference.SameAsSlow)
        {
            ids.Should().Equal(reference.Ids, "text {0}", reference.Text);
            tokenizer.Encode(reference.Text, addSpecialTokens: false).Should().Equal(reference.IdsNoSpecial);
            return;
        }
        tokenizer.Legacy.Should().BeFalse("the legacy tokenizer must agree with the fast one on every text");
        var startsWithSpace = reference.Text.StartsWith(' ') || reference.Text.StartsWith('\u2581');
        var startsWithAddedToken = reference.Text.StartsWith("<image>", StringComparison.Ordinal);
        (startsWithSpace || startsWithAddedToken).Should().BeTrue("only the known differences are allowed, text {0}", reference.Text);
        // Both differences are one leading "▁" id that the slow tokenizer has and the fast one has not.
        ids.Should().Equal([ids[0], tokenizer.TokenToId("\u2581")!.Value, .. reference.Ids.Skip(1)]);
    }
}
