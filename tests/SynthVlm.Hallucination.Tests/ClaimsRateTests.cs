using System.Text.Json;
using SynthVlm.Core.Statistics;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Testing;

namespace SynthVlm.Hallucination.Tests;

/// <summary>
/// The non-hallucination rate and its Wilson interval against Fixtures/claims/expected.json
/// (make_reference.py: the closed form evaluated in Python with z from statistics.NormalDist).
/// Tolerance 1e-12: the same float64 closed form on both sides; z differs by ~4e-16.
/// </summary>
public sealed class ClaimsRateTests
{
    private const double Tolerance = 1e-12;
    private static readonly string Fixtures = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hallucination.Tests", "Fixtures", "claims");

    [Fact]
    public void Wilson_intervals_match_the_python_reference()
    {
        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, "expected.json")));
        expected.RootElement.GetProperty("z").GetDouble().Should().BeApproximately(WilsonInterval.Z95, Tolerance);
        foreach (var c in expected.RootElement.GetProperty("wilson").EnumerateArray())
        {
            var (low, high) = WilsonInterval.Compute(c.GetProperty("k").GetInt32(), c.GetProperty("n").GetInt32());
            low.Should().BeApproximately(c.GetProperty("low").GetDouble(), Tolerance, c.ToString());
            high.Should().BeApproximately(c.GetProperty("high").GetDouble(), Tolerance, c.ToString());
        }
        WilsonInterval.Compute(0, 0).Should().Be((0.0, 0.0));
        var act = () => WilsonInterval.Compute(3, 2);
        act.Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public async Task The_rate_counts_judged_captions_only_and_states_the_unjudged()
    {
        await using var fake = new ClaimsFakeJudge();
        var items = new List<CaptionToJudge>();
        void Add(string id, string verdict)
        {
            var caption = $"Caption {id}.";
            fake.Extract(caption, $"Fact of {id}.", $"Other fact of {id}.");
            fake.Verdict($"Fact of {id}.", "yes");
            fake.Verdict($"Other fact of {id}.", verdict);
            items.Add(new CaptionToJudge(id, fake.Image(id), caption));
        }
        for (var i = 0; i < 6; i++)
        {
            Add($"free{i}", "Yes.");
        }
        Add("bad0", "No.");
        Add("bad1", "no");
        Add("garbled", "¯\\_(ツ)_/¯");
        fake.Extractions["Caption unlisted."] = FakeChatReply.Answer("The caption says many things.");
        items.Add(new CaptionToJudge("unlisted", fake.Image("unlisted"), "Caption unlisted."));
        var client = fake.Client();
        var judge = new CaptionHallucinationJudge(client, client, new ClaimJudgeOptions { MaxCaptionsInFlight = 4 });
        using var records = new StringWriter();

        var rate = await NonHallucinationRate.MeasureAsync(judge, items.ToAsyncEnumerable(), records, TestTimeout.Token()).WithTimeout();

        using var expected = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Fixtures, "expected.json")));
        var reference = expected.RootElement.GetProperty("wilson").EnumerateArray().Single(c => c.GetProperty("k").GetInt32() == 6 && c.GetProperty("n").GetInt32() == 8);
        rate.Captions.Should().Be(10);
        rate.Judged.Should().Be(8);
        rate.HallucinationFree.Should().Be(6);
        rate.Hallucinated.Should().Be(2);
        rate.Unjudged.Should().Be(2);
        rate.UnjudgedByCause.Should().BeEquivalentTo(new Dictionary<UnjudgedCause, int> { [UnjudgedCause.VerdictUnparseable] = 1, [UnjudgedCause.ClaimsUnparseable] = 1 });
        rate.Rate!.Value.Should().BeApproximately(reference.GetProperty("rate").GetDouble(), Tolerance);
        rate.Wilson95.Low.Should().BeApproximately(reference.GetProperty("low").GetDouble(), Tolerance);
        rate.Wilson95.High.Should().BeApproximately(reference.GetProperty("high").GetDouble(), Tolerance);
        rate.Claims.Should().Be(16);
        rate.RejectedClaims.Should().Be(2);
        rate.Summary().Should().Be("non-hallucination rate 75.0 % (95 % CI 40.9 %–92.9 %): 6 of 8 judged captions; 2 unjudged and excluded (1 claims_unparseable, 1 verdict_unparseable)");

        var json = rate.ToJson();
        json["rate"]!.GetValue<double>().Should().Be(0.75);
        json["unjudged"]!.GetValue<int>().Should().Be(2);
        json["unjudged_by_cause"]!["verdict_unparseable"]!.GetValue<int>().Should().Be(1);
        json["extraction_prompt"]!.GetValue<string>().Should().Be("synthvlm-claims-v1");

        var lines = records.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("id").GetString()).Should().Equal(items.Select(i => i.Id));
        lines.Select(l => JsonDocument.Parse(l).RootElement.GetProperty("status").GetString()).Should().Equal(
            [.. Enumerable.Repeat("hallucination_free", 6), "hallucinated", "hallucinated", "unjudged", "unjudged"]);
    }

    [Fact]
    public void With_nothing_judged_the_rate_is_absent_and_says_so()
    {
        var rate = new NonHallucinationRate();
        rate.Add(new CaptionJudgement("x", "x.png", "", CaptionStatus.Unjudged, [], false, UnjudgedCause.EmptyCaption, "empty caption", null, "m", "m"));

        rate.Rate.Should().BeNull();
        rate.Wilson95.Should().Be((0.0, 0.0));
        rate.Summary().Should().Be("no caption judged of 1; 1 unjudged and excluded (1 empty_caption)");
        rate.ToJson()["rate"].Should().BeNull();
    }
}
