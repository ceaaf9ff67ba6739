using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace SynthVlm.Hosting.Kubernetes.Tests;

/// <summary>
/// A small structural schema for exactly the Kubernetes fields the publisher writes: objects are
/// closed (an unknown or misspelt key is an error, as `kubectl apply --validate=strict` would say),
/// required keys must be there, and scalars have the type and form the API server accepts.
/// </summary>
internal static partial class ManifestSchema
{
    private abstract record Spec;

    private sealed record Str(Func<string, bool>? Check = null, string What = "a string") : Spec;

    private sealed record Int(int Min, int Max) : Spec;

    private sealed record Obj(params Field[] Fields) : Spec;

    private sealed record Field(string Name, Spec Spec, bool Required = true);

    private sealed record Arr(Spec Item) : Spec;

    private sealed record Dict(Func<string, bool> KeyCheck, string KeyWhat, Spec Value) : Spec;

    private static Field Req(string name, Spec spec) => new(name, spec);

    private static Field Opt(string name, Spec spec) => new(name, spec, Required: false);

    private static Str Eq(string value) => new(v => v == value, $"'{value}'");

    private static Str OneOf(params string[] values) => new(v => values.Contains(v), $"one of {string.Join(", ", values)}");

    private static readonly Str AnyStr = new();
    private static readonly Str Label = new(v => DnsLabel().IsMatch(v) && v.Length <= 63, "a DNS-1123 label");
    private static readonly Str Subdomain = new(v => DnsSubdomain().IsMatch(v) && v.Length <= 253, "a DNS-1123 subdomain");
    private static readonly Str PortName = new(v => v.Length <= 15 && IanaName().IsMatch(v), "an IANA service name (at most 15, lowercase, a letter)");
    private static readonly Str EnvName = new(v => EnvVarName().IsMatch(v), "a C identifier");
    private static readonly Str Quantity = new(v => QuantityPattern().IsMatch(v), "a quantity");
    private static readonly Str Digits = new(v => DigitsPattern().IsMatch(v), "a whole number as a string");
    private static readonly Str Absolute = new(v => v.StartsWith('/'), "an absolute path");
    private static readonly Int Port = new(1, 65535);
    private static readonly Dict Labels = new(v => LabelKey().IsMatch(v), "a label key", new Str(v => v.Length <= 63 && LabelValue().IsMatch(v), "a label value"));
    private static readonly Dict ConfigData = new(v => ConfigKey().IsMatch(v), "a ConfigMap key", AnyStr);

    private static Obj Metadata(string ns, bool namespaced, Str name) => namespaced
        ? new(Req("name", name), Req("namespace", Eq(ns)), Req("labels", Labels))
        : new(Req("name", name), Req("labels", Labels));

    private static readonly Obj KeyRef = new(Req("name", Subdomain), Req("key", new Str(v => ConfigKey().IsMatch(v), "a key")));

    private static readonly Obj EnvVar = new(
        Req("name", EnvName),
        Opt("value", AnyStr),
        Opt("valueFrom", new Obj(Opt("fieldRef", new Obj(Req("fieldPath", OneOf("metadata.name", "metadata.namespace")))), Opt("configMapKeyRef", KeyRef), Opt("secretKeyRef", KeyRef))));

    private static readonly Obj Probe = new(
        Opt("httpGet", new Obj(Req("path", Absolute), Req("port", PortName))),
        Opt("tcpSocket", new Obj(Req("port", PortName))),
        Opt("exec", new Obj(Req("command", new Arr(AnyStr)))),
        Opt("periodSeconds", new Int(1, 3600)),
        Opt("failureThreshold", new Int(1, 1000)));

    private static readonly Obj Container = new(
        Req("name", Label),
        Req("image", new Str(v => ImageRef().IsMatch(v), "an image reference")),
        Opt("imagePullPolicy", OneOf("Always", "IfNotPresent", "Never")),
        Opt("args", new Arr(AnyStr)),
        Req("ports", new Arr(new Obj(Req("name", PortName), Req("containerPort", Port), Req("protocol", Eq("TCP"))))),
        Req("env", new Arr(EnvVar)),
        Req("volumeMounts", new Arr(new Obj(Req("name", Label), Req("mountPath", Absolute)))),
        Opt("startupProbe", Probe),
        Req("livenessProbe", Probe),
        Req("readinessProbe", Probe),
        Opt("resources", new Obj(Req("limits", new Dict(v => v == "nvidia.com/gpu", "an extended resource", new Int(1, 16))))));

