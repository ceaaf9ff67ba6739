using System.Net;
using SynthVlm.Dashboard.Telemetry;

namespace SynthVlm.Dashboard;

/// <summary>Where the dashboard listens and what it reads.</summary>
public sealed class DashboardOptions
{
    /// <summary>The address both listeners bind (loopback unless the user asks otherwise).</summary>
    public IPAddress Address { get; set; } = IPAddress.Loopback;

    /// <summary>The UI port; 0 picks a free one.</summary>
    public int Port { get; set; }

    /// <summary>The OTLP/HTTP receiver's port (a separate listener); 0 picks a free one.</summary>
    public int OtlpPort { get; set; }

    /// <summary>The login token; null makes a random one.</summary>
    public string? Token { get; set; }

    /// <summary>The key OTLP senders put in the x-otlp-api-key header; null makes a random one.</summary>
    public string? OtlpApiKey { get; set; }

    /// <summary>The cluster's Redis (ConnectionStrings__redis format), for stream lag and dead letters.</summary>
    public string? RedisConnectionString { get; set; }

    /// <summary>A CurationService gRPC address: the Runs API.</summary>
    public Uri? RunsEndpoint { get; set; }

    /// <summary>The cluster's data folder (SYNTHVLM_DATA_DIR), whose blob store holds images and score records.</summary>
    public string? DataDirectory { get; set; }

    /// <summary>Bounds of the in-memory telemetry.</summary>
    public TelemetryStoreOptions Telemetry { get; set; } = new();

    /// <summary>Console lines kept per resource.</summary>
    public int ConsoleLinesPerResource { get; set; } = 5000;

    /// <summary>How long a page waits for Redis or a service before it shows "unavailable".</summary>
    public TimeSpan SourceTimeout { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>One replica as the resources page shows it.</summary>
/// <param name="Name">The replica's name, e.g. "diffusion-1" or "redis".</param>
/// <param name="Resource">The resource it is a replica of, e.g. "diffusion".</param>
/// <param name="Kind">"redis" or "service".</param>
/// <param name="Replica">Its number within the resource.</param>
/// <param name="State">Starting, Running, Healthy, Unhealthy, Crashed, Stopping, Stopped, Failed…</param>
/// <param name="Pid">The process id while it runs.</param>
/// <param name="Restarts">How often it was restarted.</param>
/// <param name="LastExitCode">How it last exited.</param>
/// <param name="Endpoints">Its endpoints by name (grpc, http, tcp).</param>
/// <param name="LastLines">Its last output lines (shown for failed and crashed replicas).</param>
public sealed record ResourceView(string Name, string Resource, string Kind, int Replica, string State, int? Pid, int Restarts, int? LastExitCode, IReadOnlyDictionary<string, Uri> Endpoints, IReadOnlyList<string> LastLines);

/// <summary>Where the dashboard reads the cluster's resources from.</summary>
public interface IResourceSource
{
    /// <summary>Every replica now.</summary>
    IReadOnlyList<ResourceView> Snapshot();
}

/// <summary>The dashboard could not start (a port taken, an address that cannot be bound).</summary>
public sealed class DashboardStartException(string message, Exception? inner = null) : Exception(message, inner);
