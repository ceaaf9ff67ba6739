using FluentAssertions;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>The CurationService's ad-hoc Curation.CurateText over gRPC, as a real process (no Redis needed).</summary>
public sealed class CurationServiceTests : IAsyncLifetime
{
    private ServiceProcess _service = null!;
    private DirectoryInfo _data = null!;

    public async Task InitializeAsync()
    {
        _data = Directory.CreateTempSubdirectory("synthvlm-curation-");
        _service = await ServiceProcess.StartAsync(KnownServices.Curation, new Dictionary<string, string?> { [KnownEnvironment.DataDirectory] = _data.FullName });
    }

    public async Task DisposeAsync()
    {
        await _service.DisposeAsync();
        _data.Delete(recursive: true);
    }

    private async Task<CurateTextResponse> CallAsync(CurateTextRequest request)
    {
        using var channel = GrpcChannel.ForAddress(_service.GrpcAddress);
        return await new Protos.V1.Curation.CurationClient(channel).CurateTextAsync(request).ResponseAsync.WithTimeout();
    }

    [Fact]
    public async Task Every_statistic_and_verdict_equals_the_library_and_the_junk_is_dropped_with_its_reason()
    {
        string[] texts = ["a red bus parked on a quiet street at night", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "", "!!! ??? ### $$$ %%%"];
        var response = await CallAsync(new CurateTextRequest { Texts = { texts } });
        var curator = new Curation.CaptionCurator(Curation.RuleFilterSettings.Default);

        response.Results.Should().HaveCount(texts.Length);
        for (var i = 0; i < texts.Length; i++)
        {
            var expected = curator.Evaluate(texts[i]);
            var got = response.Results[i];
            got.Kept.Should().Be(expected.Kept, texts[i]);
            got.Reason.Should().Be(expected.RejectReason ?? "");
            got.Filters.Select(f => (f.Filter, f.Outcome, f.HasValue ? f.Value : (double?)null))
                .Should().Equal(expected.Verdicts.Select(v => (v.Filter, v.Outcome.ToString().ToLowerInvariant(), v.Value)));
            got.Stats["alnum_ratio"].Should().Be(expected.Statistics.AlnumRatio);
        }
        response.Results[0].Kept.Should().BeTrue();
        response.Results[1].Kept.Should().BeFalse();
        response.Results[0].Filters.Single(f => f.Statistic == "perplexity").Outcome.Should().Be("skipped");
    }

    [Fact]
    public async Task Cleaning_switches_clean_before_the_statistics_and_only_0_or_1_is_accepted()
    {
        const string spam = "BUY NOW!!! $$$ CLICK HERE http://spam.example.com/deal?id=42 $$$";
        var plain = await CallAsync(new CurateTextRequest { Texts = { spam } });
        plain.Results[0].Kept.Should().BeTrue("the six rules at the paper's thresholds let it through uncleaned");
        var cleaned = await CallAsync(new CurateTextRequest { Texts = { spam }, Thresholds = { ["clean.links"] = 1, ["clean.whitespace"] = 1 } });
        cleaned.Results[0].Kept.Should().BeFalse();
        cleaned.Results[0].Stats["alnum_ratio"].Should().Be(0.5, "15 of the 30 code points of \"BUY NOW!!! $$$ CLICK HERE  $$$\" are alphanumeric");
        var act = () => CallAsync(new CurateTextRequest { Texts = { spam }, Thresholds = { ["clean.links"] = 0.5 } });
        (await act.Should().ThrowAsync<RpcException>()).Which.Status.Detail.Should().Contain("clean.links").And.Contain("0 (off) or 1 (on)");
    }

    [Fact]
    public async Task Threshold_overrides_apply_and_bad_requests_are_invalid_argument_naming_the_field()
    {
        var strict = await CallAsync(new CurateTextRequest { Texts = { "a red bus parked on a quiet street at night" }, Thresholds = { ["alnum_ratio.min"] = 0.99 } });
        strict.Results[0].Kept.Should().BeFalse();
        strict.Results[0].Reason.Should().Contain("alnum_ratio");

        async Task<Status> Fails(CurateTextRequest request)
        {
            var act = () => CallAsync(request);
            return (await act.Should().ThrowAsync<RpcException>()).Which.Status;
        }
        var unknown = await Fails(new CurateTextRequest { Texts = { "x" }, Thresholds = { ["nonsense.min"] = 1 } });
        unknown.StatusCode.Should().Be(StatusCode.InvalidArgument);
        unknown.Detail.Should().Contain("nonsense.min");
        var inverted = await Fails(new CurateTextRequest { Texts = { "x" }, Thresholds = { ["special_char_ratio.min"] = 0.9 } });
        inverted.Detail.Should().Contain("special_char_ratio.min");
        var tooMany = await Fails(new CurateTextRequest { Texts = { Enumerable.Repeat("x", 1001) } });
        tooMany.Detail.Should().Contain("texts");
        var missingList = await Fails(new CurateTextRequest { Texts = { "x" }, FlaggedWords = "/no/such/list.txt" });
        missingList.Detail.Should().Contain("flagged_words");
    }
}
