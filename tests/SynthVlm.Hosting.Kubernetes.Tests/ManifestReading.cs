using System.Globalization;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using FluentAssertions;
using SynthVlm.Testing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace SynthVlm.Hosting.Kubernetes.Tests;

/// <summary>
/// Reads published manifests back two independent ways and checks what one object says about another,
/// for the library tests (<see cref="ManifestTests"/>) and the AppHost verb tests (<see cref="PublishVerbTests"/>).
/// </summary>
internal static partial class ManifestReading
{
    /// <summary>
    /// Reads every file with PyYAML (the reference) and with YamlDotNet, and requires the same
    /// documents from both, scalars typed alike (a port is a number in both, "yes" a string in both).
    /// </summary>
    public static async Task<Dictionary<string, List<JsonObject>>> ReadBothWaysAsync(string dir)
    {
        var script = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hosting.Kubernetes.Tests", "Fixtures", "parse_manifests.py");
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

    public static List<JsonObject> Kind(IEnumerable<JsonObject> docs, string kind) =>
        docs.Where(d => d["kind"]!.GetValue<string>() == kind).ToList();

    public static string Name(JsonObject doc) => doc["metadata"]!["name"]!.GetValue<string>();

    /// <summary>
    /// The managed Redis as published: a Secret whose connection string the services' own parser
    /// accepts with the password Redis requires, AOF every second, and the Secret's file readable by
    /// its owner only.
    /// </summary>
    public static void CheckManagedRedis(List<JsonObject> all, string outDir)
    {
        var secret = Kind(all, "Secret").Single()["stringData"]!;
        var password = secret[KubernetesNames.PasswordKey]!.GetValue<string>();
        password.Should().MatchRegex("^[0-9a-f]{48}$");
        var parsed = SynthVlm.Streams.RedisConnectionOptions.Parse(secret[KubernetesNames.ConnectionStringKey]!.GetValue<string>());
        (parsed.Host, parsed.Port, parsed.Password).Should().Be(("redis", 6379, password));
        var redisArgs = Kind(all, "StatefulSet").Single()["spec"]!["template"]!["spec"]!["containers"]![0]!["args"]!.AsArray().Select(a => a!.GetValue<string>()).ToList();
        redisArgs.Should().ContainInConsecutiveOrder("--appendonly", "yes").And.ContainInConsecutiveOrder("--appendfsync", "everysec")
            .And.ContainInConsecutiveOrder("--requirepass", "$(REDIS_PASSWORD)");
        if (!OperatingSystem.IsWindows())
        {
            File.GetUnixFileMode(Path.Combine(outDir, KubernetesPublisher.SharedFile)).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite, "it holds the Redis password");
        }
    }

    public static Dictionary<string, string> StringMap(JsonNode? node) =>
        node?.AsObject().ToDictionary(p => p.Key, p => p.Value!.GetValue<string>(), StringComparer.Ordinal) ?? [];

    /// <summary>Every name one object uses to refer to another resolves; returns what does not.</summary>
    public static List<string> CrossReferences(List<JsonObject> all)
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
                        // services__{service}__{endpoint}__0: the Service's port of that name.
                        var target = new Uri(env["value"]!.GetValue<string>());
                        var endpoint = name.Split("__")[2];
                        if (!services.Any(s => Name(s) == target.Host && s["spec"]!["ports"]!.AsArray().Any(p => p!["name"]!.GetValue<string>() == endpoint && p["port"]!.GetValue<long>() == target.Port)))
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
