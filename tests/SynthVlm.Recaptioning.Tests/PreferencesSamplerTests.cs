using SynthVlm.ChatEndpoints;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Recaptioning.Preferences;
using SynthVlm.Testing;

namespace SynthVlm.Recaptioning.Tests;

/// <summary>
/// A preference round's sampling and pairing against one real HTTP fake serving the captioner and
/// the judge with scripted answers: seeds and temperature on the wire, a failed sample and an empty
/// caption recorded, and the pair built from the judged samples.
/// </summary>
public sealed class PreferencesSamplerTests : IAsyncDisposable
{
    private const string Prompt = "Describe the image in one sentence.";
    private readonly string _folder = Directory.CreateTempSubdirectory("synthvlm-prefs-").FullName;
    private readonly FakeChatServer _server;
    private readonly List<OpenAiChatClient> _clients = [];

    public PreferencesSamplerTests()
    {
        _server = new FakeChatServer(Answer);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }
        await _server.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task N_seeded_samples_are_judged_and_paired_and_failures_are_recorded()
    {
        var client = Client();
        var judge = new CaptionHallucinationJudge(client, client);
        var sampler = new PreferenceSampler(client, judge, new PreferenceSamplingOptions { SamplesPerImage = 4, Temperature = 0.9, BaseSeed = 100 });
        var image = Image("street");

        var sampled = await sampler.SampleAsync(new PreferenceImageSource("street", image), Prompt, TestTimeout.Token()).WithTimeout();

        var captionRequests = _server.Requests.Where(r => r.LastText == Prompt).ToList();
        captionRequests.Select(r => r.Seed).Should().BeEquivalentTo(new long?[] { 100, 101, 102, 103 });
        captionRequests.Should().OnlyContain(r => r.Temperature == 0.9 && r.Messages[0].ImageUrls.Count == 1);
        sampled.Samples.Select(s => s.SampleId).Should().Equal("street#s0", "street#s1", "street#s2");
        sampled.Samples.Select(s => s.Judgement.Status).Should().Equal(CaptionStatus.HallucinationFree, CaptionStatus.Hallucinated, CaptionStatus.Unjudged);
        sampled.Samples[2].Judgement.Cause.Should().Be(UnjudgedCause.EmptyCaption);
        sampled.Samples.Select(s => s.Seed).Should().Equal(100, 101, 102);
        sampled.FailedSamples.Should().ContainSingle().Which.Should().StartWith("street#s3 (seed 103): ").And.Contain("captioner overloaded");

        var builder = new PreferencePairBuilder();
        var pair = builder.Add(sampled).Should().ContainSingle().Subject;
        pair.Chosen.Caption.Should().Be("A red car parked outside.");
        pair.Rejected.Caption.Should().Be("A red car and a dog.");
        pair.Rejected.Judgement.Claims.Select(c => c.Verdict).Should().Equal(ClaimVerdict.Supported, ClaimVerdict.Rejected);
        builder.Statistics.Describe().Should().StartWith("1 pairs from 1 images (chosen shorter 1, longer 0, same length 0;")
            .And.EndWith("1 of 3 samples unjudged, 1 not produced");
    }

    [Fact]
    public async Task A_round_whose_samples_all_agree_says_it_has_no_valid_pair()
    {
        var client = Client();
        var judge = new CaptionHallucinationJudge(client, client);
        var sampler = new PreferenceSampler(client, judge, new PreferenceSamplingOptions { SamplesPerImage = 2, BaseSeed = 0 });
        var sources = new[] { new PreferenceImageSource("p1", Image("p1")), new PreferenceImageSource("p2", Image("p2")) };
        var builder = new PreferencePairBuilder();
        using var output = new StringWriter();

        // Seeds 0 and 1 give "A red car parked outside." and "A red car and a dog." for "street" only; other images get the same caption twice.
        var statistics = await builder.WriteAsync(sampler.SampleManyAsync(sources.ToAsyncEnumerable(), Prompt, TestTimeout.Token()), output, TestTimeout.Token()).WithTimeout();

        statistics.HasValidPair.Should().BeFalse();
        output.ToString().Should().BeEmpty();
        statistics.Describe().Should().Be("no valid pair: 2 candidate pairs from 2 images: 2 ties, 0 below margin 1, 0 identical captions, 0 outside length ratio 1.5, 0 over the cap of 2 per image; 0 of 4 samples unjudged, 0 not produced");
    }

    [Fact]
    public void Greedy_sampling_is_refused()
    {
        var client = Client();
        var act = () => new PreferenceSampler(client, new CaptionHallucinationJudge(client, client), new PreferenceSamplingOptions { Temperature = 0 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*PreferenceSamplingOptions.Temperature must be above 0*");
    }

    private OpenAiChatClient Client()
    {
        var client = new OpenAiChatClient(new OpenAiChatOptions
        {
            Endpoint = _server.BaseUri,
            Model = "fake",
            ApiKey = "test",
            MaxRetries = 0,
            Timeout = TimeSpan.FromSeconds(20),
        });
        _clients.Add(client);
        return client;
    }

    private string Image(string name)
    {
        var path = Path.Combine(_folder, name + ".png");
        File.WriteAllBytes(path, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. System.Text.Encoding.UTF8.GetBytes(name)]);
        return path;
    }

    // The captioner answers by seed for the "street" image and one fixed caption elsewhere; the
    // extractor and verifier follow a small script.
    private static FakeChatReply Answer(FakeChatRequest request)
    {
        var text = request.LastText;
        if (text == Prompt)
        {
            var street = request.Messages[0].ImageUrls[0] == "data:image/png;base64," + Convert.ToBase64String([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, .. "street"u8]);
            return !street ? FakeChatReply.Answer("A quiet park.") : (request.Seed % 100) switch
            {
                0 => FakeChatReply.Answer("A red car parked outside."),
                1 => FakeChatReply.Answer("A red car and a dog."),
                2 => FakeChatReply.Answer("   "),
                _ => FakeChatReply.Error(400, "captioner overloaded"),
            };
        }
        return text switch
        {
            _ when text.Contains("Caption: \"A red car parked outside.\"", StringComparison.Ordinal) => FakeChatReply.Answer("- A car is red.\n- The car is parked outside."),
            _ when text.Contains("Caption: \"A red car and a dog.\"", StringComparison.Ordinal) => FakeChatReply.Answer("1. A car is red.\n2. There is a dog."),
            _ when text.Contains("Caption: \"A quiet park.\"", StringComparison.Ordinal) => FakeChatReply.Answer("- There is a park."),
            _ when text.Contains("Statement: \"There is a dog.\"", StringComparison.Ordinal) => FakeChatReply.Answer("No."),
            _ when text.Contains("Statement: \"", StringComparison.Ordinal) => FakeChatReply.Answer("Yes."),
            _ => FakeChatReply.Error(400, "unscripted request"),
        };
    }
}
