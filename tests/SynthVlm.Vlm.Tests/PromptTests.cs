using System.Text.Json;
using SynthVlm.Testing;
using SynthVlm.Tokenizers;
using SynthVlm.Vlm.Prompts;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// LLaVA's prompts and label masking against a re-implementation of LLaVA's preprocess on python
/// sentencepiece (Fixtures/make_llava_preprocess_reference.py -> llava_preprocess_reference.json),
/// and every refusal.
/// </summary>
public sealed class PromptTests
{
    private static readonly string TokenizerModel = Path.Combine(RepoPaths.Root, "lib", "SynthVlm.Vlm", "Tiny", "Resources", "tokenizer.model");
    private static readonly string ConversationsPath = Path.Combine(Scripts.Fixtures, "llava_preprocess_conversations.json");

    private sealed record Row(string Id, string Template, bool HasImage, int[] InputIds, int[] Labels, bool Mismatch);

    private static readonly Lazy<JsonDocument> ReferenceDocument = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "llava_preprocess_reference.json"))));

    private static Row[] ReferenceRows(string tokenizer) =>
    [
        .. ReferenceDocument.Value.RootElement.GetProperty("tokenizers").GetProperty(tokenizer).EnumerateArray().Select(r => new Row(
            r.GetProperty("id").GetString()!,
            r.GetProperty("template").GetString()!,
            r.GetProperty("has_image").GetBoolean(),
            [.. r.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32())],
            [.. r.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32())],
            r.GetProperty("mismatch").GetBoolean())),
    ];

    private static readonly Lazy<LlavaPromptEncoder> LegacyEncoder = new(() => NewEncoder(legacy: true));
    private static readonly Lazy<LlavaPromptEncoder> NonLegacyEncoder = new(() => NewEncoder(legacy: false));

    private static LlavaPromptEncoder NewEncoder(bool legacy) =>
        new(SentencePieceLlamaTokenizer.FromFile(TokenizerModel, new LlamaTokenizerOptions { Legacy = legacy }), modelMaxLength: 2048);

    private static LlavaPromptEncoder Encoder(string tokenizer) => tokenizer == "legacy" ? LegacyEncoder.Value : NonLegacyEncoder.Value;

    private static readonly Lazy<Dictionary<string, LlavaConversation>> Conversations = new(() =>
        LlavaConversation.Read(ConversationsPath).ToDictionary(c => c.Id));

    public static TheoryData<string, string> Samples()
    {
        var data = new TheoryData<string, string>();
        foreach (var tokenizer in new[] { "legacy", "nonlegacy" })
        {
            foreach (var row in ReferenceRows(tokenizer))
            {
                data.Add(tokenizer, row.Id);
            }
        }
        return data;
    }

    [Fact]
    public void Reference_has_the_documented_coverage()
    {
        var legacy = ReferenceRows("legacy");
        legacy.Length.Should().BeGreaterThanOrEqualTo(15);
        legacy.Select(r => r.Template).Should().Contain(["plain", "vicuna_v1"]);
        legacy.Should().Contain(r => r.Mismatch, "a sample that triggers LLaVA's mismatch rule");
        legacy.Should().Contain(r => !r.HasImage);
        ReferenceDocument.Value.RootElement.GetProperty("model_max_length").GetInt32().Should().Be(2048);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void Encode_matches_llava_preprocess(string tokenizer, string id)
    {
        var reference = ReferenceRows(tokenizer).Single(r => r.Id == id);
        var conversation = Conversations.Value[id];

        var sample = Encoder(tokenizer).Encode(conversation, ConversationTemplate.FromName(reference.Template));

        sample.Id.Should().Be(id);
        sample.HasImage.Should().Be(reference.HasImage);
        if (reference.Mismatch)
        {
            sample.IsRejected.Should().BeTrue("LLaVA masks this sample whole");
            sample.Rejection.Should().Contain($"sample '{id}'").And.Contain("tokenization mismatch");
            sample.InputIds.Should().BeEmpty();
            return;
        }
        sample.Rejection.Should().BeNull();
        sample.InputIds.Should().Equal(reference.InputIds);
        sample.Labels.Should().Equal(reference.Labels);
        sample.InputIds.Count(t => t == LlavaTokens.ImageTokenIndex).Should().Be(reference.HasImage ? 1 : 0);
        sample.LabelledCount.Should().BeGreaterThan(0);
    }

    [Fact]
    public void Generation_prompt_matches_llava()
    {
        foreach (var row in ReferenceDocument.Value.RootElement.GetProperty("generation_prompts").EnumerateArray())
        {
            var expected = row.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            LegacyEncoder.Value.EncodeGenerationPrompt(row.GetProperty("prompt").GetString()!).Should().Equal(expected);
        }
    }

    [Fact]
    public void Generation_prompt_can_use_a_folder_image_token_id()
    {
        var encoder = LegacyEncoder.Value;
        var withIndex = encoder.EncodeGenerationPrompt("What is it?");
        var withToken = encoder.EncodeGenerationPrompt("What is it?", 512);
        withToken.Should().Equal(withIndex.Select(i => i == LlavaTokens.ImageTokenIndex ? 512 : i));
        withIndex.Count(i => i == LlavaTokens.ImageTokenIndex).Should().Be(1);
    }

    [Fact]
    public void Generation_prompt_text_is_vicuna_v1()
    {
        var template = ConversationTemplate.VicunaV1;
        template.GetPrompt([("USER", "<image>\nWhat is it?"), ("ASSISTANT", null)]).Should().Be(
            "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, "
            + "and polite answers to the user's questions. USER: <image>\nWhat is it? ASSISTANT:");
        var act = () => LegacyEncoder.Value.EncodeGenerationPrompt("two <image> images");
        act.Should().Throw<ArgumentException>().WithMessage("*<image>*");
    }

    [Fact]
    public void Tokenize_with_image_puts_one_image_index_between_chunks_and_one_bos()
    {
        var encoder = LegacyEncoder.Value;
        var bos = encoder.Tokenizer.BosId;
        encoder.TokenizeWithImage("<image>").Should().Equal(bos, LlavaTokens.ImageTokenIndex);
        var ids = encoder.TokenizeWithImage("a dog <image> a cat");
        ids.Count(i => i == bos).Should().Be(1);
        ids[0].Should().Be(bos);
        ids.Count(i => i == LlavaTokens.ImageTokenIndex).Should().Be(1);
        ids.Should().Equal([.. encoder.Tokenizer.Encode("a dog "), LlavaTokens.ImageTokenIndex, .. encoder.Tokenizer.Encode(" a cat").Skip(1)]);
    }

    [Fact]
    public void Templates_are_named_once()
    {
        ConversationTemplate.FromName("plain").Should().BeSameAs(ConversationTemplate.Plain);
        ConversationTemplate.FromName("vicuna_v1").Should().BeSameAs(ConversationTemplate.VicunaV1);
        var act = () => ConversationTemplate.FromName("llava_v1");
        act.Should().Throw<ArgumentException>().WithMessage("*llava_v1*plain*vicuna_v1*");
    }

    public static TheoryData<string, string, string[], string> Refusals() => new()
    {
        // template, image ("" = none), turns as "from|value", expected fragment of the reason
        { "vicuna_v1", "a.jpg", ["human|What is it?", "gpt|A dog."], "no <image>" },
        { "vicuna_v1", "a.jpg", ["human|<image> <image>", "gpt|A dog."], "expected one <image>, found 2" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|A dog.", "human|<image> again", "gpt|Yes."], "found 2" },
        { "vicuna_v1", "", ["human|<image>\nWhat?", "gpt|A dog."], "without an image" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|"], "turn 1 is an empty answer" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|   "], "turn 1 is an empty answer" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "human|Hello?", "gpt|A dog."], "turn 1 is from 'human', expected 'gpt'" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|A dog.", "gpt|A cat."], "turn 2 is from 'gpt', expected 'human'" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "assistant|A dog."], "turn 1 is from 'assistant'" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|A dog.", "human|And?"], "does not end with an answer" },
        { "vicuna_v1", "a.jpg", ["gpt|<image> hello", "human|What?", "gpt|A dog."], "dropped first turn" },
        { "vicuna_v1", "a.jpg", [], "no turns" },
        { "vicuna_v1", "a.jpg", ["human|<image>", "gpt|first</s>second"], "tokenization mismatch" },
        { "plain", "a.jpg", ["human|<image>", "gpt|A dog.", "human|More?", "gpt|No."], "exactly 2 turns" },
        { "plain", "a.jpg", ["human|<image>"], "exactly 2 turns" },
        { "plain", "a.jpg", ["gpt|<image>", "human|A dog."], "[human, gpt]" },
        { "plain", "a.jpg", ["human|A photo.", "gpt|A dog <image>."], "first (human) turn" },
        { "plain", "", ["human|A photo.", "gpt|A dog."], "needs the image" },
    };

    [Theory]
    [MemberData(nameof(Refusals))]
    public void Malformed_samples_are_refused_naming_the_sample(string template, string image, string[] turns, string reason)
    {
        var conversation = new LlavaConversation(
            "bad-1",
            image.Length == 0 ? null : image,
            [.. turns.Select(t => t.Split('|', 2)).Select(p => new LlavaTurn(p[0], p[1]))]);

        var sample = LegacyEncoder.Value.Encode(conversation, ConversationTemplate.FromName(template));

        sample.IsRejected.Should().BeTrue();
        sample.Rejection.Should().StartWith("sample 'bad-1': ").And.Contain(reason);
        sample.InputIds.Should().BeEmpty();
        sample.Labels.Should().BeEmpty();
    }

    [Fact]
    public void A_refused_sample_does_not_stop_the_others()
    {
        var encoder = LegacyEncoder.Value;
        var samples = Conversations.Value.Values
            .Where(c => c.Id.StartsWith("v1-", StringComparison.Ordinal))
            .Select(c => encoder.Encode(c, ConversationTemplate.VicunaV1))
            .ToArray();
        samples.Should().Contain(s => s.IsRejected).And.Contain(s => !s.IsRejected);
    }

    [Fact]
    public void Model_max_length_comes_from_the_tokenizer_unless_given()
    {
        var tokenizer = SentencePieceLlamaTokenizer.FromFile(TokenizerModel, new LlamaTokenizerOptions { ModelMaxLength = 4096 });
        new LlavaPromptEncoder(tokenizer).ModelMaxLength.Should().Be(4096);
        new LlavaPromptEncoder(tokenizer, 2048).ModelMaxLength.Should().Be(2048);
        new LlavaPromptEncoder(SentencePieceLlamaTokenizer.FromFile(TokenizerModel)).ModelMaxLength.Should().BeNull();
    }

    [Fact]
    public void A_mismatch_past_model_max_length_is_not_checked_as_in_llava()
    {
        // LLaVA only checks rounds that end before model_max_length (longer samples are truncated later).
        var encoder = new LlavaPromptEncoder(SentencePieceLlamaTokenizer.FromFile(TokenizerModel), modelMaxLength: 5);
        var sample = encoder.Encode(Conversations.Value["v1-answer-with-eos"], ConversationTemplate.VicunaV1);
        sample.IsRejected.Should().BeFalse();
        sample.Labels.Should().Equal(ReferenceRows("legacy").Single(r => r.Id == "v1-answer-with-eos").Labels);
    }

    [Fact]
    public async Task Reader_streams_llava_json_and_keeps_numeric_ids()
    {
        var path = Path.Combine(Path.GetTempPath(), $"llava-{Guid.NewGuid():N}.json");
        try
        {
            await File.WriteAllTextAsync(path, """
                [{"id": 7, "image": "x/7.jpg", "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "A dog."}], "extra": 1},
                 {"id": "t", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello."}]}]
                """);
            var list = new List<LlavaConversation>();
            await foreach (var c in LlavaConversation.ReadAsync(path, TestTimeout.Token()))
            {
                list.Add(c);
            }
            list.Select(c => c.Id).Should().Equal("7", "t");
            list[0].Image.Should().Be("x/7.jpg");
            list[1].HasImage.Should().BeFalse();
            list[0].Turns.Should().Equal(new LlavaTurn("human", "<image>"), new LlavaTurn("gpt", "A dog."));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData("""{"id": 1}""", "top-level array")]
    [InlineData("""[{"id": 1, "conversations": [{"from": "human"}]}]""", "sample 0 (id '1'): turn 0")]
    [InlineData("""[{"id": "a", "conversations": []}, {"conversations": []}]""", "sample 1: expected \"id\"")]
    [InlineData("""[{"id": "a"}]""", "sample 0 (id 'a'): expected \"conversations\"")]
    [InlineData("""[{"id": "a", "image": 3, "conversations": []}]""", "\"image\" must be a string")]
    [InlineData("""[{"id": "a", "conversations": []}, {"id": "b", """, "malformed")]
    public void Reader_errors_name_the_file_and_the_sample(string json, string fragment)
    {
        var path = Path.Combine(Path.GetTempPath(), $"llava-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(path, json);
            var act = () => LlavaConversation.Read(path).ToList();
            act.Should().Throw<InvalidDataException>().Where(e => e.Message.Contains(path, StringComparison.Ordinal) && e.Message.Contains(fragment, StringComparison.Ordinal));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
