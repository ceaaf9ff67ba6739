using FluentAssertions;
using SynthVlm.Hosting;
using Xunit;

namespace SynthVlm.Hosting.Tests;

public sealed class ClusterBuilderTests
{
    [Fact]
    public void Resources_start_after_what_they_reference()
    {
        var builder = new ClusterBuilder();
        var scoring = builder.AddService(KnownServices.Scoring, "s.dll");
        var diffusion = builder.AddService(KnownServices.Diffusion, "d.dll");
        var redis = builder.AddRedis("redis", Path.GetTempPath());
        scoring.WithReference(redis).WithReference(diffusion);
        diffusion.WithReference(redis);

        var cluster = builder.Build(new NullOutput());

        cluster.Resources.Select(r => r.Name).Should().Equal("redis", "diffusion", "scoring");
    }

    [Fact]
    public void Duplicate_names_are_refused()
    {
        var builder = new ClusterBuilder();
        builder.AddService(KnownServices.Scoring, "s.dll");

        var act = () => builder.AddService(KnownServices.Scoring, "s.dll");

        act.Should().Throw<ArgumentException>().WithMessage("*'scoring' already exists*");
    }

    [Fact]
    public void Reference_cycles_are_refused_with_the_resource_named()
    {
        var builder = new ClusterBuilder();
        var a = builder.AddService(KnownServices.Scoring, "s.dll");
        var b = builder.AddService(KnownServices.Diffusion, "d.dll");
        a.WithReference(b);
        b.WithReference(a);

        var act = () => builder.Build(new NullOutput());

        act.Should().Throw<InvalidOperationException>().WithMessage("*depends on itself*");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void Replica_count_out_of_range_is_refused(int replicas)
    {
        var service = new ClusterBuilder().AddService(KnownServices.Scoring, "s.dll");

        var act = () => service.WithReplicas(replicas);

        act.Should().Throw<ArgumentOutOfRangeException>();
    }
}
