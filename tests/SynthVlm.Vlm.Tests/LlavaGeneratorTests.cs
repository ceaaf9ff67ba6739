using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

public sealed class LlavaGeneratorTests
{
    private static (int[] Prompt, int Image, int[] Expected)[] ReferenceGenerations() =>
        LlavaParityTests.Reference.GetProperty("generations").EnumerateArray()
            .Select(g => (
                g.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                g.GetProperty("image").GetInt32(),
                g.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToArray();

    [Fact]
    public void Greedy_generation_equals_PyTorch_token_for_token_one_by_one_and_batched_with_left_padding()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        var generator = new LlavaGenerator(model);
        var cases = ReferenceGenerations();
        var options = new GenerationOptions(MaxNewTokens: 12, EosTokenId: 2);
        // The two prompts differ in length, so the batch is left-padded.
        cases.Select(c => c.Prompt.Length).Distinct().Should().HaveCount(2);

        foreach (var (prompt, image, expected) in cases)
        {
            var single = generator.Generate([new GenerationRequest(prompt, pixels[image])], options);
            single[0].Ids.Should().Equal(expected);
        }
        var batched = generator.Generate([.. cases.Select(c => new GenerationRequest(c.Prompt, pixels[c.Image]))], options);
        batched.Select(r => r.Ids).Should().BeEquivalentTo(cases.Select(c => c.Expected), o => o.WithStrictOrdering());
        batched.Should().AllSatisfy(r => r.Finish.Should().Be(FinishReason.Length));
    }

    [Fact]
    public void Sampling_is_reproducible_with_a_seed_and_top_p_near_zero_is_greedy()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        var generator = new LlavaGenerator(model);
        var (prompt, image, greedy) = ReferenceGenerations()[0];
        GenerationRequest[] request = [new(prompt, pixels[image])];

        var a = generator.Generate(request, new GenerationOptions(MaxNewTokens: 12, Temperature: 1.5, Seed: 7));
        var b = generator.Generate(request, new GenerationOptions(MaxNewTokens: 12, Temperature: 1.5, Seed: 7));
        var c = generator.Generate(request, new GenerationOptions(MaxNewTokens: 12, Temperature: 1.5, Seed: 8));
        var nucleus = generator.Generate(request, new GenerationOptions(MaxNewTokens: 12, Temperature: 1.0, TopP: 1e-6, Seed: 9));

        a[0].Ids.Should().Equal(b[0].Ids);
        c[0].Ids.Should().NotEqual(a[0].Ids, "another seed draws other tokens from a near-uniform tiny model");
        nucleus[0].Ids.Should().Equal(greedy, "a nucleus of one token is the argmax");
    }

    [Fact]
    public void A_stop_string_ends_the_prompt_and_cuts_the_text_before_it_while_the_rest_of_the_batch_goes_on()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        // A decoder that spells ids as "<id>": the stop string is the third token of the first prompt.
        var generator = new LlavaGenerator(model, ids => string.Concat(ids.Select(i => $"<{i}>")));
        var cases = ReferenceGenerations();
        var stop = $"<{cases[0].Expected[2]}>";
        cases[1].Expected.Take(12).Select(i => $"<{i}>").Should().NotContain(stop);

        var results = generator.Generate(
            [.. cases.Select(c => new GenerationRequest(c.Prompt, pixels[c.Image]))],
            new GenerationOptions(MaxNewTokens: 12, StopStrings: [stop]));

