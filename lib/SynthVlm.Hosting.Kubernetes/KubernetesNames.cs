using System.Text.RegularExpressions;

namespace SynthVlm.Hosting.Kubernetes;

/// <summary>
/// Names and numbers the published manifests share between objects (ports, ConfigMap and Secret
/// keys, labels), each spelled once so Deployments, Services, probes and tests agree.
/// </summary>
public static partial class KubernetesNames
{
    /// <summary>The container port of a service's gRPC (HTTP/2) endpoint.</summary>
    public const int GrpcPort = 8080;

    /// <summary>The container port of a service's HTTP/1.1 endpoint (/health, /alive).</summary>
    public const int HttpPort = 8081;

    /// <summary>The name of the gRPC port, also the endpoint name in <c>services__{name}__grpc__0</c>.</summary>
    public const string GrpcPortName = "grpc";

    /// <summary>The name of the HTTP port the probes use.</summary>
    public const string HttpPortName = "http";

    /// <summary>Redis's port.</summary>
    public const int RedisPort = 6379;

    /// <summary>Where the shared data volume is mounted in every service container (SYNTHVLM_DATA_DIR).</summary>
    public const string DataMountPath = "/data";

    /// <summary>The name of the data volume in pod specs.</summary>
    public const string DataVolume = "data";

    /// <summary>The shared ReadWriteMany claim every replica mounts.</summary>
    public const string DataClaim = "synthvlm-data";

    /// <summary>The ConfigMap with the settings all services share.</summary>
    public const string SharedConfigMap = "synthvlm-config";

    /// <summary>The Secret with Redis's connection string (and password).</summary>
    public const string RedisSecret = "synthvlm-redis";

    /// <summary>The key of the connection string in <see cref="RedisSecret"/>.</summary>
    public const string ConnectionStringKey = "connection-string";

    /// <summary>The key of the password in <see cref="RedisSecret"/>.</summary>
    public const string PasswordKey = "password";

    /// <summary>The key of the user name in <see cref="RedisSecret"/> (external Redis with ACL users).</summary>
    public const string UserKey = "username";

    /// <summary>The KEDA TriggerAuthentication reading Redis's credentials from <see cref="RedisSecret"/>.</summary>
    public const string TriggerAuthentication = "synthvlm-redis";

    /// <summary>The label every object carries with its resource name (the selector key).</summary>
    public const string NameLabel = "app.kubernetes.io/name";

    /// <summary>The label that groups SynthVlm's objects.</summary>
    public const string PartOfLabel = "app.kubernetes.io/part-of";

    /// <summary>The value of <see cref="PartOfLabel"/>.</summary>
    public const string PartOf = "synthvlm";

    /// <summary>The label saying what kind of part an object is (stage, redis, config).</summary>
    public const string ComponentLabel = "app.kubernetes.io/component";

    /// <summary>The extended resource GPUs are requested as (NVIDIA device plugin).</summary>
    public const string GpuResource = "nvidia.com/gpu";

    /// <summary>The liveness path every service serves on its HTTP port.</summary>
    public const string AlivePath = "/alive";

    /// <summary>The readiness path every service serves on its HTTP port.</summary>
    public const string HealthPath = "/health";

    /// <summary>The per-service ConfigMap with its telemetry name and extra settings.</summary>
    public static string ServiceConfigMap(string service) => $"synthvlm-{service}";

    /// <summary>The image of <paramref name="service"/>: <c>{registry}/synthvlm-{service}:{tag}</c>.</summary>
    public static string Image(string? registry, string service, string tag) =>
        (registry is null ? string.Empty : registry.TrimEnd('/') + "/") + $"synthvlm-{service}:{tag}";

    /// <summary>
    /// The service-discovery variable through which a referencing pod finds <paramref name="endpoint"/> of
    /// <paramref name="service"/> (<c>services__{service}__{endpoint}__0</c>, endpoint lowercase, so the gRPC one is
    /// <see cref="KnownEnvironment.ServiceGrpcEndpointEnv"/>): one ClusterIP Service fronts all replicas, so index 0 is the only one.
    /// </summary>
    public static string ServiceDiscoveryEnv(string service, string endpoint) =>
        endpoint.Equals(GrpcPortName, StringComparison.OrdinalIgnoreCase)
            ? KnownEnvironment.ServiceGrpcEndpointEnv(service, 0)
            : $"services__{service}__{endpoint.ToLowerInvariant()}__0";

    /// <summary>Kestrel's URL for a port on all interfaces (pods are reached through their pod IP).</summary>
    public static string AnyAddressUrl(int port) => $"http://0.0.0.0:{port}";

    /// <summary>Whether <paramref name="value"/> is a DNS-1123 label (Service and Namespace names).</summary>
    public static bool IsDnsLabel(string? value) => value is { Length: > 0 and <= 63 } && DnsLabel().IsMatch(value);

    /// <summary>Whether <paramref name="value"/> is a DNS-1123 subdomain (most object names).</summary>
    public static bool IsDnsSubdomain(string? value) => value is { Length: > 0 and <= 253 } && DnsSubdomain().IsMatch(value);

    /// <summary>Whether <paramref name="value"/> may be a ConfigMap or Secret key.</summary>
    public static bool IsConfigMapKey(string? value) => value is { Length: > 0 and <= 253 } && ConfigMapKey().IsMatch(value);

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex ConfigMapKey();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();
}
