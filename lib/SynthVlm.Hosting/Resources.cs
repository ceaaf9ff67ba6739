namespace SynthVlm.Hosting;

/// <summary>Something the cluster starts and watches.</summary>
public abstract class ClusterResource(string name)
{
    /// <summary>The resource name, shown in output and used in environment variable names.</summary>
    public string Name { get; } = name;

    /// <summary>Resources that must be healthy before this one starts.</summary>
    public IList<ClusterResource> DependsOn { get; } = [];
}

/// <summary>
/// Redis: a redis-server child process with AOF in <see cref="DataDirectory"/>, or an existing
/// server given by <see cref="ExternalConnectionString"/>.
/// </summary>
public sealed class RedisResource : ClusterResource
{
    internal RedisResource(string name, string? dataDirectory, string? externalConnectionString) : base(name)
    {
        DataDirectory = dataDirectory;
        ExternalConnectionString = externalConnectionString;
    }

    /// <summary>Where the managed server keeps its AOF (null for an external server).</summary>
    public string? DataDirectory { get; }

    /// <summary>The connection string of an existing server, or null to start one.</summary>
    public string? ExternalConnectionString { get; }

    /// <summary>Whether the cluster starts the server itself.</summary>
    public bool IsManaged => ExternalConnectionString is null;

    /// <summary>The managed server's port (0 until allocated).</summary>
    public int Port { get; internal set; }

    /// <summary>The managed server's password, generated per start so the server is never open.</summary>
    public string? Password { get; internal set; }

    /// <summary>The connection string services receive (StackExchange.Redis format, as Aspire writes it).</summary>
    public string ConnectionString =>
        ExternalConnectionString ?? $"127.0.0.1:{Port}" + (Password is null ? string.Empty : $",password={Password}");
}

/// <summary>A SynthVlm service project run as one or more replicas.</summary>
public sealed class ServiceResource : ClusterResource
{
    internal ServiceResource(ServiceInfo service, string assemblyPath) : base(service.Name)
    {
        Service = service;
        AssemblyPath = assemblyPath;
    }

    /// <summary>The stage.</summary>
    public ServiceInfo Service { get; }

    /// <summary>The built service assembly (dll) the replicas run.</summary>
    public string AssemblyPath { get; }

    /// <summary>How many replicas run.</summary>
    public int Replicas { get; private set; } = 1;

    /// <summary>Services whose gRPC endpoints this one is told about (services__name__grpc__i).</summary>
    public IList<ServiceResource> References { get; } = [];

    /// <summary>Extra environment variables for every replica.</summary>
    public IDictionary<string, string> Environment { get; } = new Dictionary<string, string>(StringComparer.Ordinal);

    /// <summary>Sets the replica count.</summary>
    public ServiceResource WithReplicas(int replicas)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(replicas, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(replicas, 64);
        Replicas = replicas;
        return this;
    }

    /// <summary>Gives the replicas Redis's connection string and waits for it.</summary>
    public ServiceResource WithReference(RedisResource redis)
    {
        ArgumentNullException.ThrowIfNull(redis);
        DependsOn.Add(redis);
        return this;
    }

    /// <summary>Tells the replicas where <paramref name="other"/>'s gRPC endpoints are, and waits for it.</summary>
    public ServiceResource WithReference(ServiceResource other)
    {
        ArgumentNullException.ThrowIfNull(other);
        References.Add(other);
        DependsOn.Add(other);
        return this;
    }
}