        results[0].Finish.Should().Be(FinishReason.StopString);
        results[0].Ids.Should().Equal(cases[0].Expected.Take(3));
        results[0].Text.Should().Be($"<{cases[0].Expected[0]}><{cases[0].Expected[1]}>");
        results[1].Ids.Should().Equal(cases[1].Expected);
        results[1].Finish.Should().Be(FinishReason.Length);
    }

    [Fact]
    public void A_cancelled_generation_throws_and_leaves_no_live_tensor()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        using var image = pixels[0];
        var generator = new LlavaGenerator(model);
        var (prompt, _, _) = ReferenceGenerations()[0];
        using var cancellation = new CancellationTokenSource();
        var steps = 0;
        var counting = new LlavaGenerator(model, ids =>
        {
            if (++steps == 3)
            {
                cancellation.Cancel();
            }
            return "";
        });
        // Warm up once so lazily created state is not counted.
        generator.Generate([new GenerationRequest(prompt, image)], new GenerationOptions(MaxNewTokens: 2));
        var before = DisposeScopeManager.Statistics.ThreadTotalLiveCount;

        var act = () => counting.Generate([new GenerationRequest(prompt, image)], new GenerationOptions(MaxNewTokens: 50, StopStrings: ["never"]), cancellation.Token);

        act.Should().Throw<OperationCanceledException>();
        DisposeScopeManager.Statistics.ThreadTotalLiveCount.Should().Be(before);
    }

    [Fact]
    public void Each_row_of_a_batch_grows_to_the_context_on_its_own_so_a_short_prompt_is_not_cut_by_a_long_one()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        var generator = new LlavaGenerator(model);
        var (prompt, image, _) = ReferenceGenerations()[0];
        // A text-only prompt that leaves little room, beside the image prompt that leaves much more.
        int[] longPrompt = [1, .. Enumerable.Range(0, model.Config.ModelMaxLength - 12).Select(i => 5 + (i % 200))];
        // No EOS: every row runs to its own limit.
        var options = new GenerationOptions(MaxNewTokens: 1000, EosTokenId: -1);

        var alone = generator.Generate([new GenerationRequest(prompt, pixels[image])], options)[0];
        var longAlone = generator.Generate([new GenerationRequest(longPrompt, null)], options)[0];
        var together = generator.Generate([new GenerationRequest(prompt, pixels[image]), new GenerationRequest(longPrompt, null)], options);

        longAlone.Ids.Should().HaveCount(11, "the long prompt has 11 positions left before the context of 128");
        alone.Ids.Length.Should().BeGreaterThan(longAlone.Ids.Length);
        together[0].Ids.Should().Equal(alone.Ids, "the short prompt is not cut to the long one's room");
        together[1].Ids.Should().Equal(longAlone.Ids);
        together.Should().AllSatisfy(r => r.Finish.Should().Be(FinishReason.Length));
    }

    [Fact]
    public void Bad_prompts_are_refused_one_by_one_naming_the_prompt_and_the_rest_of_the_batch_is_generated()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = LlavaParityTests.Pixels();
        using var image = pixels[0];
        var generator = new LlavaGenerator(model);
        var (prompt, index, expected) = ReferenceGenerations()[0];
        index.Should().Be(0);

        var results = generator.Generate(
            [
                new GenerationRequest([1, -200, 5, -200], image),
                new GenerationRequest([1, 5, -200, 6], null),
                new GenerationRequest([1, -200, .. Enumerable.Repeat(5, model.Config.ModelMaxLength)], image),
                new GenerationRequest([], null),
                new GenerationRequest(prompt, image),
                new GenerationRequest([1, 5, 9999], null),
            ],
            new GenerationOptions(MaxNewTokens: 12));

        results.Take(4).Concat(results.Skip(5)).Should().AllSatisfy(r => r.Finish.Should().Be(FinishReason.Refused));
        results[0].Error.Should().StartWith("Prompt 0 holds 2 image markers");
        results[1].Error.Should().StartWith("Prompt 1 has 1 image marker(s) but no image");
        results[2].Error.Should().Match("Prompt 2 is * positions*context is 128*");
        results[3].Error.Should().Be("Prompt 3 is empty.");
        results[5].Error.Should().Contain("token id 9999");
        results[4].Ids.Should().Equal(expected);
        results[4].Error.Should().BeNull();
    }
}
