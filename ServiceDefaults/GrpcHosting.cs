using Grpc.AspNetCore.HealthChecks;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// The gRPC server every SynthVlm service runs (grpc-dotnet on the Http2 endpoint): message
/// size limits, call spans named and tagged by <see cref="RpcSpanInterceptor"/>, grpc.health.v1 from the ASP.NET Core health checks, server reflection, and the
/// platform Worker service. Unknown services and methods answer UNIMPLEMENTED.
/// </summary>
public static class GrpcHosting
{
    /// <summary>The message size limit both ways: 4 MiB, as in other gRPC implementations (larger messages get RESOURCE_EXHAUSTED).</summary>
    public const int MaxMessageSize = 4 * 1024 * 1024;

    /// <summary>How often the health checks are re-run for grpc.health.v1 (Check and Watch answer from that result).</summary>
    public static TimeSpan HealthInterval { get; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Adds the gRPC server, reflection and grpc.health.v1. Health answers for the overall
    /// server (<c>""</c>) and for <paramref name="serviceName"/>, both from every registered
    /// check: SERVING unless a check is Unhealthy.
    /// </summary>
    public static IServiceCollection AddSynthVlmGrpc(this IServiceCollection services, string serviceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        services.AddGrpc(o =>
        {
            o.MaxReceiveMessageSize = MaxMessageSize;
            o.MaxSendMessageSize = MaxMessageSize;
            o.Interceptors.Add<RpcSpanInterceptor>();
        });
        services.AddGrpcReflection();
        services.AddGrpcHealthChecks(o =>
        {
            // Check answers from the last published result (every HealthInterval), as Watch does:
            // running the checks per call would make a health probe wait on a Redis that is away
            // (a ping that times out) and miss its deadline.
            o.UseHealthChecksCache = true;
            o.Services.Clear();
            o.Services.Map(string.Empty, _ => true);
            o.Services.Map(serviceName, _ => true);
        });
        // Watch callers see a change within one interval (the publisher's default is 30 s).
        services.Configure<HealthCheckPublisherOptions>(o =>
        {
            o.Delay = TimeSpan.Zero;
            o.Period = HealthInterval;
        });
        return services;
    }

    /// <summary>Maps grpc.health.v1, server reflection and <c>synthvlm.v1.Worker</c>.</summary>
    public static IEndpointRouteBuilder MapSynthVlmGrpc(this IEndpointRouteBuilder endpoints)
    {
        // Supervisors probe health every few seconds: not traced, like /health and /alive.
        endpoints.MapGrpcHealthChecksService().Add(HealthReporting.NotTraced);
        endpoints.MapGrpcReflectionService();
        endpoints.MapGrpcService<WorkerRpcService>();
        return endpoints;
    }
}
