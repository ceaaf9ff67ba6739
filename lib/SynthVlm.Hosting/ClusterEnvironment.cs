namespace SynthVlm.Hosting;

/// <summary>
/// The environment a service replica gets, in .NET Aspire's conventions (DESIGN.md §4), so the
/// same services run unchanged under a real Aspire AppHost or Kubernetes.
/// </summary>
public static class ClusterEnvironment
{
    /// <summary>The variable that tells a child its supervisor's pid, so it can exit if orphaned.</summary>
    public const string ParentPidEnv = KnownEnvironment.ParentPid;

    /// <summary>Builds the environment of replica <paramref name="index"/> of <paramref name="service"/>.</summary>
    /// <param name="service">The service.</param>
    /// <param name="index">The replica index.</param>
    /// <param name="grpcUrl">The replica's gRPC endpoint.</param>
    /// <param name="httpUrl">The replica's HTTP endpoint.</param>
    /// <param name="redisConnectionString">Redis, or null when the service has no Redis reference.</param>
    /// <param name="referencedGrpcEndpoints">Per referenced service name, its replicas' gRPC endpoints.</param>
    /// <param name="otlpEndpoint">The OTLP endpoint, or null.</param>
    public static Dictionary<string, string> ForReplica(
        ServiceResource service,
        int index,
        Uri grpcUrl,
        Uri httpUrl,
        string? redisConnectionString,
        IReadOnlyDictionary<string, IReadOnlyList<Uri>> referencedGrpcEndpoints,
        Uri? otlpEndpoint)
    {
        ArgumentNullException.ThrowIfNull(service);
        ArgumentNullException.ThrowIfNull(grpcUrl);
        ArgumentNullException.ThrowIfNull(httpUrl);
        ArgumentNullException.ThrowIfNull(referencedGrpcEndpoints);
        var instance = $"{service.Name}-{index}";
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            [KnownEnvironment.GrpcEndpointUrlEnv] = Trim(grpcUrl),
            [KnownEnvironment.HttpEndpointUrlEnv] = Trim(httpUrl),
            [KnownEnvironment.OtelServiceName] = service.Name,
            [KnownEnvironment.OtelResourceAttributes] = $"service.instance.id={instance}",
            [KnownEnvironment.InstanceName] = instance,
            [ParentPidEnv] = Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (redisConnectionString is not null)
        {
            env[KnownEnvironment.RedisConnectionStringEnv] = redisConnectionString;
        }
        if (otlpEndpoint is not null)
        {
            env[KnownEnvironment.OtlpEndpoint] = Trim(otlpEndpoint);
        }
        foreach (var (name, endpoints) in referencedGrpcEndpoints)
        {
            for (var i = 0; i < endpoints.Count; i++)
            {
                env[KnownEnvironment.ServiceGrpcEndpointEnv(name, i)] = Trim(endpoints[i]);
            }
        }
        foreach (var (key, value) in service.Environment)
        {
            env[key] = value;
        }
        return env;
    }

    private static string Trim(Uri url) => url.ToString().TrimEnd('/');
}