    private static readonly Obj PodTemplate = new(
        Req("metadata", new Obj(Req("labels", Labels))),
        Req("spec", new Obj(
            Opt("terminationGracePeriodSeconds", new Int(0, 3600)),
            Req("containers", new Arr(Container)),
            Opt("tolerations", new Arr(new Obj(Req("key", AnyStr), Req("operator", OneOf("Exists", "Equal")), Req("effect", OneOf("NoSchedule", "PreferNoSchedule", "NoExecute"))))),
            Opt("volumes", new Arr(new Obj(Req("name", Label), Req("persistentVolumeClaim", new Obj(Req("claimName", Subdomain)))))))));

    private static readonly Obj ClaimSpec = new(
        Req("accessModes", new Arr(OneOf("ReadWriteOnce", "ReadWriteMany", "ReadOnlyMany"))),
        Opt("storageClassName", Subdomain),
        Req("resources", new Obj(Req("requests", new Obj(Req("storage", Quantity))))));

    private static readonly Obj Selector = new(Req("matchLabels", Labels));

    private static Obj Top(string ns, string apiVersion, string kind, Str name, params Field[] body) =>
        new([Req("apiVersion", Eq(apiVersion)), Req("kind", Eq(kind)), Req("metadata", Metadata(ns, kind != "Namespace", name)), .. body]);

    private static Obj? For(string kind, string ns) => kind switch
    {
        "Namespace" => Top(ns, "v1", kind, Label),
        "ConfigMap" => Top(ns, "v1", kind, Subdomain, Req("data", ConfigData)),
        "Secret" => Top(ns, "v1", kind, Subdomain, Req("type", Eq("Opaque")), Req("stringData", ConfigData)),
        "PersistentVolumeClaim" => Top(ns, "v1", kind, Subdomain, Req("spec", ClaimSpec)),
        "Service" => Top(ns, "v1", kind, Label, Req("spec", new Obj(
            Opt("type", Eq("ClusterIP")),
            Opt("clusterIP", Eq("None")),
            Req("selector", Labels),
            Req("ports", new Arr(new Obj(Req("name", PortName), Req("port", Port), Req("targetPort", PortName), Req("protocol", Eq("TCP")), Opt("appProtocol", Eq("kubernetes.io/h2c")))))))),
        "Deployment" => Top(ns, "apps/v1", kind, Subdomain, Req("spec", new Obj(Req("replicas", new Int(0, 1000)), Req("selector", Selector), Req("template", PodTemplate)))),
        "StatefulSet" => Top(ns, "apps/v1", kind, Subdomain, Req("spec", new Obj(
            Req("serviceName", Label), Req("replicas", new Int(1, 1)), Req("selector", Selector), Req("template", PodTemplate),
            Req("volumeClaimTemplates", new Arr(new Obj(Req("metadata", new Obj(Req("name", Label))), Req("spec", ClaimSpec))))))),
        "TriggerAuthentication" => Top(ns, "keda.sh/v1alpha1", kind, Subdomain, Req("spec", new Obj(
            Req("secretTargetRef", new Arr(new Obj(Req("parameter", OneOf("password", "username")), Req("name", Subdomain), Req("key", AnyStr))))))),
        "ScaledObject" => Top(ns, "keda.sh/v1alpha1", kind, Subdomain, Req("spec", new Obj(
            Req("scaleTargetRef", new Obj(Req("apiVersion", Eq("apps/v1")), Req("kind", Eq("Deployment")), Req("name", Subdomain))),
            Req("minReplicaCount", new Int(0, 1000)),
            Req("maxReplicaCount", new Int(1, 1000)),
            Req("pollingInterval", new Int(1, 3600)),
            Req("cooldownPeriod", new Int(0, 86400)),
            Req("triggers", new Arr(new Obj(
                Req("type", Eq("redis-streams")),
                // KEDA's redis-streams scaler reads its metadata as strings, numbers included.
                Req("metadata", new Obj(
                    Req("address", new Str(v => HostPort().IsMatch(v), "host:port")),
                    Req("stream", AnyStr),
                    Req("consumerGroup", AnyStr),
                    Opt("lagCount", Digits),
                    Opt("pendingEntriesCount", Digits),
                    Req("databaseIndex", Digits),
                    Req("enableTLS", OneOf("true", "false")))),
                Opt("authenticationRef", new Obj(Req("name", Subdomain))))))))),
        _ => null,
    };

