using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using SynthVlm.Dashboard.Telemetry.Otlp;

namespace SynthVlm.Dashboard.Telemetry;

/// <summary>Settings of the OTLP/HTTP receiver.</summary>
public sealed class OtlpReceiverOptions
{
    /// <summary>When set, requests must carry it in <see cref="OtlpHttpEndpoints.ApiKeyHeader"/>.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Largest request body accepted (after gzip decompression too).</summary>
    public long MaxRequestBytes { get; set; } = 16 << 20;
}

/// <summary>
/// OTLP/HTTP with protobuf bodies, as the OpenTelemetry SDKs export it: POST /v1/traces,
/// /v1/logs and /v1/metrics.
/// </summary>
public static class OtlpHttpEndpoints
{
    /// <summary>The request header that carries the receiver's API key.</summary>
    public const string ApiKeyHeader = "x-otlp-api-key";

    private const string Protobuf = "application/x-protobuf";

    /// <summary>Maps the three export endpoints onto <paramref name="endpoints"/>, storing what they receive in <paramref name="store"/>.</summary>
    public static IEndpointRouteBuilder MapOtlpHttp(this IEndpointRouteBuilder endpoints, TelemetryStore store, OtlpReceiverOptions options)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        var key = options.ApiKey is { Length: > 0 } k ? Encoding.UTF8.GetBytes(k) : null;

        endpoints.MapPost("/v1/traces", context => ReceiveAsync(context, key, options.MaxRequestBytes, ExportTraceServiceRequest.Parser, request =>
        {
            store.AddSpans(OtlpDecoder.Spans(request, out _));
            return new ExportTraceServiceResponse();
        }));
        endpoints.MapPost("/v1/logs", context => ReceiveAsync(context, key, options.MaxRequestBytes, ExportLogsServiceRequest.Parser, request =>
        {
            store.AddLogs(OtlpDecoder.Logs(request));
            return new ExportLogsServiceResponse();
        }));
        endpoints.MapPost("/v1/metrics", context => ReceiveAsync(context, key, options.MaxRequestBytes, ExportMetricsServiceRequest.Parser, request =>
        {
            OtlpDecoder.AddMetrics(request, store);
            return new ExportMetricsServiceResponse();
        }));
        return endpoints;
    }

    private static async Task ReceiveAsync<TRequest>(HttpContext context, byte[]? key, long maxBytes, MessageParser<TRequest> parser, Func<TRequest, IMessage> store)
        where TRequest : IMessage<TRequest>
    {
        if (key is not null && !KeyMatches(context.Request.Headers[ApiKeyHeader].ToString(), key))
        {
            await Problem(context, StatusCodes.Status401Unauthorized, $"missing or wrong {ApiKeyHeader} header").ConfigureAwait(false);
            return;
        }
        var contentType = context.Request.ContentType ?? "";
        if (!contentType.StartsWith(Protobuf, StringComparison.OrdinalIgnoreCase))
        {
            await Problem(context, StatusCodes.Status415UnsupportedMediaType, $"Content-Type '{contentType}': this receiver reads OTLP as {Protobuf}").ConfigureAwait(false);
            return;
        }
        if (context.Request.ContentLength > maxBytes)
        {
            await Problem(context, StatusCodes.Status413PayloadTooLarge, $"body of {context.Request.ContentLength} bytes is over the limit of {maxBytes}").ConfigureAwait(false);
            return;
        }
        byte[] body;
        try
        {
            var encoding = context.Request.Headers.ContentEncoding.ToString();
            Stream source = context.Request.Body;
            if (encoding.Equals("gzip", StringComparison.OrdinalIgnoreCase))
            {
                source = new GZipStream(source, CompressionMode.Decompress, leaveOpen: true);
            }
            else if (encoding.Length > 0 && !encoding.Equals("identity", StringComparison.OrdinalIgnoreCase))
            {
                await Problem(context, StatusCodes.Status415UnsupportedMediaType, $"Content-Encoding '{encoding}' is not supported (gzip or none)").ConfigureAwait(false);
                return;
            }
            await using (source.ConfigureAwait(false))
            {
                body = await ReadBoundedAsync(source, maxBytes, context.RequestAborted).ConfigureAwait(false);
            }
        }
        catch (InvalidDataException e)
        {
            await Problem(context, StatusCodes.Status400BadRequest, $"gzip body cannot be read: {e.Message}").ConfigureAwait(false);
            return;
        }
        catch (BodyTooLargeException)
        {
            await Problem(context, StatusCodes.Status413PayloadTooLarge, $"body is over the limit of {maxBytes} bytes").ConfigureAwait(false);
            return;
        }
        TRequest request;
        try
        {
            request = parser.ParseFrom(body);
        }
        catch (InvalidProtocolBufferException e)
        {
            await Problem(context, StatusCodes.Status400BadRequest, $"body is not a valid {typeof(TRequest).Name}: {e.Message}").ConfigureAwait(false);
            return;
        }
        var response = store(request);
        context.Response.StatusCode = StatusCodes.Status200OK;
        context.Response.ContentType = Protobuf;
        await context.Response.Body.WriteAsync(response.ToByteArray(), context.RequestAborted).ConfigureAwait(false);
    }

    private static async Task<byte[]> ReadBoundedAsync(Stream source, long maxBytes, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await source.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > maxBytes)
            {
                throw new BodyTooLargeException();
            }
            buffer.Write(chunk, 0, read);
        }
        return buffer.ToArray();
    }

    private static bool KeyMatches(string given, byte[] expected) =>
        CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), expected);

    private static Task Problem(HttpContext context, int status, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync("OTLP " + context.Request.Path + ": " + message + "\n", context.RequestAborted);
    }

    private sealed class BodyTooLargeException : Exception;
}
