using SynthVlm.ChatEndpoints;
using SynthVlm.Vlm.Generation;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// The in-process LLaVA behind IChatModel (what EvalService asks): requests in flight together are
/// generated in batches and answer exactly what one-by-one generation answers, with LLaVA's
/// evaluation prompt; a request it cannot take fails alone.
/// </summary>
public sealed class LlavaChatModelTests
{
    private static readonly string[] Images = [.. Directory.GetFiles(Path.Combine(Scripts.Fixtures, "llava_images")).Order(StringComparer.Ordinal).Take(3)];

    private static readonly string[] Questions =
    [
        "What is in the image?\nAnswer the question using a single word or phrase.",
        "Is there a dog in the image?\nAnswer the question using a single word or phrase.",
        "Describe the image briefly.",
        "How many objects are there?",
        "What colour dominates?\nAnswer the question using a single word or phrase.",
        "Is it day or night?",
    ];

    [Fact]
    public async Task Requests_in_flight_are_batched_and_answer_what_one_by_one_generation_and_the_pipeline_answer()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var requests = Questions.Select((q, i) => new ChatRequest([ChatMessage.User(q, Images[i % Images.Length])], MaxTokens: 6)).ToList();

        string[] alone;
        using (var single = new LlavaChatModel(pipeline, maxBatchSize: 1))
        {
            alone = [.. await Task.WhenAll(requests.Select(async r => (await single.CompleteAsync(r)).Text))];
            single.Batches.Should().Be(requests.Count);
        }
        using var batched = new LlavaChatModel(pipeline, maxBatchSize: 4);
        var together = await Task.WhenAll(requests.Select(r => batched.CompleteAsync(r)));

