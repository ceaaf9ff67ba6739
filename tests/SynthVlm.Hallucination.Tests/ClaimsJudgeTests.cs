using System.Text.Json;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Testing;

namespace SynthVlm.Hallucination.Tests;

/// <summary>
/// <see cref="CaptionHallucinationJudge"/> against a real HTTP fake judge with scripted, deterministic
/// answers: verdicts, garbage, failures, caching, order and the bound on captions in flight.
/// </summary>
public sealed class ClaimsJudgeTests
{
    [Fact]
    public async Task A_caption_is_free_when_no_claim_is_rejected_and_hallucinated_when_one_is()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("A red car on a street.", "A car is red.", "The car is on a street.");
        fake.Extract("A red car and a dog.", "A car is red.", "There is a dog.");
        fake.Verdict("A car is red.", "Yes.");
        fake.Verdict("The car is on a street.", "yes");
        fake.Verdict("There is a dog.", "No, there is no dog.");
        var client = fake.Client();
        var judge = new CaptionHallucinationJudge(client, client);
        var image = fake.Image("car");

        var free = await judge.JudgeAsync(new CaptionToJudge("c1", image, "A red car on a street."), TestTimeout.Token()).WithTimeout();
        var bad = await judge.JudgeAsync(new CaptionToJudge("c2", image, "A red car and a dog."), TestTimeout.Token()).WithTimeout();

