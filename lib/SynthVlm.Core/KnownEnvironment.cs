namespace SynthVlm;

/// <summary>
/// Environment variable and configuration key names, following .NET Aspire's conventions so
/// the services run unchanged under a real Aspire AppHost (DESIGN.md §4). Each is spelled once.
/// </summary>
public static class KnownEnvironment
{
    /// <summary>The Redis connection string (StackExchange.Redis format), as Aspire injects it.</summary>
    public const string RedisConnectionStringEnv = "ConnectionStrings__redis";

    /// <summary>The configuration key of the Redis connection string.</summary>
    public const string RedisConnectionStringKey = "ConnectionStrings:redis";

    /// <summary>The name of the Redis connection string.</summary>
    public const string RedisConnectionName = "redis";

    /// <summary>OTLP endpoint for traces, metrics and logs.</summary>
    public const string OtlpEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT";

    /// <summary>OTLP protocol (grpc or http/protobuf).</summary>
    public const string OtlpProtocol = "OTEL_EXPORTER_OTLP_PROTOCOL";

    /// <summary>OTLP headers (e.g. an API key for the dashboard).</summary>
    public const string OtlpHeaders = "OTEL_EXPORTER_OTLP_HEADERS";

    /// <summary>The service name reported in telemetry.</summary>
    public const string OtelServiceName = "OTEL_SERVICE_NAME";

    /// <summary>OpenTelemetry resource attributes (key=value,...).</summary>
    public const string OtelResourceAttributes = "OTEL_RESOURCE_ATTRIBUTES";

    /// <summary>Kestrel's gRPC (HTTP/2-only) endpoint URL.</summary>
    public const string GrpcEndpointUrlEnv = "Kestrel__Endpoints__Grpc__Url";

    /// <summary>Kestrel's HTTP/1.1 endpoint URL (health, browser).</summary>
    public const string HttpEndpointUrlEnv = "Kestrel__Endpoints__Http__Url";

    /// <summary>The configuration section of the gRPC endpoint.</summary>
    public const string GrpcEndpointSection = "Kestrel:Endpoints:Grpc";

    /// <summary>The configuration section of the HTTP endpoint.</summary>
    public const string HttpEndpointSection = "Kestrel:Endpoints:Http";

    /// <summary>Where a service finds replica <paramref name="index"/> of another service's gRPC endpoint (Aspire service discovery).</summary>
    public static string ServiceGrpcEndpointEnv(string serviceName, int index = 0) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"services__{serviceName}__grpc__{index}");

    /// <summary>Configuration key form of <see cref="ServiceGrpcEndpointEnv"/>.</summary>
    public static string ServiceGrpcEndpointKey(string serviceName, int index = 0) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture, $"services:{serviceName}:grpc:{index}");

    /// <summary>The data folder shared by the services (blob store, default models); the AppHost sets it.</summary>
    public const string DataDirectory = "SYNTHVLM_DATA_DIR";

    /// <summary>The replica's consumer name; defaults to host-pid.</summary>
    public const string InstanceName = "SYNTHVLM_INSTANCE";

    /// <summary>The supervising process's pid; a service stops itself when that process is gone.</summary>
    public const string ParentPid = "SYNTHVLM_PARENT_PID";
}