        together.Select(r => r.Text).Should().Equal(alone);
        batched.Batches.Should().BeLessThan(requests.Count, "requests queued together share a batch");
        batched.ModelName.Should().Be("tiny-llava-hf");
        for (var i = 0; i < 2; i++)
        {
            pipeline.Generate(Questions[i], Images[i % Images.Length], null, new GenerationOptions(MaxNewTokens: 6)).Text.Should().Be(alone[i], "the same vicuna_v1 prompt with the image first");
        }
    }

    [Fact]
    public async Task Top_p_reaches_generation_and_requests_with_another_top_p_are_not_batched_together()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var question = Questions[2];
        var image = Images[0];
        var nucleus = new ChatRequest([ChatMessage.User(question, image)], Temperature: 1, MaxTokens: 8, Seed: 7, TopP: 0.5);
        var expected = pipeline.Generate(question, image, null, new GenerationOptions(MaxNewTokens: 8, Temperature: 1, TopP: 0.5, Seed: 7)).Text;
        var unrestricted = pipeline.Generate(question, image, null, new GenerationOptions(MaxNewTokens: 8, Temperature: 1, Seed: 7)).Text;
        var greedy = pipeline.Generate(question, image, null, new GenerationOptions(MaxNewTokens: 8)).Text;
        unrestricted.Should().NotBe(expected, "the test needs a top-p that changes the draw");

        using (var single = new LlavaChatModel(pipeline, maxBatchSize: 1))
        {
            (await single.CompleteAsync(nucleus)).Text.Should().Be(expected);
        }

        // A top-p so small that only the most likely token stays is greedy; mixed with unrestricted draws in flight
        // together, it only stays greedy if it is never generated in their batch (under their options).
        using var batched = new LlavaChatModel(pipeline, maxBatchSize: 8);
        var mixed = Enumerable.Range(0, 6).Select(i => nucleus with { TopP = i % 2 == 0 ? 1 : 1e-9 }).ToList();
        var replies = await Task.WhenAll(mixed.Select(r => batched.CompleteAsync(r)));

        replies.Where((_, i) => i % 2 == 1).Select(r => r.Text).Should().AllBe(greedy);
        batched.Batches.Should().BeGreaterThanOrEqualTo(2);
        FluentActions.Invoking(() => { _ = batched.CompleteAsync(nucleus with { TopP = 0 }); }).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*top-p*");
    }

    [Fact]
    public async Task A_text_only_request_with_few_shot_turns_is_answered_and_bad_requests_fail_alone_naming_the_problem()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        using var model = new LlavaChatModel(pipeline, maxBatchSize: 4);
        var shots = new ChatRequest([ChatMessage.User("1 + 1 = ?"), ChatMessage.Assistant("2"), ChatMessage.User("2 + 2 = ?")], MaxTokens: 3);
        var twoImages = new ChatRequest([ChatMessage.User("Compare.", Images[0], Images[1])]);
        var missing = new ChatRequest([ChatMessage.User("What is it?", "/nonexistent/image.png")]);
        var endsWithAssistant = new ChatRequest([ChatMessage.User("Hi"), ChatMessage.Assistant("Hello")]);

        var answered = model.CompleteAsync(shots);
        var failedImage = model.CompleteAsync(missing);

        (await answered).Text.Should().NotBeNull();
        await FluentActions.Awaiting(() => failedImage).Should().ThrowAsync<ChatModelException>().WithMessage("*/nonexistent/image.png*");
        FluentActions.Invoking(() => { _ = model.CompleteAsync(twoImages); }).Should().Throw<ChatModelException>().WithMessage("*one image per prompt*2*");
        FluentActions.Invoking(() => { _ = model.CompleteAsync(endsWithAssistant); }).Should().Throw<ChatModelException>().WithMessage("*end with a user message*");
    }
    [Fact]
    public async Task Option_scores_are_the_first_step_logits_of_each_options_token_batched_or_alone_and_equal_a_plain_forward()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        string[] options = ["A", "B", "C", "D"];
        var requests = Questions.Select((q, i) => new ChatRequest([i % 3 == 2 ? ChatMessage.User(q) : ChatMessage.User(q, Images[i % Images.Length])])).ToList();

        IReadOnlyList<double>[] alone;
        using (var single = new LlavaChatModel(pipeline, maxBatchSize: 1))
        {
            alone = await Task.WhenAll(requests.Select(r => single.ScoreOptionsAsync(r, options)));
        }
        using var batched = new LlavaChatModel(pipeline, maxBatchSize: 4);
        var generated = batched.CompleteAsync(requests[0] with { MaxTokens = 2 });
        var together = await Task.WhenAll(requests.Select(r => batched.ScoreOptionsAsync(r, options)));
        (await generated).Text.Should().NotBeNull("a generation request waiting beside scoring requests is generated on its own");

        var tokens = options.Select(o => pipeline.Tokenizer.Encode(o, addSpecialTokens: false).First(id => pipeline.Tokenizer.IdToToken(id) != "\u2581")).ToArray();
        tokens.Should().OnlyHaveUniqueItems();
        for (var i = 0; i < requests.Count; i++)
        {
            together[i].Should().HaveCount(4);
            together[i].Zip(alone[i]).Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-4, "left padding in a batch changes nothing but rounding");
            if (i % 3 == 2)
            {
                continue;
            }
            // Independent path: the prompt ids the pipeline builds for the same question, one full forward
            // without padding or KV cache, the logits at the last position.
            var promptIds = pipeline.Generate(Questions[i], Images[i % Images.Length], null, new GenerationOptions(MaxNewTokens: 1)).PromptIds;
            using var scope = TorchSharp.torch.NewDisposeScope();
            var pixels = TorchSharp.torch.tensor(pipeline.Images.Preprocess(Images[i % Images.Length], pipeline.Images.DefaultMode), [1, 3, pipeline.Images.Height, pipeline.Images.Width]);
            using var noGrad = TorchSharp.torch.no_grad();
            using var output = pipeline.Model.Forward([new Model.LlavaSequence(promptIds)], pixels);
            var last = output.Batch.Lengths[0] - 1;
            var expected = tokens.Select(t => (double)output.Logits[0, last, t].item<float>()).ToArray();
            alone[i].Zip(expected).Should().OnlyContain(p => Math.Abs(p.First - p.Second) < 1e-4, $"request {i}: the logits of {string.Join(", ", options)} after the prompt");
        }
    }

    [Fact]
    public async Task Option_scoring_refuses_options_it_cannot_tell_apart_and_requests_it_cannot_take()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        using var model = new LlavaChatModel(pipeline);
        var request = new ChatRequest([ChatMessage.User("Which?")]);

        FluentActions.Invoking(() => { _ = model.ScoreOptionsAsync(request, ["A", "A"]); }).Should().Throw<ArgumentException>().WithMessage("*options 0 ('A') and 1 ('A')*same token*");
        FluentActions.Invoking(() => { _ = model.ScoreOptionsAsync(request, []); }).Should().Throw<ArgumentException>().WithMessage("*at least one option*");
        var missing = model.ScoreOptionsAsync(new ChatRequest([ChatMessage.User("What is it?", "/nonexistent/image.png")]), ["A", "B"]);
        await FluentActions.Awaiting(() => missing).Should().ThrowAsync<ChatModelException>().WithMessage("*/nonexistent/image.png*");
    }
}