    /// <summary>What is wrong with <paramref name="doc"/> (empty when it fits).</summary>
    public static List<string> Check(JsonObject doc, string ns)
    {
        var errors = new List<string>();
        var kind = doc["kind"]?.GetValueKind() == JsonValueKind.String ? doc["kind"]!.GetValue<string>() : "(none)";
        var spec = For(kind, ns);
        if (spec is null)
        {
            errors.Add($"kind {kind} is not one the publisher writes");
            return errors;
        }
        Check(doc, spec, kind, errors);
        if (kind == "ScaledObject" && doc["spec"]?["triggers"]?[0]?["metadata"] is JsonObject m && (m["lagCount"] is null) == (m["pendingEntriesCount"] is null))
        {
            errors.Add("ScaledObject trigger needs exactly one of lagCount and pendingEntriesCount");
        }
        return errors;
    }

    private static void Check(JsonNode? node, Spec spec, string path, List<string> errors)
    {
        switch (spec)
        {
            case Str s:
                if (node?.GetValueKind() != JsonValueKind.String)
                {
                    errors.Add($"{path}: expected {s.What}, found {node?.ToJsonString() ?? "null"}");
                }
                else if (s.Check is not null && !s.Check(node.GetValue<string>()))
                {
                    errors.Add($"{path}: '{node.GetValue<string>()}' is not {s.What}");
                }
                break;
            case Int i:
                if (node?.GetValueKind() != JsonValueKind.Number || node.GetValue<long>() < i.Min || node.GetValue<long>() > i.Max)
                {
                    errors.Add($"{path}: expected an integer from {i.Min} to {i.Max}, found {node?.ToJsonString() ?? "null"}");
                }
                break;
            case Arr a:
                if (node is not JsonArray array || array.Count == 0)
                {
                    errors.Add($"{path}: expected a non-empty list");
                    break;
                }
                for (var k = 0; k < array.Count; k++)
                {
                    Check(array[k], a.Item, $"{path}[{k}]", errors);
                }
                break;
            case Dict d:
                if (node is not JsonObject dict)
                {
                    errors.Add($"{path}: expected a mapping");
                    break;
                }
                foreach (var (key, value) in dict)
                {
                    if (!d.KeyCheck(key))
                    {
                        errors.Add($"{path}: key '{key}' is not {d.KeyWhat}");
                    }
                    Check(value, d.Value, $"{path}.{key}", errors);
                }
                break;
            case Obj o:
                if (node is not JsonObject obj)
                {
                    errors.Add($"{path}: expected a mapping");
                    break;
                }
                foreach (var (key, _) in obj)
                {
                    if (o.Fields.All(f => f.Name != key))
                    {
                        errors.Add($"{path}: unknown field '{key}'");
                    }
                }
                foreach (var f in o.Fields)
                {
                    if (obj[f.Name] is { } child)
                    {
                        Check(child, f.Spec, $"{path}.{f.Name}", errors);
                    }
                    else if (f.Required)
                    {
                        errors.Add($"{path}: missing '{f.Name}'");
                    }
                }
                break;
        }
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^(?=.*[a-z])[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex IanaName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex EnvVarName();

    [GeneratedRegex("^[1-9][0-9]*(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")]
    private static partial Regex QuantityPattern();

    [GeneratedRegex("^[0-9]+$")]
    private static partial Regex DigitsPattern();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    [GeneratedRegex("^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")]
    private static partial Regex LabelValue();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex ConfigKey();

    [GeneratedRegex(@"^([a-z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._/-][a-z0-9]+)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex ImageRef();

    [GeneratedRegex(@"^[A-Za-z0-9.-]+:[0-9]{1,5}$")]
    private static partial Regex HostPort();
}
