namespace SynthVlm.Hosting;

/// <summary>Options of the local cluster.</summary>
public sealed class ClusterOptions
{
    /// <summary>The `dotnet` host used to run service assemblies.</summary>
    public string DotnetHost { get; set; } = LocateDotnet();

    /// <summary>How long a resource may take to become healthy before it is reported as failing.</summary>
    public TimeSpan StartTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long replicas get to stop after SIGTERM before SIGKILL.</summary>
    public TimeSpan StopGrace { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often services' /health is probed.</summary>
    public TimeSpan HealthInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>OTLP endpoint injected as OTEL_EXPORTER_OTLP_ENDPOINT, or null for none.</summary>
    public Uri? OtlpEndpoint { get; set; }

    private static string LocateDotnet()
    {
        if (Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } hostPath && File.Exists(hostPath))
        {
            return hostPath;
        }
        var self = Environment.ProcessPath;
        if (self is not null && Path.GetFileNameWithoutExtension(self).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            return self;
        }
        return "dotnet";
    }
}

/// <summary>Describes the local cluster: Redis and the services, their replicas and references.</summary>
public sealed class ClusterBuilder
{
    private readonly List<ClusterResource> _resources = [];

    /// <summary>Creates a builder.</summary>
    public ClusterBuilder(ClusterOptions? options = null)
    {
        Options = options ?? new ClusterOptions();
    }

    /// <summary>The cluster's options.</summary>
    public ClusterOptions Options { get; }

    /// <summary>The resources added so far, in the order added.</summary>
    public IReadOnlyList<ClusterResource> Resources => _resources;

    /// <summary>Adds a redis-server child process keeping its AOF in <paramref name="dataDirectory"/>.</summary>
    public RedisResource AddRedis(string name, string dataDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dataDirectory);
        return Add(new RedisResource(name, Path.GetFullPath(dataDirectory), externalConnectionString: null));
    }

    /// <summary>Uses an existing Redis given by a connection string instead of starting one.</summary>
    public RedisResource AddExternalRedis(string name, string connectionString)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        return Add(new RedisResource(name, dataDirectory: null, connectionString));
    }

    /// <summary>Adds a service run from its built assembly.</summary>
    public ServiceResource AddService(ServiceInfo service, string assemblyPath)
    {
        ArgumentNullException.ThrowIfNull(service);
        return Add(new ServiceResource(service, assemblyPath));
    }

    /// <summary>Creates the cluster (nothing starts until <see cref="Cluster.StartAsync"/>).</summary>
    public Cluster Build(IClusterOutput output) => new(Options, TopologicalOrder(), output);

    private T Add<T>(T resource) where T : ClusterResource
    {
        if (_resources.Any(r => r.Name.Equals(resource.Name, StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException($"A resource named '{resource.Name}' already exists.", nameof(resource));
        }
        _resources.Add(resource);
        return resource;
    }

    private List<ClusterResource> TopologicalOrder()
    {
        var ordered = new List<ClusterResource>();
        var visiting = new HashSet<ClusterResource>();
        void Visit(ClusterResource r)
        {
            if (ordered.Contains(r))
            {
                return;
            }
            if (!visiting.Add(r))
            {
                throw new InvalidOperationException($"Resource '{r.Name}' depends on itself through its references.");
            }
            foreach (var d in r.DependsOn)
            {
                Visit(d);
            }
            ordered.Add(r);
        }
        foreach (var r in _resources)
        {
            Visit(r);
        }
        return ordered;
    }
}
