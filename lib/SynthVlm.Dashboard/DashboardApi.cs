using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SynthVlm.Blobs;
using SynthVlm.Dashboard.Telemetry;
using Grpc.Core;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;

namespace SynthVlm.Dashboard;

/// <summary>The JSON API under /api that the page reads. Every list is bounded; bad parameters are 400 naming the parameter.</summary>
internal static class DashboardApi
{
    public static void Map(IEndpointRouteBuilder app, DashboardData data)
    {
        var api = app.MapGroup("/api");
        api.MapGet("/resources", () => Results.Json(data.Resources.Snapshot(), DashboardServer.Json));

        api.MapGet("/console", (HttpContext context) =>
        {
            var query = context.Request.Query;
            if (First(Long(query, "after", out var after), Int(query, "limit", 1, 5000, 1000, out var limit)) is { } error)
            {
                return BadParameter(error);
            }
            var resource = NullIfEmpty(query["resource"]);
            return Results.Json(new { resources = data.Console.Resources, lines = data.Console.Read(resource, after, limit) }, DashboardServer.Json);
        });
        api.MapGet("/console/stream", (HttpContext context) => ConsoleStreamAsync(context, data));

        api.MapGet("/logs", (HttpContext context) =>
        {
            var query = context.Request.Query;
            if (First(Long(query, "after", out var after), Int(query, "limit", 1, 2000, 500, out var limit), Int(query, "minSeverity", 0, 24, 0, out var severity)) is { } error)
            {
                return BadParameter(error);
            }
            var logs = data.Telemetry.QueryLogs(new LogQuery(NullIfEmpty(query["service"]), severity, NullIfEmpty(query["text"]), NullIfEmpty(query["traceId"]), after, limit));
            return Results.Json(new { services = data.Telemetry.Services, logs }, DashboardServer.Json);
        });

        api.MapGet("/traces", (HttpContext context) =>
        {
            var query = context.Request.Query;
            if (Int(query, "limit", 1, 1000, 100, out var limit) is { } error)
            {
                return BadParameter(error);
            }
            var traces = data.Telemetry.ListTraces(NullIfEmpty(query["service"]), NullIfEmpty(query["run"]), NullIfEmpty(query["search"]), limit);
            return Results.Json(new { services = data.Telemetry.Services, traces }, DashboardServer.Json);
        });
        api.MapGet("/traces/{id}", (string id) =>
            data.Telemetry.GetTrace(id.ToLowerInvariant()) is { } trace ? Results.Json(trace, DashboardServer.Json) : Results.NotFound(new { error = $"trace '{id}' is not (or no longer) in the dashboard's memory" }));

        api.MapGet("/metrics", async (HttpContext context, CancellationToken cancellationToken) =>
            Results.Json(await StageMetrics.ComputeAsync(data, cancellationToken).ConfigureAwait(false), DashboardServer.Json));

        api.MapGet("/runs", async (HttpContext context, CancellationToken cancellationToken) =>
        {
            using var box = data.TimeBox(context.RequestAborted);
            try
            {
                var runs = await data.Runs().ListAsync(new ListRunsRequest { Limit = 100 }, cancellationToken: box.Token).ConfigureAwait(false);
                return Results.Json(new { runs = runs.Runs.Select(r => RunJson.From(r, withStages: false)) }, DashboardServer.Json);
            }
            catch (Exception e) when (Unavailable(e, box, context))
            {
                return Results.Json(new { runs = Array.Empty<object>(), unavailable = Reason(e, "the Runs API") }, DashboardServer.Json);
            }
        });
        api.MapGet("/runs/{id}", async (string id, HttpContext context) =>
        {
            using var box = data.TimeBox(context.RequestAborted);
            try
            {
                var run = await data.Runs().GetAsync(new GetRunRequest { Id = id }, cancellationToken: box.Token).ConfigureAwait(false);
                var failures = RunFailures.Read(data.Blobs, run.Id);
                var dead = await RunFailures.DeadLettersAsync(data, run.Id, box.Token).ConfigureAwait(false);
                return Results.Json(new { run = RunJson.From(run, withStages: true), failures, deadLetters = dead }, DashboardServer.Json);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument)
            {
                return Results.NotFound(new { error = e.Status.Detail });
            }
            catch (Exception e) when (Unavailable(e, box, context))
            {
                return Results.Json(new { unavailable = Reason(e, "the Runs API") }, DashboardServer.Json);
            }
        });

        api.MapGet("/gallery/{run}", (string run, HttpContext context) =>
        {
            var query = context.Request.Query;
            if (First(Int(query, "page", 0, 1_000_000, 0, out var page), Int(query, "size", 1, 60, 24, out var size)) is { } error)
            {
                return BadParameter(error);
            }
            var filter = query["filter"].ToString() is { Length: > 0 } f ? f : "all";
            if (filter is not ("all" or "selected" or "rejected"))
            {
                return BadParameter($"filter: '{filter}' must be all, selected or rejected");
            }
            if (data.Blobs is null)
            {
                return Results.Json(new { items = Array.Empty<object>(), unavailable = "the dashboard was not given the cluster's data folder" }, DashboardServer.Json);
            }
            try
            {
                return Results.Json(data.Gallery.Page(data.Blobs, run, filter, page, size), DashboardServer.Json);
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = "run: " + e.Message });
            }
        });

        api.MapGet("/images", async (HttpContext context, CancellationToken cancellationToken) =>
        {
            var key = context.Request.Query["key"].ToString();
            if (data.Blobs is null)
            {
                return Results.NotFound();
            }
            string path;
            try
            {
                path = data.Blobs.PathOf(key);
            }
            catch (ArgumentException e)
            {
                return Results.BadRequest(new { error = "key: " + e.Message });
            }
            if (!File.Exists(path))
            {
                return Results.NotFound(new { error = $"no image at key '{key}'" });
            }
            var bytes = await File.ReadAllBytesAsync(path, context.RequestAborted).ConfigureAwait(false);
            if (ImageType(bytes) is not { } type)
            {
                return Results.BadRequest(new { error = $"key '{key}' is not a PNG, JPEG or WebP image" });
            }
            context.Response.Headers.CacheControl = "private, max-age=31536000, immutable";
            return Results.Bytes(bytes, type);
        });
    }

    private static async Task ConsoleStreamAsync(HttpContext context, DashboardData data)
    {
        var query = context.Request.Query;
        if (Long(query, "after", out var after) is { } error)
        {
            await BadParameter(error).ExecuteAsync(context).ConfigureAwait(false);
            return;
        }
        var resource = NullIfEmpty(query["resource"]);
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        var stop = context.RequestAborted;
        try
        {
            while (!stop.IsCancellationRequested)
            {
                var version = data.Console.Version;
                foreach (var line in data.Console.Read(resource, after, 1000))
                {
                    await context.Response.WriteAsync("data: " + JsonSerializer.Serialize(line, DashboardServer.Json) + "\n\n", stop).ConfigureAwait(false);
                    after = line.Sequence;
                }
                await context.Response.Body.FlushAsync(stop).ConfigureAwait(false);
                using var heartbeat = CancellationTokenSource.CreateLinkedTokenSource(stop);
                heartbeat.CancelAfter(TimeSpan.FromSeconds(15));
                try
                {
                    await data.Console.WaitForChangeAsync(version, heartbeat.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!stop.IsCancellationRequested)
                {
                    await context.Response.WriteAsync(": keep-alive\n\n", stop).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The page went away.
        }
    }

    internal static string? ImageType(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) ? "image/png"
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "image/jpeg"
        : bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes[8..12].SequenceEqual("WEBP"u8) ? "image/webp"
        : null;

    private static bool Unavailable(Exception e, CancellationTokenSource box, HttpContext context) =>
        !context.RequestAborted.IsCancellationRequested
        && (e is SourceUnavailableException or RpcException or HttpRequestException or IOException || RedisConnections.IsRedisFailure(e)
            || (e is OperationCanceledException && box.IsCancellationRequested));

    internal static string Reason(Exception e, string what) => e switch
    {
        OperationCanceledException => $"{what} did not answer within the time box",
        RpcException rpc => $"{what}: {rpc.StatusCode}: {rpc.Status.Detail}",
        _ => e.Message,
    };

    private static string? NullIfEmpty(Microsoft.Extensions.Primitives.StringValues value) =>
        value.ToString() is { Length: > 0 } text ? text : null;

    /// <summary>Reads an optional integer parameter; the error names it when it is not one in range.</summary>
    private static string? Int(IQueryCollection query, string name, int min, int max, int fallback, out int value)
    {
        value = fallback;
        var text = query[name].ToString();
        return text.Length == 0 || (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
            ? null
            : $"{name}: '{text}' must be an integer from {min} to {max}";
    }

    private static string? Long(IQueryCollection query, string name, out long value)
    {
        value = 0;
        var text = query[name].ToString();
        return text.Length == 0 || (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value >= 0)
            ? null
            : $"{name}: '{text}' must be a non-negative integer";
    }

    private static string? First(params string?[] errors) => errors.FirstOrDefault(e => e is not null);

    private static IResult BadParameter(string error) => Results.BadRequest(new { error });
}
