using System.Reflection;

namespace SynthVlm.ServiceDefaults;

/// <summary>Who this process is: the stage it runs, its replica name, version and start time.</summary>
public sealed class ServiceIdentity
{
    /// <summary>Creates the identity of a replica of <paramref name="service"/>.</summary>
    /// <param name="service">The stage.</param>
    /// <param name="instance">The replica's consumer name; null picks host-pid.</param>
    public ServiceIdentity(ServiceInfo service, string? instance)
    {
        Service = service;
        Instance = string.IsNullOrWhiteSpace(instance) ? $"{Environment.MachineName}-{Environment.ProcessId}" : instance;
        Version = typeof(ServiceIdentity).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        StartedAt = DateTimeOffset.UtcNow;
    }

    /// <summary>The stage this process runs.</summary>
    public ServiceInfo Service { get; }

    /// <summary>This replica's name, used as its consumer name in consumer groups.</summary>
    public string Instance { get; }

    /// <summary>The informational version of the build.</summary>
    public string Version { get; }

    /// <summary>When the process started (UTC).</summary>
    public DateTimeOffset StartedAt { get; }
}
