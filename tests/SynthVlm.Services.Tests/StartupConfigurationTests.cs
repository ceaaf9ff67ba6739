using FluentAssertions;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>A missing or malformed setting stops the service with one clear line naming the setting.</summary>
public sealed class StartupConfigurationTests
{
    private static async Task<(int ExitCode, string Output)> RunUntilExitAsync(ServiceInfo service, Dictionary<string, string?> environment)
    {
        await using var process = await ServiceProcess.StartAsync(service, environment, waitHealthy: false);
        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        // Give the output pump a moment to deliver the last line after exit.
        await Task.Delay(100);
        return (exitCode, process.Output);
    }

    [Fact]
    public async Task Malformed_redis_connection_string_names_the_setting()
    {
        var (exitCode, output) = await RunUntilExitAsync(KnownServices.Curation, new() { [KnownEnvironment.RedisConnectionStringEnv] = "127.0.0.1:notaport" });

        exitCode.Should().Be(2);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Subject;
        line.Should().Contain("ConnectionStrings:redis").And.Contain(KnownEnvironment.RedisConnectionStringEnv).And.Contain("notaport");
    }

    [Theory]
    [InlineData("ScoringService", "Scoring")]
    [InlineData("DiffusionService", "Diffusion")]
    public async Task Cuda_that_cannot_run_with_fallback_Error_stops_the_service_naming_the_setting_model_and_libraries(string project, string section)
    {
        // This machine restores the CPU package, so CUDA cannot be used; ProviderFallback=Error must refuse a CPU run.
        var service = KnownServices.All.Single(s => s.ProjectName == project);
        var (exitCode, output) = await RunUntilExitAsync(service, new()
        {
            [$"SynthVlm__{section}__ExecutionProvider"] = "Cuda",
            [$"SynthVlm__{section}__ProviderFallback"] = "Error",
        });

        exitCode.Should().Be(2);
        var line = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Subject;
        line.Should().Contain($"SynthVlm:{section}:ExecutionProvider").And.Contain("CUDA execution provider cannot be used for model ")
            .And.Contain("model.onnx").And.Contain("libonnxruntime_providers_cuda.so").And.Contain("-p:SynthVlmOnnxRuntime=Cuda");
    }

    [Fact]
    public async Task A_blip_model_folder_without_itm_onnx_names_the_setting_and_the_folder()
    {
        var folder = Directory.CreateTempSubdirectory("synthvlm-noblip-");
        try
        {
            var (exitCode, output) = await RunUntilExitAsync(KnownServices.Curation, new() { ["SynthVlm__Curation__BlipModel"] = folder.FullName });

            exitCode.Should().Be(2);
            output.Trim().Should().Contain("SynthVlm:Curation:BlipModel").And.Contain(folder.FullName).And.Contain("itm.onnx");
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public async Task Grpc_endpoint_that_is_not_a_url_names_the_setting()
    {
        var (exitCode, output) = await RunUntilExitAsync(KnownServices.Eval, new() { [KnownEnvironment.GrpcEndpointUrlEnv] = "not a url" });

        exitCode.Should().Be(2);
        output.Trim().Should().Contain("Kestrel:Endpoints:Grpc:Url").And.Contain("not a url");
    }

    [Fact]
    public async Task Grpc_endpoint_on_mixed_protocols_is_refused_with_the_reason()
    {
        var (exitCode, output) = await RunUntilExitAsync(KnownServices.Training, new() { ["Kestrel__Endpoints__Grpc__Protocols"] = "Http1AndHttp2" });

        exitCode.Should().Be(2);
        output.Trim().Should().Contain("Kestrel:Endpoints:Grpc:Protocols").And.Contain("Http2");
    }

    [Fact]
    public async Task Malformed_otlp_endpoint_names_the_setting()
    {
        var (exitCode, output) = await RunUntilExitAsync(KnownServices.Selection, new() { [KnownEnvironment.OtlpEndpoint] = "collector:4318" });

        exitCode.Should().Be(2);
        output.Trim().Should().Contain(KnownEnvironment.OtlpEndpoint).And.Contain("collector:4318");
    }

    [Theory]
    [InlineData("CurationService")]
    [InlineData("DiffusionService")]
    [InlineData("ScoringService")]
    [InlineData("SelectionService")]
    [InlineData("TrainingService")]
    [InlineData("EvalService")]
    public async Task Each_service_starts_alone_and_serves_health_and_alive(string project)
    {
        var service = KnownServices.All.Single(s => s.ProjectName == project);
        await using var process = await ServiceProcess.StartAsync(service);
        using var http = new HttpClient();

        using var alive = await http.GetAsync(new Uri(process.HttpAddress, "/alive"));
        using var health = await http.GetAsync(new Uri(process.HttpAddress, "/health"));

        alive.StatusCode.Should().Be(System.Net.HttpStatusCode.OK);
        health.StatusCode.Should().Be(System.Net.HttpStatusCode.OK, "without Redis configured there is nothing unhealthy");
        (await health.Content.ReadAsStringAsync()).Should().Contain("\"self\"");
        process.Output.Should().Contain(service.Name).And.Contain("no stream handler");
    }
}
