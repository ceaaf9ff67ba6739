using FluentAssertions;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// Runs.Submit refuses BLIP image–text matching the service cannot do (no model: FAILED_PRECONDITION) and
/// settings out of range (INVALID_ARGUMENT naming the field) before anything is recorded.
/// </summary>
public sealed class CurationImageTextMatchingTests : IAsyncLifetime
{
    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync(new RedisServerOptions());

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_run_asking_for_image_text_matching_is_refused_where_the_service_has_no_model_or_the_scores_are_out_of_range()
    {
        var data = Directory.CreateTempSubdirectory("synthvlm-itm-");
        try
        {
            var pool = Path.Combine(data.FullName, "pool.jsonl");
            await File.WriteAllTextAsync(pool, "{\"id\": \"a\", \"caption\": \"a red boat on a calm lake under a clear sky\"}\n");
            await using var service = await ServiceProcess.StartAsync(KnownServices.Curation, new Dictionary<string, string?>
            {
                [KnownEnvironment.RedisConnectionStringEnv] = _redis.ConnectionString,
                [KnownEnvironment.DataDirectory] = data.FullName,
            });
            using var channel = GrpcChannel.ForAddress(service.GrpcAddress);
            var runs = new Protos.V1.Runs.RunsClient(channel);
            RunConfig Config(string id, BlipMatchingSettings matching) => new()
            {
                Id = id,
                Captions = pool,
                Output = Path.Combine(data.FullName, "out", id),
                Curation = new CurationSettings { ImageTextMatching = matching },
            };

            var noModel = async () => await runs.SubmitAsync(new SubmitRunRequest { Config = Config("no-model", new BlipMatchingSettings()) }).ResponseAsync.WithTimeout();
            (await noModel.Should().ThrowAsync<RpcException>()).Which.Status.Should().Match<Status>(s =>
                s.StatusCode == StatusCode.FailedPrecondition && s.Detail.Contains("config.curation.image_text_matching") && s.Detail.Contains("SynthVlm:Curation:BlipModel"));

            var tooHigh = async () => await runs.SubmitAsync(new SubmitRunRequest { Config = Config("too-high", new BlipMatchingSettings { MinScore = 1.5 }) }).ResponseAsync.WithTimeout();
            (await tooHigh.Should().ThrowAsync<RpcException>()).Which.Status.Should().Match<Status>(s =>
                s.StatusCode == StatusCode.InvalidArgument && s.Detail.Contains("curation.image_text_matching.min_score") && s.Detail.Contains("1.5"));

            var crossed = async () => await runs.SubmitAsync(new SubmitRunRequest { Config = Config("crossed", new BlipMatchingSettings { MinScore = 0.9, MaxScore = 0.5 }) }).ResponseAsync.WithTimeout();
            (await crossed.Should().ThrowAsync<RpcException>()).Which.Status.Should().Match<Status>(s =>
                s.StatusCode == StatusCode.InvalidArgument && s.Detail.Contains("curation.image_text_matching.max_score"));

            (await runs.ListAsync(new ListRunsRequest()).ResponseAsync.WithTimeout()).Runs.Should().BeEmpty("nothing refused is recorded");
        }
        finally
        {
            data.Delete(recursive: true);
        }
    }
}
