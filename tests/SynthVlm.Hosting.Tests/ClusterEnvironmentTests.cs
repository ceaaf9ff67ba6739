using FluentAssertions;
using SynthVlm.Hosting;
using Xunit;

namespace SynthVlm.Hosting.Tests;

/// <summary>The environment a replica gets is pinned as strings: these are the Aspire names other tools read.</summary>
public sealed class ClusterEnvironmentTests
{
    [Fact]
    public void Replica_environment_uses_the_aspire_names()
    {
        var builder = new ClusterBuilder();
        var scoring = builder.AddService(KnownServices.Scoring, "/x/ScoringService.dll");
        scoring.Environment["Custom__Key"] = "v";
        var references = new Dictionary<string, IReadOnlyList<Uri>>
        {
            ["diffusion"] = [new Uri("http://127.0.0.1:7001"), new Uri("http://127.0.0.1:7002")],
        };

        var env = ClusterEnvironment.ForReplica(scoring, 1, new Uri("http://127.0.0.1:6001"), new Uri("http://127.0.0.1:6002"),
            "127.0.0.1:6379,password=secret", references, new Uri("http://127.0.0.1:4318"));

        env.Should().Contain(new Dictionary<string, string>
        {
            ["Kestrel__Endpoints__Grpc__Url"] = "http://127.0.0.1:6001",
            ["Kestrel__Endpoints__Http__Url"] = "http://127.0.0.1:6002",
            ["ConnectionStrings__redis"] = "127.0.0.1:6379,password=secret",
            ["OTEL_SERVICE_NAME"] = "scoring",
            ["OTEL_RESOURCE_ATTRIBUTES"] = "service.instance.id=scoring-1",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4318",
            ["SYNTHVLM_INSTANCE"] = "scoring-1",
            ["services__diffusion__grpc__0"] = "http://127.0.0.1:7001",
            ["services__diffusion__grpc__1"] = "http://127.0.0.1:7002",
            ["Custom__Key"] = "v",
        });
    }

    [Fact]
    public void Without_redis_or_otlp_those_variables_are_absent()
    {
        var scoring = new ClusterBuilder().AddService(KnownServices.Scoring, "/x/ScoringService.dll");

        var env = ClusterEnvironment.ForReplica(scoring, 0, new Uri("http://127.0.0.1:1"), new Uri("http://127.0.0.1:2"), null,
            new Dictionary<string, IReadOnlyList<Uri>>(), null);

        env.Should().NotContainKey("ConnectionStrings__redis").And.NotContainKey("OTEL_EXPORTER_OTLP_ENDPOINT");
    }

    [Fact]
    public void Managed_redis_connection_string_carries_its_password()
    {
        var redis = new ClusterBuilder().AddRedis("redis", Path.GetTempPath());
        redis.Port = 6380;
        redis.Password = "abc";

        redis.ConnectionString.Should().Be("127.0.0.1:6380,password=abc");
    }
}
