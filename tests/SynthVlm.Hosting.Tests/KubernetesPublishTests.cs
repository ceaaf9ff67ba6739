using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluentAssertions;
using SynthVlm.Hosting.Kubernetes;
using SynthVlm.Streams;
using SynthVlm.Testing;
using Xunit;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SynthVlm.Hosting.Tests;

/// <summary>
/// `AppHost -- publish --target kubernetes`: the manifests are read back by YamlDotNet and by PyYAML
/// (which must agree document for document), every object is checked against a schema of exactly
/// the fields the publisher writes, the references between objects resolve (selectors, volumes,
/// ConfigMap/Secret keys, probe ports, KEDA targets), and images and environment names agree with
/// the model the local AppHost starts.
/// </summary>
public sealed partial class KubernetesPublishTests : IDisposable
{
    private const string Namespace = "synthvlm-test";
    private readonly string _root = Directory.CreateTempSubdirectory("synthvlm-k8s-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private static string AppHostDll()
    {
        var configuration = typeof(KubernetesPublishTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
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
        // A Redis or collector in the test's environment must not leak into manifests.
        info.Environment[KnownEnvironment.RedisConnectionStringEnv] = "127.0.0.1:1,password=local-only";
        info.Environment[KnownEnvironment.OtlpEndpoint] = "http://127.0.0.1:1";
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
        result.StandardOutput.Should().Contain("Wrote 9 manifest files");

        var files = Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        files.Should().Equal("00-namespace.yaml", "01-shared.yaml", "02-redis.yaml",
            "10-curation.yaml", "11-diffusion.yaml", "12-scoring.yaml", "13-selection.yaml", "14-training.yaml", "15-eval.yaml");

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

        // The same model the local AppHost starts: every service, its replicas, and the environment
        // names ClusterEnvironment gives a local replica (less the supervisor pid, which has no meaning in a pod).
        var model = LocalModel(new Dictionary<string, int> { ["diffusion"] = 3 });
        var deployments = Kind(all, "Deployment");
        deployments.Select(Name).Should().Equal(KnownServices.All.Select(s => s.Name));
        foreach (var service in model.Resources.OfType<ServiceResource>())
        {
            var deployment = deployments.Single(d => Name(d) == service.Name);
            deployment["spec"]!["replicas"]!.GetValue<long>().Should().Be(service.Replicas);
            var container = deployment["spec"]!["template"]!["spec"]!["containers"]![0]!;
            container["image"]!.GetValue<string>().Should().Be($"ghcr.io/acme/synthvlm-{service.Name}:1.2.3");
            var local = ClusterEnvironment.ForReplica(service, 0, new Uri("http://127.0.0.1:1"), new Uri("http://127.0.0.1:2"),
                "127.0.0.1:6379", new Dictionary<string, IReadOnlyList<Uri>>(), new Uri("http://127.0.0.1:4318"));
            local.Remove(KnownEnvironment.ParentPid);
            var env = container["env"]!.AsArray().Select(e => e!["name"]!.GetValue<string>()).ToList();
            env.Should().OnlyHaveUniqueItems().And.BeEquivalentTo(local.Keys, service.Name);

            var limits = container["resources"]?["limits"]?[KubernetesNames.GpuResource]?.GetValue<long>() ?? 0;
            limits.Should().Be(service.Name switch { "diffusion" => 1, "scoring" => 2, _ => 0 }, service.Name);

            var scaled = Kind(all, "ScaledObject").Single(s => Name(s) == service.Name)["spec"]!;
            scaled["minReplicaCount"]!.GetValue<long>().Should().Be(service.Replicas);
            scaled["maxReplicaCount"]!.GetValue<long>().Should().Be(12);
            var trigger = scaled["triggers"]![0]!["metadata"]!;
            trigger["stream"]!.GetValue<string>().Should().Be(service.Service.InputStream);
            trigger["consumerGroup"]!.GetValue<string>().Should().Be(service.Service.ConsumerGroup);
            trigger["lagCount"]!.GetValue<string>().Should().Be("25");
            trigger["address"]!.GetValue<string>().Should().Be($"redis.{Namespace}.svc.cluster.local:6379");
        }

        var shared = Kind(all, "ConfigMap").Single(c => Name(c) == KubernetesNames.SharedConfigMap)["data"]!;
        shared[KnownEnvironment.DataDirectory]!.GetValue<string>().Should().Be("/data");
        shared[KnownEnvironment.OtlpEndpoint]!.GetValue<string>().Should().Be("http://otel-collector.monitoring:4318");

        // The connection string is one the services' own parser accepts, with the password Redis requires.
        var secret = Kind(all, "Secret").Single()["stringData"]!;
        var password = secret[KubernetesNames.PasswordKey]!.GetValue<string>();
        password.Should().MatchRegex("^[0-9a-f]{48}$");
        var parsed = RedisConnectionOptions.Parse(secret[KubernetesNames.ConnectionStringKey]!.GetValue<string>());
        (parsed.Host, parsed.Port, parsed.Password).Should().Be(("redis", 6379, password));

        var redisArgs = Kind(all, "StatefulSet").Single()["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        redisArgs.Should().ContainInConsecutiveOrder("--appendonly", "yes").And.ContainInConsecutiveOrder("--appendfsync", "everysec")
            .And.ContainInConsecutiveOrder("--requirepass", "$(REDIS_PASSWORD)");
        if (!OperatingSystem.IsWindows()) File.GetUnixFileMode(Path.Combine(outDir, KubernetesPublisher.SharedFile)).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "it holds the Redis password");
        Kind(all, "PersistentVolumeClaim").Single()["spec"]!["storageClassName"]!.GetValue<string>().Should().Be("nfs-client");
        Kind(all, "PersistentVolumeClaim").Single()["spec"]!["resources"]!["requests"]!["storage"]!.GetValue<string>().Should().Be("200Gi");
    }

    [Fact]
    public async Task An_external_redis_gets_only_its_secret_and_keda_reads_its_address_user_and_tls()
    {
        var builder = new ClusterBuilder();
        var redis = builder.AddExternalRedis("redis", "redis.example.com:6380,user=synth,password=s3cret,ssl=true");
        var curation = builder.AddService(KnownServices.Curation, "/x/CurationService.dll").WithReference(redis);
        builder.AddService(KnownServices.Selection, "/x/SelectionService.dll").WithReference(redis).WithReference(curation);
        var outDir = Path.Combine(_root, "external");

        KubernetesPublisher.Write(outDir, builder.Resources, new KubernetesPublishOptions { Namespace = Namespace, ScaleMetric = StreamScaleMetric.Pending, ScaleThreshold = 7 });

        Directory.GetFiles(outDir).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Should().Equal("00-namespace.yaml", "01-shared.yaml", "10-curation.yaml", "13-selection.yaml");
        var all = (await ReadBothWaysAsync(outDir)).SelectMany(d => d.Value).ToList();
        foreach (var doc in all)
        {
            ManifestSchema.Check(doc, Namespace).Should().BeEmpty();
        }
        CrossReferences(all).Should().BeEmpty();
        Kind(all, "StatefulSet").Should().BeEmpty();
        var secret = Kind(all, "Secret").Single()["stringData"]!;
        secret[KubernetesNames.ConnectionStringKey]!.GetValue<string>().Should().Be("redis.example.com:6380,user=synth,password=s3cret,ssl=true");
        var auth = Kind(all, "TriggerAuthentication").Single()["spec"]!["secretTargetRef"]!.AsArray()
            .Select(r => (r!["parameter"]!.GetValue<string>(), r["key"]!.GetValue<string>())).ToList();
        auth.Should().Equal(("password", KubernetesNames.PasswordKey), ("username", KubernetesNames.UserKey));
        var trigger = Kind(all, "ScaledObject").Single(s => Name(s) == "selection")["spec"]!["triggers"]![0]!["metadata"]!;
        trigger["address"]!.GetValue<string>().Should().Be("redis.example.com:6380");
        trigger["enableTLS"]!.GetValue<string>().Should().Be("true");
        trigger["pendingEntriesCount"]!.GetValue<string>().Should().Be("7");
        trigger["lagCount"].Should().BeNull();

        // A reference becomes Aspire's service-discovery variable, pointing at the referenced Service's gRPC port.
        var env = Kind(all, "Deployment").Single(d => Name(d) == "selection")["spec"]!["template"]!["spec"]!["containers"]![0]!["env"]!.AsArray();
        env.Single(e => e!["name"]!.GetValue<string>() == "services__curation__grpc__0")!["value"]!.GetValue<string>().Should().Be("http://curation:8080");
    }

    [Fact]
    public void Strings_a_yaml_reader_would_retype_are_quoted_and_read_back_as_strings()
    {
        var builder = new ClusterBuilder();
        var redis = builder.AddRedis("redis", Path.Combine(_root, "redis"));
        var eval = builder.AddService(KnownServices.Eval, "/x/EvalService.dll").WithReference(redis);
        foreach (var (key, value) in new[] { ("A_yes", "yes"), ("A_off", "Off"), ("A_num", "0755"), ("A_float", "1e3"), ("A_null", "~"), ("A_inf", ".inf"), ("A_colon", "x:"), ("A_hash", "a #b"), ("A_empty", "") })
        {
            eval.Environment[key] = value;
        }
        var file = KubernetesPublisher.Build(builder.Resources, new KubernetesPublishOptions { RedisPassword = "p" }).Single(f => f.FileName == "15-eval.yaml");

        var stream = new YamlStream();
        stream.Load(new StringReader(file.ToYaml()));
        var data = (YamlMappingNode)((YamlMappingNode)stream.Documents[0].RootNode)["data"];
        foreach (var (key, value) in eval.Environment)
        {
            var node = (YamlScalarNode)data[key];
            node.Value.Should().Be(value);
            node.Style.Should().NotBe(ScalarStyle.Plain, $"'{value}' read as plain would not stay a string");
        }
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

    /// <summary>The model LocalCluster.Plan builds: managed Redis, the six services referencing it, one data folder.</summary>
    private ClusterBuilder LocalModel(IReadOnlyDictionary<string, int> replicas)
    {
        var builder = new ClusterBuilder();
        var redis = builder.AddRedis("redis", Path.Combine(_root, "redis"));
        foreach (var service in KnownServices.All)
        {
            var resource = builder.AddService(service, $"/x/{service.ProjectName}.dll").WithReference(redis).WithReplicas(replicas.GetValueOrDefault(service.Name, 1));
            resource.Environment[KnownEnvironment.DataDirectory] = _root;
        }
        return builder;
    }

    /// <summary>
    /// Reads every file with PyYAML (the reference) and with YamlDotNet, and requires the same
    /// documents from both, scalars typed alike (a port is a number in both, "yes" a string in both).
    /// </summary>
    private static async Task<Dictionary<string, List<JsonObject>>> ReadBothWaysAsync(string dir)
    {
        var script = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hosting.Tests", "Fixtures", "parse_manifests.py");
        var python = await ChildProcess.RunPythonAsync(script, [dir]);
        python.ExitCode.Should().Be(0, python.StandardError);
        var reference = JsonNode.Parse(python.StandardOutput)!.AsObject();

        var result = new Dictionary<string, List<JsonObject>>(StringComparer.Ordinal);
        foreach (var path in Directory.GetFiles(dir).Order(StringComparer.Ordinal))
        {
            var name = Path.GetFileName(path);
            var stream = new YamlStream();
            using (var reader = new StreamReader(path))
            {
                stream.Load(reader);
            }
            var ours = new JsonArray(stream.Documents.Select(d => ToJson(d.RootNode)).ToArray());
            JsonNode.DeepEquals(ours, reference[name]).Should().BeTrue($"YamlDotNet and PyYAML must read {name} alike:\n{ours}\n{reference[name]}");
            result[name] = ours.Select(n => n!.AsObject()).ToList();
        }
        reference.Select(p => p.Key).Should().BeEquivalentTo(result.Keys);
        return result;
    }

    // YAML 1.2 core schema for plain scalars, which is how PyYAML (1.1) reads the values we emit too.
    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode map => new JsonObject(map.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value!, ToJson(kv.Value)))),
        YamlSequenceNode seq => new JsonArray(seq.Children.Select(ToJson).ToArray()),
        YamlScalarNode { Style: ScalarStyle.Plain } s when PlainInt().IsMatch(s.Value!) => JsonValue.Create(long.Parse(s.Value!, CultureInfo.InvariantCulture)),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "true" or "false" } s => JsonValue.Create(s.Value == "true"),
        YamlScalarNode { Style: ScalarStyle.Plain, Value: "null" or "~" or "" } => null,
        YamlScalarNode s => JsonValue.Create(s.Value),
        _ => throw new InvalidOperationException(node.GetType().Name),
    };

    private static List<JsonObject> Kind(IEnumerable<JsonObject> docs, string kind) =>
        docs.Where(d => d["kind"]!.GetValue<string>() == kind).ToList();

    private static string Name(JsonObject doc) => doc["metadata"]!["name"]!.GetValue<string>();

    private static Dictionary<string, string> StringMap(JsonNode? node) =>
        node?.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal) ?? [];

    /// <summary>Every name one object uses to refer to another resolves; returns what does not.</summary>
    private static List<string> CrossReferences(List<JsonObject> all)
    {
        var errors = new List<string>();
        var configMaps = Kind(all, "ConfigMap").ToDictionary(Name, c => StringMap(c["data"]));
        var secrets = Kind(all, "Secret").ToDictionary(Name, s => StringMap(s["stringData"]));
        var claims = Kind(all, "PersistentVolumeClaim").Select(Name).ToHashSet();
        var services = Kind(all, "Service");
        var workloads = Kind(all, "Deployment").Concat(Kind(all, "StatefulSet")).ToList();
        var names = new HashSet<string>();
        foreach (var doc in all)
        {
            if (!names.Add($"{doc["kind"]}/{Name(doc)}"))
            {
                errors.Add($"two objects are {doc["kind"]}/{Name(doc)}");
            }
        }

        foreach (var workload in workloads)
        {
            var w = $"{workload["kind"]}/{Name(workload)}";
            var spec = workload["spec"]!;
            var selector = StringMap(spec["selector"]!["matchLabels"]);
            var labels = StringMap(spec["template"]!["metadata"]!["labels"]);
            if (selector.Count == 0 || selector.Any(s => !labels.TryGetValue(s.Key, out var v) || v != s.Value))
            {
                errors.Add($"{w}: selector does not match its pod labels");
            }
            var pod = spec["template"]!["spec"]!;
            var volumes = pod["volumes"]?.AsArray().Select(v => v!["name"]!.GetValue<string>()).ToHashSet() ?? [];
            volumes.UnionWith(spec["volumeClaimTemplates"]?.AsArray().Select(v => v!["metadata"]!["name"]!.GetValue<string>()) ?? []);
            foreach (var claim in pod["volumes"]?.AsArray().Select(v => v!["persistentVolumeClaim"]?["claimName"]?.GetValue<string>()).OfType<string>() ?? [])
            {
                if (!claims.Contains(claim))
                {
                    errors.Add($"{w}: claim {claim} does not exist");
                }
            }
            foreach (var container in pod["containers"]!.AsArray())
            {
                var ports = container!["ports"]!.AsArray().Select(p => p!["name"]!.GetValue<string>()).ToHashSet();
                foreach (var mount in container["volumeMounts"]!.AsArray())
                {
                    if (!volumes.Contains(mount!["name"]!.GetValue<string>()))
                    {
                        errors.Add($"{w}: volume mount {mount["name"]} names no volume");
                    }
                }
                foreach (var probe in new[] { "startupProbe", "livenessProbe", "readinessProbe" })
                {
                    var port = container[probe]?["httpGet"]?["port"] ?? container[probe]?["tcpSocket"]?["port"];
                    if (port is not null && !ports.Contains(port.GetValue<string>()))
                    {
                        errors.Add($"{w}: {probe} port {port} is not a container port");
                    }
                }
                var declared = new HashSet<string>();
                foreach (var env in container["env"]!.AsArray())
                {
                    var name = env!["name"]!.GetValue<string>();
                    if (env["valueFrom"]?["configMapKeyRef"] is { } cm
                        && !(configMaps.TryGetValue(cm["name"]!.GetValue<string>(), out var data) && data.ContainsKey(cm["key"]!.GetValue<string>())))
                    {
                        errors.Add($"{w}: env {name} reads missing ConfigMap key {cm["name"]}/{cm["key"]}");
                    }
                    if (env["valueFrom"]?["secretKeyRef"] is { } sk
                        && !(secrets.TryGetValue(sk["name"]!.GetValue<string>(), out var sdata) && sdata.ContainsKey(sk["key"]!.GetValue<string>())))
                    {
                        errors.Add($"{w}: env {name} reads missing Secret key {sk["name"]}/{sk["key"]}");
                    }
                    foreach (Match m in VarRef().Matches(env["value"]?.GetValue<string>() ?? string.Empty))
                    {
                        if (!declared.Contains(m.Groups[1].Value))
                        {
                            errors.Add($"{w}: env {name} expands $({m.Groups[1].Value}) before it is declared");
                        }
                    }
                    if (name.StartsWith("services__", StringComparison.Ordinal))
                    {
                        var target = new Uri(env["value"]!.GetValue<string>());
                        if (!services.Any(s => Name(s) == target.Host && s["spec"]!["ports"]!.AsArray().Any(p => p!["name"]!.GetValue<string>() == KubernetesNames.GrpcPortName && p["port"]!.GetValue<long>() == target.Port)))
                        {
                            errors.Add($"{w}: {name} points at {target}, which no Service serves");
                        }
                    }
                    declared.Add(name);
                }
            }
        }

        foreach (var service in services)
        {
            var selector = StringMap(service["spec"]!["selector"]);
            var targets = workloads.Where(w => selector.All(s => StringMap(w["spec"]!["template"]!["metadata"]!["labels"]).GetValueOrDefault(s.Key) == s.Value)).ToList();
            if (targets.Count != 1)
            {
                errors.Add($"Service/{Name(service)} selects {targets.Count} workloads");
                continue;
            }
            var containerPorts = targets[0]["spec"]!["template"]!["spec"]!["containers"]![0]!["ports"]!.AsArray()
                .ToDictionary(p => p!["name"]!.GetValue<string>(), p => p!["containerPort"]!.GetValue<long>());
            foreach (var port in service["spec"]!["ports"]!.AsArray())
            {
                if (!containerPorts.TryGetValue(port!["targetPort"]!.GetValue<string>(), out var number) || number != port["port"]!.GetValue<long>())
                {
                    errors.Add($"Service/{Name(service)} port {port["name"]} does not reach a container port of the same number");
                }
            }
        }
        foreach (var set in Kind(all, "StatefulSet"))
        {
            var governing = services.FirstOrDefault(s => Name(s) == set["spec"]!["serviceName"]!.GetValue<string>());
            if (governing?["spec"]!["clusterIP"]?.GetValue<string>() != "None")
            {
                errors.Add($"StatefulSet/{Name(set)} has no headless governing Service");
            }
        }

        var auths = Kind(all, "TriggerAuthentication").ToDictionary(Name);
        foreach (var scaled in Kind(all, "ScaledObject"))
        {
            var spec = scaled["spec"]!;
            var target = spec["scaleTargetRef"]!["name"]!.GetValue<string>();
            if (!Kind(all, "Deployment").Any(d => Name(d) == target))
            {
                errors.Add($"ScaledObject/{Name(scaled)} targets missing Deployment {target}");
            }
            var service = KnownServices.Find(target);
            var trigger = spec["triggers"]![0]!;
            if (service is null || trigger["metadata"]!["stream"]!.GetValue<string>() != service.InputStream || trigger["metadata"]!["consumerGroup"]!.GetValue<string>() != service.ConsumerGroup)
            {
                errors.Add($"ScaledObject/{Name(scaled)} does not watch its stage's input stream and consumer group");
            }
            if (spec["minReplicaCount"]!.GetValue<long>() > spec["maxReplicaCount"]!.GetValue<long>())
            {
                errors.Add($"ScaledObject/{Name(scaled)} min > max");
            }
            if (trigger["authenticationRef"]?["name"]?.GetValue<string>() is { } authName)
            {
                if (!auths.TryGetValue(authName, out var auth))
                {
                    errors.Add($"ScaledObject/{Name(scaled)} names missing TriggerAuthentication {authName}");
                }
                else
                {
                    foreach (var r in auth["spec"]!["secretTargetRef"]!.AsArray())
                    {
                        if (!(secrets.TryGetValue(r!["name"]!.GetValue<string>(), out var data) && data.ContainsKey(r["key"]!.GetValue<string>())))
                        {
                            errors.Add($"TriggerAuthentication/{authName} reads missing Secret key {r["name"]}/{r["key"]}");
                        }
                    }
                }
            }
        }
        return errors;
    }

    [GeneratedRegex(@"^-?[0-9]+$")]
    private static partial Regex PlainInt();

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VarRef();
}
