using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace SynthVlm.Rpc;

/// <summary>Registers the gRPC server.</summary>
public static class RpcServiceCollectionExtensions
{
    /// <summary>Adds the gRPC server services and <see cref="RpcServerOptions"/>; call before <c>MapRpcService</c>.</summary>
    public static IServiceCollection AddRpc(this IServiceCollection services, Action<RpcServerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRouting();
        var builder = services.AddOptions<RpcServerOptions>();
        if (configure is not null)
        {
            builder.Configure(configure);
        }
        services.TryAddSingleton<RpcServiceRegistry>();
        return services;
    }
}

/// <summary>The services mapped so far, so the fallback can tell an unknown service from an unknown method.</summary>
internal sealed class RpcServiceRegistry
{
    private readonly HashSet<string> _services = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    /// <summary>Records <paramref name="service"/>; false when it was already mapped.</summary>
    public bool TryAdd(string service)
    {
        lock (_lock)
        {
            return _services.Add(service);
        }
    }

    public bool Contains(string service)
    {
        lock (_lock)
        {
            return _services.Contains(service);
        }
    }
}
