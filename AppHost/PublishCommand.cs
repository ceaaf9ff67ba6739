using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SynthVlm.Hosting.Kubernetes;

namespace SynthVlm.AppHost;

/// <summary>The publish verb's own options: the target, the output folder and how the manifests are shaped.</summary>
internal sealed class PublishOptionsBuilder
{
    /// <summary>The only target so far.</summary>
    public const string KubernetesTarget = "kubernetes";

    private string? _target;
    private string? _out;
    private readonly KubernetesPublishOptions _options = new();

    /// <summary>Parses the publish option at <paramref name="i"/>; false when it is not one.</summary>
    /// <exception cref="FormatException">The option's value is wrong; the message names the option.</exception>
    public bool TryParse(string[] args, ref int i)
    {
        switch (args[i])
        {
            case "--target":
                _target = AppHostSettings.Value(args, ref i);
                if (_target != KubernetesTarget)
                {
                    throw new FormatException($"--target: '{_target}' is not a publish target; expected {KubernetesTarget}.");
                }
                return true;
            case "--out":
                _out = Path.GetFullPath(AppHostSettings.Value(args, ref i));
                return true;
            case "--image-registry":
                _options.ImageRegistry = Checked("--image-registry", AppHostSettings.Value(args, ref i), (o, v) => o.ImageRegistry = v);
                return true;
            case "--image-tag":
                _options.ImageTag = Checked("--image-tag", AppHostSettings.Value(args, ref i), (o, v) => o.ImageTag = v);
                return true;
            case "--namespace":
                _options.Namespace = Checked("--namespace", AppHostSettings.Value(args, ref i), (o, v) => o.Namespace = v);
                return true;
            case "--storage-class":
                _options.StorageClass = Checked("--storage-class", AppHostSettings.Value(args, ref i), (o, v) => o.StorageClass = v);
                return true;
            case "--data-size":
                _options.DataSize = Checked("--data-size", AppHostSettings.Value(args, ref i), (o, v) => o.DataSize = v);
                return true;
            case "--gpu":
                ParseGpus(AppHostSettings.Value(args, ref i));
                return true;
            case "--keda-lag":
                _options.ScaleMetric = StreamScaleMetric.Lag;
                _options.ScaleThreshold = Count("--keda-lag", AppHostSettings.Value(args, ref i), 1_000_000);
                return true;
            case "--keda-pending":
                _options.ScaleMetric = StreamScaleMetric.Pending;
                _options.ScaleThreshold = Count("--keda-pending", AppHostSettings.Value(args, ref i), 1_000_000);
                return true;
            case "--keda-max":
                _options.MaxReplicas = Count("--keda-max", AppHostSettings.Value(args, ref i), 1000);
                return true;
            default:
                return false;
        }
    }

    /// <summary>The parsed verb.</summary>
    /// <exception cref="FormatException">--target or --out is missing.</exception>
    public PublishSettings Build(Uri? otlpEndpoint)
    {
        if (_target is null)
        {
            throw new FormatException($"publish needs --target ({KubernetesTarget}).");
        }
        if (_out is null)
        {
            throw new FormatException("publish needs --out DIR, a new or empty folder for the manifests.");
        }
        _options.OtlpEndpoint = otlpEndpoint;
        return new PublishSettings(_target, _out, _options);
    }

    private void ParseGpus(string value)
    {
        if (value.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            _options.Gpus.Clear();
            return;
        }
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? part : part[..eq];
            var service = KnownServices.Find(name)
                ?? throw new FormatException($"--gpu: '{name}' is not a service; expected one of {string.Join(", ", KnownServices.All.Select(s => s.Name))}.");
            if (eq < 0 || !int.TryParse(part[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > 16)
            {
                throw new FormatException($"--gpu: '{part}' must be NAME=N with N from 0 to 16 GPUs per replica, or none.");
            }
            _options.Gpus[service.Name] = n;
        }
    }

    private static int Count(string option, string value, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= 1 && n <= max
            ? n
            : throw new FormatException($"{option}: '{value}' must be a whole number from 1 to {max.ToString(CultureInfo.InvariantCulture)}.");

    // The publisher validates everything again; checking each value as it is read lets the error name the flag.
    private static string Checked(string option, string value, Action<KubernetesPublishOptions, string> set)
    {
        var probe = new KubernetesPublishOptions();
        set(probe, value);
        try
        {
            probe.Validate();
        }
        catch (ArgumentException e)
        {
            throw new FormatException($"{option}: {e.Message.Split(" (Parameter", 2)[0]}", e);
        }
        return value;
    }
}

/// <summary>The publish verb as parsed.</summary>
/// <param name="Target">The manifest format (kubernetes).</param>
/// <param name="OutDirectory">The new or empty folder the manifests go to (absolute).</param>
/// <param name="Options">How the manifests are shaped.</param>
internal sealed record PublishSettings(string Target, string OutDirectory, KubernetesPublishOptions Options);

/// <summary>
/// The publish verb: the same Aspire app model the local AppHost runs (<see cref="SynthVlmAppModel.Add"/>),
/// built in publish mode and written as Kubernetes manifests, one file per project plus the shared
/// objects and Redis. Nothing starts.
/// </summary>
internal static class PublishCommand
{
    /// <summary>Writes the manifests; 0 when written, 2 when refused (the reason on one line).</summary>
    public static async Task<int> RunAsync(AppHostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var publish = settings.Publish ?? throw new ArgumentException("The publish verb needs its settings.", nameof(settings));
        IReadOnlyList<string> written;
        try
        {
            var builder = DistributedApplication.CreateBuilder(new DistributedApplicationOptions
            {
                Args = ["--operation", "publish", "--publisher", KubernetesPublisher.PublisherName],
                DisableDashboard = true,
            });
            SynthVlmAppModel.Add(builder, settings);
            written = await KubernetesPublisher.WriteAsync(publish.OutDirectory, new DistributedApplicationModel(builder.Resources), publish.Options).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException or AppHostStartException)
        {
            Console.Error.WriteLine($"AppHost publish: {e.Message.Split(" (Parameter", 2)[0]}");
            return 2;
        }
        Console.WriteLine($"Wrote {written.Count} manifest files to {publish.OutDirectory}:");
        foreach (var path in written)
        {
            Console.WriteLine($"  {Path.GetFileName(path)}");
        }
        Console.WriteLine($"{KubernetesPublisher.SharedFile} holds the Redis connection string (and password) in a Secret: keep the folder out of version control.");
        Console.WriteLine($"Apply with: kubectl apply -f {publish.OutDirectory}   (KEDA 2.11+ for the lagCount ScaledObjects; a ReadWriteMany storage class for {KubernetesNames.DataClaim})");
        return 0;
    }
}
