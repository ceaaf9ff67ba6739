using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// One health model, three views: /alive (the process answers), /health (every check, JSON),
/// and grpc.health.v1 (overall "" and the stage's name, from the same checks through
/// Grpc.AspNetCore.HealthChecks; see <see cref="GrpcHosting"/>).
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
    internal static void NotTraced(EndpointBuilder builder)
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
