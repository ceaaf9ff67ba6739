using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using FluentAssertions;
using Xunit;

namespace SynthVlm.AppHost.Tests;

public sealed class AppModelTests
{
    [Fact]
    public async Task Probe()
    {
        var dataDir = Directory.CreateTempSubdirectory("synthvlm-model-").FullName;
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var builder = await DistributedApplicationTestingBuilder.CreateAsync(typeof(AppHostSettings), ["--data-dir", dataDir, "--replicas", "diffusion=2", "--dashboard-port", "0", "--otlp-port", "0"], cts.Token);
        var names = builder.Resources.Select(r => r.Name + ":" + r.GetType().Name).ToList();
        names.Should().Contain("curation:ProjectResource");
        await using var app = await builder.BuildAsync(cts.Token);
        await app.StartAsync(cts.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("curation", cts.Token);
        await app.ResourceNotifications.WaitForResourceHealthyAsync("diffusion", cts.Token);
        await app.StopAsync(cts.Token);
    }
}
