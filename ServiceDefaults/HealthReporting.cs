using System.Text.Json;
using Grpc.Health.V1;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using SynthVlm.Rpc.Health;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// One health model, three views: /alive (the process answers), /health (every check, JSON),
/// and grpc.health.v1 (overall "" and the stage's name), kept in step by <see cref="HealthStatusPublisher"/>.
/// </summary>
public static class HealthReporting
{
    /// <summary>The tag of checks that only say the process is alive.</summary>
    public const string LiveTag = "live";

    /// <summary>Path of the liveness endpoint (Aspire convention).</summary>
    public const string AlivePath = "/alive";

    /// <summary>Path of the health endpoint (Aspire convention).</summary>
    public const string HealthPath = "/health";

    /// <summary>Maps /health and /alive.</summary>
    public static IEndpointRouteBuilder MapDefaultEndpoints(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapHealthChecks(HealthPath, new HealthCheckOptions { ResponseWriter = WriteJsonAsync }).Add(NotTraced);
        endpoints.MapHealthChecks(AlivePath, new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(LiveTag),
            ResponseWriter = WriteJsonAsync,
        }).Add(NotTraced);
        return endpoints;
    }

    // Supervisors and probes call these every few seconds: recorded, they would bury the traces people look for.
    private static void NotTraced(EndpointBuilder builder)
    {
        var inner = builder.RequestDelegate!;
        builder.RequestDelegate = context =>
        {
            if (System.Diagnostics.Activity.Current is { } activity)
            {
                activity.IsAllDataRequested = false;
                activity.ActivityTraceFlags &= ~System.Diagnostics.ActivityTraceFlags.Recorded;
            }
            return inner(context);
        };
    }

    private static Task WriteJsonAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}

/// <summary>Publishes the health checks' result to the gRPC health service every few seconds.</summary>
public sealed class HealthStatusPublisher(HealthCheckService checks, HealthStatusRegistry registry, ServiceIdentity identity) : BackgroundService
{
    /// <summary>How often health is re-evaluated for gRPC clients.</summary>
    public static TimeSpan Interval { get; } = TimeSpan.FromSeconds(2);

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval);
        do
        {
            var report = await checks.CheckHealthAsync(stoppingToken).ConfigureAwait(false);
            var status = report.Status == HealthStatus.Unhealthy
                ? HealthCheckResponse.Types.ServingStatus.NotServing
                : HealthCheckResponse.Types.ServingStatus.Serving;
            registry.SetStatus(string.Empty, status);
            registry.SetStatus(identity.Service.Name, status);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        // Tell watchers we are going away before the endpoints close.
        registry.SetStatus(string.Empty, HealthCheckResponse.Types.ServingStatus.NotServing);
        registry.SetStatus(identity.Service.Name, HealthCheckResponse.Types.ServingStatus.NotServing);
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
    }
}
