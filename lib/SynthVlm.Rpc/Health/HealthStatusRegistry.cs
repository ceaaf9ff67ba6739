using System.Threading.Channels;
using Grpc.Health.V1;
using ServingStatus = Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus;

namespace SynthVlm.Rpc.Health;

/// <summary>
/// The serving status of each service name this server reports through grpc.health.v1.
/// The name "" is the whole server and starts as SERVING; other names are unknown until set.
/// </summary>
public sealed class HealthStatusRegistry
{
    private readonly Dictionary<string, ServingStatus> _statuses = new(StringComparer.Ordinal) { [string.Empty] = ServingStatus.Serving };
    private readonly List<Watcher> _watchers = [];
    private readonly Lock _lock = new();

    /// <summary>Raised after a service's status changes (not when it is set to the same value).</summary>
    public event EventHandler<HealthStatusChangedEventArgs>? StatusChanged;

    /// <summary>Sets the status of <paramref name="service"/> ("" for the whole server) and notifies watchers if it changed.</summary>
    public void SetStatus(string service, ServingStatus status)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (_statuses.TryGetValue(service, out var current) && current == status)
            {
                return;
            }
            _statuses[service] = status;
            NotifyLocked(service, status);
        }
        StatusChanged?.Invoke(this, new HealthStatusChangedEventArgs(service, status));
    }

    /// <summary>Removes <paramref name="service"/>; Check then answers NOT_FOUND and watchers see SERVICE_UNKNOWN.</summary>
    public void Clear(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            if (!_statuses.Remove(service))
            {
                return;
            }
            NotifyLocked(service, ServingStatus.ServiceUnknown);
        }
        StatusChanged?.Invoke(this, new HealthStatusChangedEventArgs(service, ServingStatus.ServiceUnknown));
    }

    /// <summary>The status of <paramref name="service"/>, or null when it was never registered.</summary>
    public ServingStatus? GetStatus(string service)
    {
        ArgumentNullException.ThrowIfNull(service);
        lock (_lock)
        {
            return _statuses.TryGetValue(service, out var s) ? s : null;
        }
    }

    /// <summary>A snapshot of every registered service and its status.</summary>
    public IReadOnlyDictionary<string, ServingStatus> GetAll()
    {
        lock (_lock)
        {
            return new Dictionary<string, ServingStatus>(_statuses, StringComparer.Ordinal);
        }
    }

    /// <summary>
    /// Starts watching <paramref name="service"/>: the reader yields the current status
    /// (SERVICE_UNKNOWN when unregistered) and then each change. Dispose the returned watch to stop.
    /// </summary>
    internal Watcher Watch(string service)
    {
        var watcher = new Watcher(this, service);
        lock (_lock)
        {
            watcher.Channel.Writer.TryWrite(_statuses.TryGetValue(service, out var s) ? s : ServingStatus.ServiceUnknown);
            _watchers.Add(watcher);
        }
        return watcher;
    }

    private void NotifyLocked(string service, ServingStatus status)
    {
        foreach (var watcher in _watchers)
        {
            if (watcher.Service == service)
            {
                watcher.Channel.Writer.TryWrite(status);
            }
        }
    }

    private void Remove(Watcher watcher)
    {
        lock (_lock)
        {
            _watchers.Remove(watcher);
        }
    }

    internal sealed class Watcher(HealthStatusRegistry registry, string service) : IDisposable
    {
        // Only the latest status matters to a slow watcher, so older ones are dropped rather than queued.
        public Channel<ServingStatus> Channel { get; } = System.Threading.Channels.Channel.CreateBounded<ServingStatus>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        public string Service { get; } = service;

        public void Dispose() => registry.Remove(this);
    }
}

/// <summary>A service's health status changed.</summary>
/// <param name="service">The service name ("" for the whole server).</param>
/// <param name="status">The new status (SERVICE_UNKNOWN when cleared).</param>
public sealed class HealthStatusChangedEventArgs(string service, HealthCheckResponse.Types.ServingStatus status) : EventArgs
{
    /// <summary>The service name ("" for the whole server).</summary>
    public string Service { get; } = service;

    /// <summary>The new status.</summary>
    public HealthCheckResponse.Types.ServingStatus Status { get; } = status;
}
