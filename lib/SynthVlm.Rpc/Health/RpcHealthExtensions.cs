using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace SynthVlm.Rpc.Health;

/// <summary>Registers and maps the grpc.health.v1 service.</summary>
public static class RpcHealthExtensions
{
    /// <summary>Adds <see cref="HealthStatusRegistry"/> and <see cref="HealthService"/> as singletons (and the gRPC server if missing).</summary>
    public static IServiceCollection AddRpcHealth(this IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddRpc();
        services.TryAddSingleton<HealthStatusRegistry>();
        services.TryAddSingleton<HealthService>();
        return services;
    }

    /// <summary>Maps <c>/grpc.health.v1.Health/{Check,Watch,List}</c>.</summary>
    public static IEndpointConventionBuilder MapRpcHealth(this IEndpointRouteBuilder endpoints) =>
        endpoints.MapRpcService<HealthService>();
}