        free.Status.Should().Be(CaptionStatus.HallucinationFree);
        free.Claims.Select(c => c.Verdict).Should().Equal(ClaimVerdict.Supported, ClaimVerdict.Supported);
        free.RejectedCount.Should().Be(0);
        free.Cause.Should().BeNull();
        bad.Status.Should().Be(CaptionStatus.Hallucinated);
        bad.RejectedCount.Should().Be(1);
        bad.Claims[1].Should().Be(new ClaimCheck("There is a dog.", ClaimVerdict.Rejected, "No, there is no dog.", null));
        // "A car is red." with this image was asked once: the second caption's check came from the client's cache.
        fake.VerificationRequests.Count(r => r.LastText.Contains("A car is red.", StringComparison.Ordinal)).Should().Be(1);
    }

    [Fact]
    public async Task Extraction_is_text_only_and_verification_shows_the_image_both_at_temperature_zero()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("A cat.", "There is a cat.");
        fake.Verdict("There is a cat.", "yes");
        var extractor = fake.Client("extractor-llm");
        var verifier = fake.Client("verifier-vlm");
        var judge = new CaptionHallucinationJudge(extractor, verifier);

        var judgement = await judge.JudgeAsync(new CaptionToJudge("c", fake.Image("cat"), "A cat."), TestTimeout.Token()).WithTimeout();

        judgement.Status.Should().Be(CaptionStatus.HallucinationFree);
        judgement.ExtractorModel.Should().Be("extractor-llm");
        judgement.VerifierModel.Should().Be("verifier-vlm");
        var extraction = fake.ExtractionRequests.Single();
        extraction.Model.Should().Be("extractor-llm");
        extraction.Temperature.Should().Be(0);
        extraction.Messages.Single().ImageUrls.Should().BeEmpty();
        var verification = fake.VerificationRequests.Single();
        verification.Model.Should().Be("verifier-vlm");
        verification.Temperature.Should().Be(0);
        verification.Messages.Single().ImageUrls.Should().ContainSingle().Which.Should().StartWith("data:image/png;base64,");
    }

    [Fact]
    public async Task Garbage_and_failures_make_a_caption_unjudged_with_its_cause_and_reason()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extractions["Garbage list."] = FakeChatReply.Answer("I am sorry, I cannot do that.");
        fake.Extractions["Nothing here."] = FakeChatReply.Answer("NONE");
        fake.Extractions["Server breaks."] = FakeChatReply.Error(400, "model not found");
        fake.Extract("A boat and a bird.", "There is a boat.", "A bird flies.");
        fake.Extract("A missing image.", "There is a boat.");
        fake.Extract("Many claims.", [.. Enumerable.Range(1, 5).Select(i => $"Claim {i}.")]);
        fake.Verdict("There is a boat.", "no");
        fake.Verdict("A bird flies.", "Perhaps a gull?");
        var client = fake.Client();
        var judge = new CaptionHallucinationJudge(client, client, new ClaimJudgeOptions { MaxClaims = 4 });
        var image = fake.Image("sea");

        async Task<CaptionJudgement> Judge(string caption, string? path = null) =>
            await judge.JudgeAsync(new CaptionToJudge(caption, path ?? image, caption), TestTimeout.Token()).WithTimeout();

        var garbage = await Judge("Garbage list.");
        garbage.Status.Should().Be(CaptionStatus.Unjudged);
        garbage.Cause.Should().Be(UnjudgedCause.ClaimsUnparseable);
        garbage.Reason.Should().Be("claims unparseable: not a list of claims: I am sorry, I cannot do that.");
        garbage.ExtractorAnswer.Should().Be("I am sorry, I cannot do that.");

        (await Judge("Nothing here.")).Cause.Should().Be(UnjudgedCause.NoClaims);

        var broken = await Judge("Server breaks.");
        broken.Cause.Should().Be(UnjudgedCause.ExtractorFailed);
        broken.Reason.Should().Contain("model not found");

        // One claim rejected, the other unparseable: still unjudged (see the judge's remarks), claims kept.
        var partial = await Judge("A boat and a bird.");
        partial.Status.Should().Be(CaptionStatus.Unjudged);
        partial.Cause.Should().Be(UnjudgedCause.VerdictUnparseable);
        partial.Reason.Should().Be("1 of 2 claims unjudged; claim 2 (\"A bird flies.\"): unparseable verdict: Perhaps a gull?");
        partial.Claims.Select(c => c.Verdict).Should().Equal(ClaimVerdict.Rejected, ClaimVerdict.Unjudged);

        var missing = await Judge("A missing image.", Path.Combine(fake.Folder, "absent.png"));
        missing.Cause.Should().Be(UnjudgedCause.VerifierFailed);
        missing.Reason.Should().Contain("absent.png");

        var many = await Judge("Many claims.");
        many.Cause.Should().Be(UnjudgedCause.TooManyClaims);
        many.Reason.Should().Be("too many claims: 5, the limit is 4");

        var requests = fake.Server.RequestCount;
        var empty = await Judge("  ");
        empty.Cause.Should().Be(UnjudgedCause.EmptyCaption);
        fake.Server.RequestCount.Should().Be(requests, "an empty caption is not sent");
    }

    [Fact]
    public async Task Unsure_counts_as_rejected_only_when_asked()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("The Eiffel Tower at dusk.", "The tower is the Eiffel Tower.", "It is dusk.");
        fake.Verdict("The tower is the Eiffel Tower.", "Unsure");
        fake.Verdict("It is dusk.", "Yes");
        var client = fake.Client();
        var item = new CaptionToJudge("t", fake.Image("tower"), "The Eiffel Tower at dusk.");

        var lenient = await new CaptionHallucinationJudge(client, client).JudgeAsync(item, TestTimeout.Token()).WithTimeout();
        var strict = await new CaptionHallucinationJudge(client, client, new ClaimJudgeOptions { UnsureCountsAsRejected = true }).JudgeAsync(item, TestTimeout.Token()).WithTimeout();

        lenient.Status.Should().Be(CaptionStatus.HallucinationFree);
        lenient.UnsureCount.Should().Be(1);
        lenient.RejectedCount.Should().Be(0);
        strict.Status.Should().Be(CaptionStatus.Hallucinated);
        strict.RejectedCount.Should().Be(1);
    }

    [Fact]
    public async Task A_rerun_with_the_file_cache_sends_nothing()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("A green bench.", "A bench is green.");
        fake.Verdict("A bench is green.", "no");
        var cacheFile = Path.Combine(fake.Folder, "replies.jsonl");
        var item = new CaptionToJudge("b", fake.Image("bench"), "A green bench.");

        var first = await new CaptionHallucinationJudge(fake.Client(cacheFile: cacheFile), fake.Client(cacheFile: cacheFile + ".v"))
            .JudgeAsync(item, TestTimeout.Token()).WithTimeout();
        var sent = fake.Server.RequestCount;
        var rerun = await new CaptionHallucinationJudge(fake.Client(cacheFile: cacheFile), fake.Client(cacheFile: cacheFile + ".v"))
            .JudgeAsync(item, TestTimeout.Token()).WithTimeout();

        sent.Should().Be(2);
        fake.Server.RequestCount.Should().Be(2);
        rerun.Should().BeEquivalentTo(first);
    }

    [Fact]
    public async Task Many_captions_come_back_in_input_order_with_a_bounded_number_in_flight()
    {
        await using var fake = new ClaimsFakeJudge();
        var items = new List<CaptionToJudge>();
        for (var i = 0; i < 12; i++)
        {
            var caption = $"Caption number {i}.";
            fake.Extractions[caption] = FakeChatReply.Answer($"- Thing {i} is here.") with { Delay = TimeSpan.FromMilliseconds((12 - i) * 5) };
            fake.Verdict($"Thing {i} is here.", i % 3 == 0 ? "no" : "yes");
            items.Add(new CaptionToJudge($"id{i}", fake.Image($"img{i}"), caption));
        }
        var client = fake.Client(maxConcurrency: 16);
        var judge = new CaptionHallucinationJudge(client, client, new ClaimJudgeOptions { MaxCaptionsInFlight = 3 });

        var results = await judge.JudgeManyAsync(items, TestTimeout.Token()).ToListAsync().AsTask().WithTimeout();

        results.Select(r => r.Id).Should().Equal(items.Select(i => i.Id));
        results.Select(r => r.Status).Should().Equal(Enumerable.Range(0, 12).Select(i => i % 3 == 0 ? CaptionStatus.Hallucinated : CaptionStatus.HallucinationFree));
        fake.Server.MaxActive.Should().BeLessThanOrEqualTo(3, "each caption has one request in flight at a time and three captions are in flight");
    }

    [Fact]
    public async Task A_consumer_that_stops_early_cancels_the_captions_read_ahead()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("First.", "One thing.");
        fake.Verdict("One thing.", "yes");
        fake.Extractions["Stuck."] = new FakeChatReply { Hang = true };
        var client = fake.Client();
        var judge = new CaptionHallucinationJudge(client, client, new ClaimJudgeOptions { MaxCaptionsInFlight = 4 });
        var image = fake.Image("x");
        CaptionToJudge[] items = [new("1", image, "First."), new("2", image, "Stuck."), new("3", image, "Stuck.")];

        async Task<string> FirstOnly()
        {
            await foreach (var judgement in judge.JudgeManyAsync(items, TestTimeout.Token()))
            {
                return judgement.Id;
            }
            return "none";
        }

        (await FirstOnly().WithTimeout()).Should().Be("1");
    }

    [Fact]
    public async Task The_judgement_record_is_one_json_line_with_claims_prompts_and_models()
    {
        await using var fake = new ClaimsFakeJudge();
        fake.Extract("Two apples.", "There are two apples.", "The apples are “green”.");
        fake.Verdict("There are two apples.", "yes");
        fake.Verdict("The apples are “green”.", "no");
        var client = fake.Client("judge-7b");
        var judgement = await new CaptionHallucinationJudge(client, client).JudgeAsync(new CaptionToJudge("a1", fake.Image("apples"), "Two apples."), TestTimeout.Token()).WithTimeout();

        var line = judgement.ToJsonLine();

        line.Should().NotContain("\n").And.Contain("“green”");
        using var json = JsonDocument.Parse(line);
        var root = json.RootElement;
        root.GetProperty("id").GetString().Should().Be("a1");
        root.GetProperty("status").GetString().Should().Be("hallucinated");
        root.GetProperty("rejected_claims").GetInt32().Should().Be(1);
        root.GetProperty("claims").EnumerateArray().Select(c => c.GetProperty("verdict").GetString()).Should().Equal("yes", "no");
        root.GetProperty("extraction_prompt").GetString().Should().Be(ClaimExtractionPrompt.Version);
        root.GetProperty("verification_prompt").GetString().Should().Be(ClaimVerificationPrompt.Version);
        root.GetProperty("verifier_model").GetString().Should().Be("judge-7b");
        root.TryGetProperty("unjudged_cause", out _).Should().BeFalse();
    }

    [Fact]
    public void Unusable_options_are_named()
    {
        var act = () => new ClaimJudgeOptions { MaxCaptionsInFlight = 0 }.Validate();
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*ClaimJudgeOptions.MaxCaptionsInFlight must be at least 1; found 0*");
    }
}
