using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Exporter;
using OpenTelemetry.Logs;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// OpenTelemetry traces, metrics and logs over OTLP. The hosting and instrumentation packages
/// do not restore here, so the providers are built directly and owned by <see cref="TelemetryProviders"/>,
/// and the runtime's built-in sources and meters are registered by name.
/// </summary>
public static class Telemetry
{
    /// <summary>The activity sources every service listens to.</summary>
    public static IReadOnlyList<string> ActivitySources { get; } =
    [
        "Microsoft.AspNetCore",
        "System.Net.Http",
        "SynthVlm.*",
    ];

    /// <summary>The meters every service exports.</summary>
    public static IReadOnlyList<string> Meters { get; } =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "System.Net.Http",
        "System.Runtime",
        "SynthVlm.*",
    ];

    /// <summary>
    /// Adds tracing, metrics and OTLP logging. Exporters are added only when
    /// OTEL_EXPORTER_OTLP_ENDPOINT is set; an unreachable collector never stops the service
    /// (the exporter drops batches and retries in the background).
    /// </summary>
    public static IServiceCollection AddSynthVlmTelemetry(this IServiceCollection services, ILoggingBuilder logging, ServiceIdentity identity, Uri? otlpEndpoint)
    {
        ArgumentNullException.ThrowIfNull(logging);
        ArgumentNullException.ThrowIfNull(identity);
        var resource = ResourceBuilder.CreateDefault()
            .AddService(serviceName: identity.Service.Name, serviceVersion: identity.Version, serviceInstanceId: identity.Instance)
            .AddEnvironmentVariableDetector();

        var protocol = ReadProtocol();
        var tracing = Sdk.CreateTracerProviderBuilder()
            .SetResourceBuilder(resource)
            .AddSource([.. ActivitySources]);
        var metrics = Sdk.CreateMeterProviderBuilder()
            .SetResourceBuilder(resource)
            .AddMeter([.. Meters]);
        if (otlpEndpoint is not null)
        {
            tracing.AddOtlpExporter(o => Configure(o, otlpEndpoint, protocol, "v1/traces"));
            metrics.AddOtlpExporter((o, reader) =>
            {
                Configure(o, otlpEndpoint, protocol, "v1/metrics");
                reader.PeriodicExportingMetricReaderOptions.ExportIntervalMilliseconds = 5000;
            });
            logging.AddOpenTelemetry(o =>
            {
                o.SetResourceBuilder(resource);
                o.IncludeFormattedMessage = true;
                o.IncludeScopes = true;
                o.AddOtlpExporter(e => Configure(e, otlpEndpoint, protocol, "v1/logs"));
            });
        }
        services.AddSingleton(new TelemetryProviders(tracing.Build(), metrics.Build()));
        services.AddHostedService(sp => sp.GetRequiredService<TelemetryProviders>());
        return services;
    }

    // The endpoint comes from validated configuration (environment or command line), so it is set
    // here rather than left to the exporter's own environment lookup; http/protobuf needs the
    // per-signal path that the exporter appends only to an endpoint it read itself.
    private static void Configure(OtlpExporterOptions options, Uri endpoint, OtlpExportProtocol protocol, string signalPath)
    {
        options.Protocol = protocol;
        options.Endpoint = protocol == OtlpExportProtocol.HttpProtobuf
            ? new Uri(new Uri(endpoint.ToString().TrimEnd('/') + "/"), signalPath)
            : endpoint;
    }

    // DESIGN.md §4 names http/protobuf; an explicit OTEL_EXPORTER_OTLP_PROTOCOL=grpc still wins.
    private static OtlpExportProtocol ReadProtocol() =>
        string.Equals(Environment.GetEnvironmentVariable(KnownEnvironment.OtlpProtocol), "grpc", StringComparison.OrdinalIgnoreCase)
            ? OtlpExportProtocol.Grpc
            : OtlpExportProtocol.HttpProtobuf;
}

/// <summary>Owns the tracer and meter providers: flushes and disposes them when the host stops.</summary>
public sealed class TelemetryProviders(TracerProvider? tracerProvider, MeterProvider? meterProvider) : IHostedService, IDisposable
{
    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        tracerProvider?.ForceFlush(2000);
        meterProvider?.ForceFlush(2000);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        tracerProvider?.Dispose();
        meterProvider?.Dispose();
    }
}
