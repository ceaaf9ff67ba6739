using System.Diagnostics;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using Aspire.Hosting.Testing;
using FluentAssertions;
using Microsoft.Extensions.DependencyInjection;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.AppHost.Tests;

/// <summary>
/// The AppHost's app model through Aspire.Hosting.Testing: the resources Program.cs builds, and the
/// cluster they start — healthy, in Aspire's conventions, a killed replica started again.
/// </summary>
public sealed class AppModelTests : IDisposable
{
    private static readonly TimeSpan Startup = TimeSpan.FromMinutes(4);
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-model-").FullName;

    private Task<IDistributedApplicationTestingBuilder> ModelAsync(params string[] args) =>
        DistributedApplicationTestingBuilder.CreateAsync(typeof(AppHostSettings), ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0", .. args], TestTimeout.Token(TimeSpan.FromMinutes(2)));

    [Fact]
    public async Task The_model_has_redis_every_service_and_the_web_front_end_with_replicas_waits_and_health_checks()
    {
        var builder = await ModelAsync("--replicas", "diffusion=3,scoring=2", "--redis-mode", "executable");

        var redis = builder.Resources.Single(r => r.Name == "redis");
        redis.Should().BeOfType<RedisServerResource>();
        var server = (RedisServerResource)redis;
        server.DataDirectory.Should().Be(Path.Combine(_dataDir, "redis"));
        redis.Annotations.OfType<HealthCheckAnnotation>().Should().ContainSingle();

        var projects = builder.Resources.OfType<ProjectResource>().ToDictionary(p => p.Name);
        projects.Keys.Should().BeEquivalentTo(KnownServices.All.Select(s => s.Name).Append("web"));
        foreach (var (name, project) in projects)
        {
            var replicas = project.TryGetLastAnnotation<ReplicaAnnotation>(out var r) ? r.Replicas : 1;
            replicas.Should().Be(name switch { "diffusion" => 3, "scoring" => 2, _ => 1 }, name);
            project.Annotations.OfType<WaitAnnotation>().Select(w => w.Resource.Name).Should().Contain("redis", name);
            project.Annotations.OfType<HealthCheckAnnotation>().Should().NotBeEmpty(name);
            // Endpoint names are case-insensitive in Aspire (Kestrel's configuration keys are too).
            project.Annotations.OfType<EndpointAnnotation>().Select(e => e.Name.ToLowerInvariant()).Should().Contain(name == "web" ? ["http"] : ["grpc", "http"], $"{name}'s appsettings.json declares them");
        }
        projects["web"].Annotations.OfType<WaitAnnotation>().Select(w => w.Resource.Name).Should().Contain("curation");
    }

    [Fact]
    public async Task Model_option_gives_the_diffusion_service_its_base_model_and_no_refiner_and_a_folder_without_model_index_is_refused()
    {
        var model = Directory.CreateDirectory(Path.Combine(_dataDir, "sd3-onnx")).FullName;
        await File.WriteAllTextAsync(Path.Combine(model, "model_index.json"), """{"_class_name": "StableDiffusion3Pipeline"}""");
        var builder = await ModelAsync("--model", model, "--redis-mode", "executable");

        var projects = builder.Resources.OfType<ProjectResource>().ToDictionary(p => p.Name);
#pragma warning disable CS0618 // Aspire's replacement (ExecutionConfigurationBuilder) needs a running app; this evaluates the callbacks alone (publish: references stay expressions).
        var diffusion = await projects["diffusion"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
        diffusion[SynthVlmAppModel.DiffusionBaseModelEnv].Should().Be(model);
        diffusion[SynthVlmAppModel.DiffusionRefinerModelEnv].Should().Be("none");
        var scoring = await projects["scoring"].GetEnvironmentVariableValuesAsync(DistributedApplicationOperation.Publish);
#pragma warning restore CS0618
        scoring.Should().NotContainKey(SynthVlmAppModel.DiffusionBaseModelEnv);

        AppHostSettings.Parse(["run", "--captions", "x.json", "--model", _dataDir]).Should().BeNull("the data folder has no model_index.json");
    }

    [Fact]
    public async Task With_a_container_runtime_redis_is_aspires_container_with_aof_in_the_data_folder()
    {
        // Chosen explicitly: this machine has no working container runtime, so `auto` would pick the executable.
        var builder = await ModelAsync("--redis-mode", "container");

        var redis = builder.Resources.Single(r => r.Name == "redis");
        redis.Should().BeOfType<Aspire.Hosting.ApplicationModel.RedisResource>();
        var container = (ContainerResource)redis;
        container.Annotations.OfType<ContainerImageAnnotation>().Single().Image.Should().Contain("redis");
        container.Annotations.OfType<ContainerMountAnnotation>().Should().ContainSingle(m => m.Source == Path.Combine(_dataDir, "redis"), "the AOF lives in the data folder");
        var args = new List<object>();
        foreach (var callback in container.Annotations.OfType<CommandLineArgsCallbackAnnotation>())
        {
            await callback.Callback(new CommandLineArgsCallbackContext(args, container, TestTimeout.Token()));
        }
        args.OfType<string>().Should().ContainInConsecutiveOrder("--appendonly", "yes").And.ContainInConsecutiveOrder("--appendfsync", "everysec");
        builder.Resources.OfType<ProjectResource>().Should().OnlyContain(p => p.Annotations.OfType<WaitAnnotation>().Any(w => w.Resource == redis));
    }

    [Fact]
    public async Task An_existing_redis_is_a_connection_string_and_no_server_is_added()
    {
        var builder = await ModelAsync("--redis", "127.0.0.1:6390,password=secret");

        var redis = builder.Resources.Single(r => r.Name == "redis");
        redis.Should().NotBeOfType<RedisServerResource>().And.BeAssignableTo<IResourceWithConnectionString>();
        builder.Resources.OfType<RedisServerResource>().Should().BeEmpty("nothing runs Redis when the user has one");
        (await ((IResourceWithConnectionString)redis).GetConnectionStringAsync(TestTimeout.Token())).Should().Be("127.0.0.1:6390,password=secret");
    }

    [Fact]
    public async Task The_started_cluster_is_healthy_in_aspires_conventions_and_a_killed_replica_is_started_again()
    {
        var builder = await ModelAsync("--replicas", "diffusion=2", "--redis-mode", "executable");
        await using var app = await builder.BuildAsync(TestTimeout.Token(Startup));
        var supervisor = app.Services.GetRequiredService<ReplicaSupervisor>();
        await app.StartAsync(TestTimeout.Token(Startup));
        try
        {
            // redis, 7 services (diffusion twice) and web.
            await TestTimeout.Until(() => supervisor.Replicas.Values.Count(r => r.State == "Healthy") == 10, Startup, "every replica healthy");
            var replicas = supervisor.Replicas.Values.ToList();
            replicas.Select(r => r.Resource).Should().BeEquivalentTo(["redis", "curation", "diffusion", "diffusion", "scoring", "selection", "training", "eval", "recaption", "web"]);
            replicas.Should().OnlyContain(r => r.Pid != null && Directory.Exists($"/proc/{r.Pid}"));

            // Configuration arrives by Aspire's names; the in-memory OTLP retry that stalls shutdown is gone.
            var curation = replicas.Single(r => r.Resource == "curation");
            var environment = EnvironmentOf(curation.Pid!.Value);
            environment[KnownEnvironment.RedisConnectionStringEnv].Should().Contain("password=");
            environment[KnownEnvironment.DataDirectory].Should().Be(_dataDir);
            environment.Should().ContainKey("OTEL_SERVICE_NAME").And.NotContainKey(SynthVlmAppModel.OtlpRetryEnv);
            var web = EnvironmentOf(replicas.Single(r => r.Resource == "web").Pid!.Value);
            web.Keys.Should().Contain(k => k.StartsWith("services__curation__", StringComparison.OrdinalIgnoreCase), "the web front end finds the Runs API by service discovery");
            web.Should().ContainKey(SynthVlmAppModel.WebTokenEnv);
            // The dashboard's resource page links to the front end, logged in with this start's token.
            var notifications = app.Services.GetRequiredService<ResourceNotificationService>();
            var withLink = await notifications.WaitForResourceAsync("web", e => e.Snapshot.Urls.Any(u => u.DisplayProperties.DisplayName == SynthVlmAppModel.WebLinkText), TestTimeout.Token());
            withLink.Snapshot.Urls.Single(u => u.DisplayProperties.DisplayName == SynthVlmAppModel.WebLinkText).Url
                .Should().MatchRegex(@"^http://127\.0\.0\.1:\d+/login\?t=" + web[SynthVlmAppModel.WebTokenEnv] + "$");

            // kill -9 of one diffusion replica's service process: the supervisor starts it again through the app model.
            var victim = replicas.First(r => r.Resource == "diffusion");
            var oldPid = victim.Pid!.Value;
            Process.GetProcessById(oldPid).Kill();
            await TestTimeout.Until(() => victim.Restarts >= 1 && victim.State == "Healthy" && victim.Pid != oldPid, Startup, "the killed replica healthy again");
            File.ReadAllText(victim.LogPath).Should().Contain("state: Finished", "its log keeps what happened");
            supervisor.Replicas.Values.Where(r => r != victim).Should().OnlyContain(r => r.Restarts == 0 && r.State == "Healthy");

            var pids = supervisor.Replicas.Values.Select(r => r.Pid!.Value).ToList();
            await app.StopAsync(TestTimeout.Token(TimeSpan.FromMinutes(1)));
            await TestTimeout.Until(() => pids.All(pid => !Directory.Exists($"/proc/{pid}")), TimeSpan.FromSeconds(60), "every replica gone after stop");
        }
        finally
        {
            await app.StopAsync(TestTimeout.Token(TimeSpan.FromMinutes(1)));
        }
    }

    /// <summary>What the service process was really started with.</summary>
    private static Dictionary<string, string> EnvironmentOf(int pid) =>
        File.ReadAllText($"/proc/{pid}/environ").Split('\0', StringSplitOptions.RemoveEmptyEntries)
            .Select(e => e.Split('=', 2)).Where(kv => kv.Length == 2)
            .GroupBy(kv => kv[0]).ToDictionary(g => g.Key, g => g.Last()[1]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
