using System.Globalization;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Streams;

namespace SynthVlm.Dashboard;

/// <summary>The JSON API under /api that the page reads. Every list is bounded; bad parameters are 400 naming the parameter.</summary>
internal static class WebViewsApi
{
    private const string NoDataFolder = "the front end was not given the cluster's data folder (SYNTHVLM_DATA_DIR)";

    public static void Map(IEndpointRouteBuilder app, WebViewsData data)
    {
        var api = app.MapGroup("/api");

        api.MapGet("/info", () => Results.Json(new { aspireDashboard = data.Options.AspireDashboardUrl?.ToString() }, WebViews.Json));

        api.MapGet("/runs", async (HttpContext context) =>
        {
            using var box = data.TimeBox(context.RequestAborted);
            try
            {
                var runs = await data.Runs().ListAsync(new ListRunsRequest { Limit = 100 }, cancellationToken: box.Token).ConfigureAwait(false);
                foreach (var run in runs.Runs)
                {
                    data.Rates.Sample(run);
                }
                return Results.Json(new { runs = runs.Runs.Select(r => RunJson.From(r, withStages: false)) }, WebViews.Json);
            }
            catch (Exception e) when (Unavailable(e, box, context))
            {
                return Results.Json(new { runs = Array.Empty<object>(), unavailable = Reason(e, "the Runs API") }, WebViews.Json);
            }
        });

        api.MapGet("/runs/{id}", async (string id, HttpContext context) =>
        {
            if (!RunConfigs.IsValidId(id))
            {
                return Results.BadRequest(new { error = $"run: '{id}' is not a run id (letters, digits, '.', '_', '-'; at most 64; not starting with '.')" });
            }
            using var box = data.TimeBox(context.RequestAborted);
            try
            {
                var run = await data.Runs().GetAsync(new GetRunRequest { Id = id }, cancellationToken: box.Token).ConfigureAwait(false);
                data.Rates.Sample(run);
                var failures = RunFailures.Read(data.Blobs, run.Id);
                var dead = await RunFailures.DeadLettersAsync(data, run.Id, box.Token).ConfigureAwait(false);
                return Results.Json(new { run = RunJson.From(run, withStages: true), failures, deadLetters = dead }, WebViews.Json);
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound)
            {
                return Results.NotFound(new { error = $"run '{id}' is not known to the Runs API ({e.Status.Detail})" });
            }
            catch (Exception e) when (Unavailable(e, box, context))
            {
                return Results.Json(new { unavailable = Reason(e, "the Runs API") }, WebViews.Json);
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
            if (!RunConfigs.IsValidId(run))
            {
                return BadParameter($"run: '{run}' is not a run id");
            }
            if (data.Blobs is null)
            {
                return Results.Json(new { items = Array.Empty<object>(), unavailable = NoDataFolder }, WebViews.Json);
            }
            return Results.Json(data.Gallery.Page(data.Blobs, run, filter, page, size), WebViews.Json);
        });

        api.MapGet("/images", async (HttpContext context) =>
        {
            var key = context.Request.Query["key"].ToString();
            if (data.Blobs is null)
            {
                return Results.NotFound(new { error = NoDataFolder });
            }
            // Only a run's images: the blob store also holds configs and records the page must not serve.
            if (!key.StartsWith("runs/", StringComparison.Ordinal) || !key.Contains("/images/", StringComparison.Ordinal))
            {
                return BadParameter($"key: '{key}' is not a run image key (runs/{{run}}/images/...)");
            }
            string path;
            try
            {
                path = data.Blobs.PathOf(key);
            }
            catch (ArgumentException e)
            {
                return BadParameter("key: " + e.Message);
            }
            if (!File.Exists(path))
            {
                return Results.NotFound(new { error = $"no image at key '{key}'" });
            }
            var bytes = await File.ReadAllBytesAsync(path, context.RequestAborted).ConfigureAwait(false);
            if (ImageType(bytes) is not { } type)
            {
                return BadParameter($"key: '{key}' is not a PNG, JPEG or WebP image");
            }
            context.Response.Headers.CacheControl = "private, max-age=31536000, immutable";
            return Results.Bytes(bytes, type);
        });
    }

    internal static string? ImageType(ReadOnlySpan<byte> bytes) =>
        bytes.StartsWith((ReadOnlySpan<byte>)[0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) ? "image/png"
        : bytes.StartsWith((ReadOnlySpan<byte>)[0xFF, 0xD8, 0xFF]) ? "image/jpeg"
        : bytes.Length >= 12 && bytes[..4].SequenceEqual("RIFF"u8) && bytes[8..12].SequenceEqual("WEBP"u8) ? "image/webp"
        : null;

    private static bool Unavailable(Exception e, CancellationTokenSource box, HttpContext context) =>
        !context.RequestAborted.IsCancellationRequested
        && (e is SourceUnavailableException or RpcException or HttpRequestException or IOException or InvalidOperationException || RedisConnections.IsRedisFailure(e)
            || (e is OperationCanceledException && box.IsCancellationRequested));

    internal static string Reason(Exception e, string what) => e switch
    {
        OperationCanceledException => $"{what} did not answer within the time box",
        RpcException rpc => $"{what}: {rpc.StatusCode}: {rpc.Status.Detail}",
        InvalidOperationException => $"{what}: {e.Message}",
        _ => e.Message,
    };

    /// <summary>Reads an optional integer parameter; the error names it when it is not one in range.</summary>
    private static string? Int(IQueryCollection query, string name, int min, int max, int fallback, out int value)
    {
        value = fallback;
        var text = query[name].ToString();
        return text.Length == 0 || (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) && value >= min && value <= max)
            ? null
            : $"{name}: '{text}' must be an integer from {min} to {max}";
    }

    private static string? First(params string?[] errors) => errors.FirstOrDefault(e => e is not null);

    private static IResult BadParameter(string error) => Results.BadRequest(new { error });
}
