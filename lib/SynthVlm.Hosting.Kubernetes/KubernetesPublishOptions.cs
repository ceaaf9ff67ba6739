using System.Globalization;
using System.Text.RegularExpressions;

namespace SynthVlm.Hosting.Kubernetes;

/// <summary>What KEDA measures on a stage's input stream to scale it.</summary>
public enum StreamScaleMetric
{
    /// <summary>Entries added to the stream that the consumer group has not read yet (<c>lagCount</c>; Redis 7+).</summary>
    Lag,

    /// <summary>Entries delivered to the group but not acknowledged yet (<c>pendingEntriesCount</c>).</summary>
    Pending,
}

/// <summary>How the cluster model is turned into Kubernetes manifests.</summary>
public sealed partial class KubernetesPublishOptions
{
    /// <summary>The namespace every object goes into (created by the manifests).</summary>
    public string Namespace { get; set; } = "synthvlm";

    /// <summary>Registry (and path) prefixed to image names, e.g. <c>ghcr.io/acme</c>; null for bare names.</summary>
    public string? ImageRegistry { get; set; }

    /// <summary>The tag of every service image.</summary>
    public string ImageTag { get; set; } = "latest";

    /// <summary>
    /// <c>nvidia.com/gpu</c> limits per service name; services not listed (or 0) get no GPU.
    /// By default the GPU stages (recaption, diffusion, scoring, training) get one each.
    /// </summary>
    public IDictionary<string, int> Gpus { get; } = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase)
    {
        [KnownServices.Recaption.Name] = 1,
        [KnownServices.Diffusion.Name] = 1,
        [KnownServices.Scoring.Name] = 1,
        [KnownServices.Training.Name] = 1,
    };

    /// <summary>The storage class of the shared data volume and Redis's volume; null for the cluster's default.</summary>
    public string? StorageClass { get; set; }

    /// <summary>Size of the shared ReadWriteMany data volume (a Kubernetes quantity).</summary>
    public string DataSize { get; set; } = "100Gi";

    /// <summary>Size of the managed Redis's AOF volume (a Kubernetes quantity).</summary>
    public string RedisDataSize { get; set; } = "8Gi";

    /// <summary>The managed Redis's image.</summary>
    public string RedisImage { get; set; } = "redis:7.4";

    /// <summary>The OTLP endpoint services export to, or null for no export.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary>The managed Redis's password; null generates a random one.</summary>
    public string? RedisPassword { get; set; }

    /// <summary>What the KEDA trigger measures.</summary>
    public StreamScaleMetric ScaleMetric { get; set; } = StreamScaleMetric.Lag;

    /// <summary>Target entries per replica for the KEDA trigger (lagCount or pendingEntriesCount).</summary>
    public int ScaleThreshold { get; set; } = 10;

    /// <summary>Upper bound KEDA may scale a stage to (at least the model's replica count is kept).</summary>
    public int MaxReplicas { get; set; } = 10;

    /// <summary>Checks every option; throws naming the first that is wrong.</summary>
    /// <exception cref="ArgumentException">An option has an invalid value; the message names it and says what was expected.</exception>
    public void Validate()
    {
        if (!KubernetesNames.IsDnsLabel(Namespace))
        {
            throw Bad(nameof(Namespace), Namespace, "a DNS-1123 label (lowercase letters, digits and '-', at most 63, starting and ending alphanumeric)");
        }
        if (ImageRegistry is not null && !RegistryPattern().IsMatch(ImageRegistry))
        {
            throw Bad(nameof(ImageRegistry), ImageRegistry, "host[:port][/path] in lowercase, e.g. ghcr.io/acme");
        }
        if (!TagPattern().IsMatch(ImageTag))
        {
            throw Bad(nameof(ImageTag), ImageTag, "an image tag: letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-'");
        }
        foreach (var (name, count) in Gpus)
        {
            if (KnownServices.Find(name) is null)
            {
                throw Bad(nameof(Gpus), name, $"a service name ({string.Join(", ", KnownServices.All.Select(s => s.Name))})");
            }
            if (count is < 0 or > 16)
            {
                throw Bad(nameof(Gpus), count.ToString(CultureInfo.InvariantCulture), "0 to 16 GPUs per replica");
            }
        }
        if (StorageClass is not null && !KubernetesNames.IsDnsSubdomain(StorageClass))
        {
            throw Bad(nameof(StorageClass), StorageClass, "a DNS-1123 subdomain");
        }
        if (!QuantityPattern().IsMatch(DataSize))
        {
            throw Bad(nameof(DataSize), DataSize, "a storage quantity such as 100Gi or 2Ti");
        }
        if (!QuantityPattern().IsMatch(RedisDataSize))
        {
            throw Bad(nameof(RedisDataSize), RedisDataSize, "a storage quantity such as 8Gi");
        }
        if (OtlpEndpoint is { } otlp && (!otlp.IsAbsoluteUri || (otlp.Scheme != Uri.UriSchemeHttp && otlp.Scheme != Uri.UriSchemeHttps)))
        {
            throw Bad(nameof(OtlpEndpoint), otlp.ToString(), "an absolute http:// or https:// URL");
        }
        if (RedisPassword is { } password && (password.Length is 0 or > 512 || password.Any(c => char.IsControl(c) || c == ',' || char.IsWhiteSpace(c))))
        {
            throw Bad(nameof(RedisPassword), "(hidden)", "1 to 512 characters without spaces, commas or control characters");
        }
        if (ScaleThreshold is < 1 or > 1_000_000)
        {
            throw Bad(nameof(ScaleThreshold), ScaleThreshold.ToString(CultureInfo.InvariantCulture), "1 to 1000000 entries");
        }
        if (MaxReplicas is < 1 or > 1000)
        {
            throw Bad(nameof(MaxReplicas), MaxReplicas.ToString(CultureInfo.InvariantCulture), "1 to 1000 replicas");
        }
    }

    /// <summary>The GPUs a replica of <paramref name="service"/> is limited to (0 for none).</summary>
    public int GpusOf(string service) => Gpus.TryGetValue(service, out var n) ? n : 0;

    private static ArgumentException Bad(string option, string value, string expected) =>
        new($"Kubernetes publish option {option}: '{value}' is not valid; expected {expected}.", option);

    [GeneratedRegex(@"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?(/[a-z0-9]([a-z0-9._-]*[a-z0-9])?)*$")]
    private static partial Regex RegistryPattern();

    [GeneratedRegex(@"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")]
    private static partial Regex TagPattern();

    [GeneratedRegex(@"^[1-9][0-9]{0,8}(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$")]
    private static partial Regex QuantityPattern();
}
