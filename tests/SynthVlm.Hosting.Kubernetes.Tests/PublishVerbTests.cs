using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluentAssertions;
using SynthVlm.Hosting.Kubernetes;
using SynthVlm.Streams;
using static SynthVlm.Hosting.Kubernetes.Tests.ManifestReading;
using SynthVlm.Testing;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SynthVlm.Hosting.Kubernetes.Tests;

/// <summary>
/// `AppHost -- publish --target kubernetes`: the manifests are read back by YamlDotNet and by PyYAML
/// (which must agree document for document), every object is checked against a schema of exactly
/// the fields the publisher writes, the references between objects resolve (selectors, volumes,
/// ConfigMap/Secret keys, probe ports, KEDA targets), and images and environment names agree with
/// the model the local AppHost starts. These start the built AppHost (AppHost/bin/…/AppHost.dll) as a
/// process, so they pass once the AppHost's Aspire app model wires its publish verb to
/// <see cref="KubernetesPublisher.WriteAsync(string, Aspire.Hosting.ApplicationModel.DistributedApplicationModel, KubernetesPublishOptions, CancellationToken)"/>.
/// </summary>
public sealed class PublishVerbTests : IDisposable
{
    private const string Namespace = "synthvlm-test";
    private readonly string _root = Directory.CreateTempSubdirectory("synthvlm-k8s-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string AppHostDll()
    {
        var configuration = typeof(PublishVerbTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        return Path.Combine(RepoPaths.Root, "AppHost", "bin", configuration, "net10.0", "AppHost.dll");
    }

    private static Task<ChildProcessResult> AppHostAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(AppHostDll());
        foreach (var a in args)
        {
            info.ArgumentList.Add(a);
        }
        // A Redis or collector in the test's environment must not reach the model: an Aspire AppHost
        // reads ConnectionStrings__redis as "use this existing Redis".
        info.Environment.Remove(KnownEnvironment.RedisConnectionStringEnv);
        info.Environment.Remove(KnownEnvironment.OtlpEndpoint);
        return RunAsync(info);
    }

    private static async Task<ChildProcessResult> RunAsync(ProcessStartInfo info)
    {
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WithTimeout(TimeSpan.FromSeconds(60));
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }
        return new ChildProcessResult(process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Publish_writes_schema_valid_manifests_that_both_parsers_read_alike_and_match_the_local_model()
    {
        var outDir = Path.Combine(_root, "out");
        var result = await AppHostAsync("publish", "--target", "kubernetes", "--out", outDir,
            "--image-registry", "ghcr.io/acme", "--image-tag", "1.2.3", "--namespace", Namespace,
            "--replicas", "diffusion=3", "--gpu", "scoring=2,training=0", "--storage-class", "nfs-client",
            "--data-size", "200Gi", "--otlp", "http://otel-collector.monitoring:4318", "--keda-lag", "25", "--keda-max", "12");
        result.ExitCode.Should().Be(0, result.StandardError);
        result.StandardOutput.Should().Contain("Wrote 11 manifest files");

        var files = Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        files.Should().Equal("00-namespace.yaml", "01-shared.yaml", "02-redis.yaml",
            "10-curation.yaml", "11-diffusion.yaml", "12-scoring.yaml", "13-selection.yaml", "14-training.yaml", "15-eval.yaml", "16-recaption.yaml", "17-web.yaml");

        var docs = await ReadBothWaysAsync(outDir);
        var all = docs.SelectMany(d => d.Value).ToList();
        foreach (var (file, list) in docs)
        {
            foreach (var doc in list)
            {
                ManifestSchema.Check(doc, Namespace).Should().BeEmpty($"{file} {doc["kind"]} {doc["metadata"]?["name"]} must fit the schema");
            }
        }
        CrossReferences(all).Should().BeEmpty();

        // The AppHost's app model: every service, the replicas asked for, Redis and the conventions' variables.
        var deployments = Kind(all, "Deployment");
        deployments.Select(Name).Should().Equal(KnownServices.All.Select(s => s.Name).Append("web"));
        // The web front end of the app model: no login token of a local start baked in.
        var webEnv = deployments.Single(d => Name(d) == "web")["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()).ToList();
        webEnv.Should().Contain("services__curation__grpc__0").And.NotContain("SynthVlm__Web__Token");
        foreach (var service in KnownServices.All)
        {
            var replicas = service == KnownServices.Diffusion ? 3 : 1;
            var deployment = deployments.Single(d => Name(d) == service.Name);
            deployment["spec"]!["replicas"]!.GetValue<long>().Should().Be(replicas);
            var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
            container["image"]!.GetValue<string>().Should().Be($"ghcr.io/acme/synthvlm-{service.Name}:1.2.3");
            var env = container["env"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()).ToList();
            env.Should().OnlyHaveUniqueItems().And.Contain([KnownEnvironment.RedisConnectionStringEnv, KnownEnvironment.InstanceName, KnownEnvironment.DataDirectory,
                KnownEnvironment.GrpcEndpointUrlEnv, KnownEnvironment.HttpEndpointUrlEnv, KnownEnvironment.OtelServiceName, KnownEnvironment.OtlpEndpoint], service.Name)
                .And.NotContain(KnownEnvironment.ParentPid);

            var limits = container["resources"]?["limits"]?[KubernetesNames.GpuResource]?.GetValue<long>() ?? 0;
            limits.Should().Be(service.Name switch { "diffusion" or "recaption" => 1, "scoring" => 2, _ => 0 }, service.Name);

            var scaled = Kind(all, "ScaledObject").Single(s => Name(s) == service.Name)["spec"]!;
            scaled["minReplicaCount"]!.GetValue<long>().Should().Be(replicas);
            scaled["maxReplicaCount"]!.GetValue<long>().Should().Be(12);
            var trigger = scaled["triggers"]![0]!["metadata"]!;
            trigger["stream"]!.GetValue<string>().Should().Be(service.InputStream);
            trigger["consumerGroup"]!.GetValue<string>().Should().Be(service.ConsumerGroup);
            trigger["lagCount"]!.GetValue<string>().Should().Be("25");
            trigger["address"]!.GetValue<string>().Should().Be($"redis.{Namespace}.svc.cluster.local:6379");
        }

        var shared = Kind(all, "ConfigMap").Single(c => Name(c) == KubernetesNames.SharedConfigMap)["data"]!;
        shared[KnownEnvironment.DataDirectory]!.GetValue<string>().Should().Be("/data");
        shared[KnownEnvironment.OtlpEndpoint]!.GetValue<string>().Should().Be("http://otel-collector.monitoring:4318");

        // The connection string is one the services' own parser accepts, with the password Redis requires.
        CheckManagedRedis(all, outDir);
        Kind(all, "PersistentVolumeClaim").Single()["spec"]!["storageClassName"]!.GetValue<string>().Should().Be("nfs-client");
        Kind(all, "PersistentVolumeClaim").Single()["spec"]!["resources"]!["requests"]!["storage"]!.GetValue<string>().Should().Be("200Gi");
    }

    [Theory]
    [InlineData("--target", "helm", "--target")]
    [InlineData("--gpu", "diffusion=x", "--gpu")]
    [InlineData("--gpu", "gpu=1", "--gpu")]
    [InlineData("--replicas", "scoring=0", "--replicas")]
    [InlineData("--replicas", "ranker=2", "--replicas")]
    [InlineData("--namespace", "Bad_NS", "--namespace")]
    [InlineData("--data-size", "lots", "--data-size")]
    [InlineData("--keda-lag", "0", "--keda-lag")]
    public async Task Bad_options_exit_2_with_one_line_naming_the_option(string option, string value, string named)
    {
        var outDir = Path.Combine(_root, "bad");
        var args = new List<string> { "publish", "--target", "kubernetes", "--out", outDir };
        args.AddRange([option, value]);

        var result = await AppHostAsync([.. args]);

        result.ExitCode.Should().Be(2);
        var lines = result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        lines.Should().ContainSingle().Which.Should().Contain(named).And.Contain(value.Split('=')[0]);
        Directory.Exists(outDir).Should().BeFalse("nothing is written when the options are wrong");
    }

    [Fact]
    public async Task A_non_empty_out_folder_is_refused_and_left_as_it_was()
    {
        var outDir = Directory.CreateDirectory(Path.Combine(_root, "taken")).FullName;
        var keep = Path.Combine(outDir, "11-diffusion.yaml");
        await File.WriteAllTextAsync(keep, "mine");

        var result = await AppHostAsync("publish", "--target", "kubernetes", "--out", outDir);

        result.ExitCode.Should().Be(2);
        result.StandardError.Split('\n', StringSplitOptions.RemoveEmptyEntries).Should().ContainSingle().Which.Should().Contain("not empty").And.Contain(outDir);
        Directory.GetFiles(outDir).Should().Equal(keep);
        (await File.ReadAllTextAsync(keep)).Should().Be("mine");
    }

    [Fact]
    public async Task Publish_without_target_or_out_says_which_is_missing()
    {
        (await AppHostAsync("publish", "--out", Path.Combine(_root, "x"))).StandardError.Should().Contain("--target");
        var noOut = await AppHostAsync("publish", "--target", "kubernetes");
        noOut.ExitCode.Should().Be(2);
        noOut.StandardError.Should().Contain("--out");
    }
}
