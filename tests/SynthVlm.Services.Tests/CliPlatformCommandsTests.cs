using System.Reflection;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>The `synthvlm` platform commands against a running service and against bad input.</summary>
public sealed class CliPlatformCommandsTests : IAsyncLifetime
{
    private ServiceProcess _service = null!;

    public async Task InitializeAsync() => _service = await ServiceProcess.StartAsync(KnownServices.Diffusion);

    public async Task DisposeAsync() => await _service.DisposeAsync();

    private static Task<ChildProcessResult> SynthVlmAsync(params string[] args)
    {
        var configuration = typeof(CliPlatformCommandsTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var dll = Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
        return ChildProcess.RunAsync("dotnet", new[] { dll }.Concat(args), TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task Health_prints_serving_and_exits_zero()
    {
        await TestTimeout.Until(async () => (await SynthVlmAsync("health", "--address", _service.GrpcAddress.ToString())).ExitCode == 0, what: "SERVING");

        var result = await SynthVlmAsync("health", "--address", _service.GrpcAddress.ToString(), "--service", "diffusion");

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Trim().Should().Be("{ \"status\": \"SERVING\" }");
    }

    [Fact]
    public async Task Worker_status_prints_the_status_as_json()
    {
        var result = await SynthVlmAsync("worker", "status", "--address", _service.GrpcAddress.ToString());

        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("\"service\": \"diffusion\"").And.Contain($"\"stream\": \"{KnownStreams.Curated}\"");
    }

    [Fact]
    public async Task Unreachable_address_is_unavailable_with_a_non_zero_exit()
    {
        var closed = $"http://127.0.0.1:{FreePort.Next()}";

        var result = await SynthVlmAsync("health", "--address", closed, "--timeout", "5");

        result.ExitCode.Should().Be(1);
        result.StandardError.Should().StartWith("Unavailable");
    }

    [Fact]
    public async Task Malformed_address_names_the_option()
    {
        var result = await SynthVlmAsync("health", "--address", "127.0.0.1:5103");

        result.ExitCode.Should().NotBe(0);
        result.StandardError.Should().Contain("--address").And.Contain("127.0.0.1:5103");
    }

    [Fact]
    public async Task Queue_info_without_redis_says_how_to_give_it()
    {
        var result = await SynthVlmAsync("queue", "info", "--redis", "");

        result.ExitCode.Should().Be(2);
        result.StandardError.Should().Contain("--redis").And.Contain(KnownEnvironment.RedisConnectionStringEnv);
    }
}
