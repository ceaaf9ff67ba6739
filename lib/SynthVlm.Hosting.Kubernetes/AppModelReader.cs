using System.Globalization;
using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;

namespace SynthVlm.Hosting.Kubernetes;

/// <summary>The Redis the services share: managed (a StatefulSet is published) or the user's own.</summary>
/// <param name="Name">The resource name (<c>redis</c>), also the managed Redis's Service name.</param>
/// <param name="ExternalConnectionString">The user's connection string, or null when the publisher runs Redis.</param>
internal sealed record PublishedRedis(string Name, string? ExternalConnectionString)
{
    public bool IsManaged => ExternalConnectionString is null;
}

/// <summary>A project resource as it is published: a Deployment and a Service, and for a stage a ScaledObject.</summary>
/// <param name="Name">The resource name (the Deployment, Service and image name).</param>
/// <param name="Stage">The pipeline stage, or null for the web front end.</param>
/// <param name="Replicas">Replicas from the model's <see cref="ReplicaAnnotation"/> (1 without one).</param>
/// <param name="Endpoints">The endpoint names it serves, lowercase (<c>grpc</c>, <c>http</c>).</param>
/// <param name="RedisEnvironment">The variables that carry Redis's connection string (from the Secret).</param>
/// <param name="References">Service-discovery variables of referenced projects with their in-cluster URLs.</param>
/// <param name="Settings">Every other variable the model sets, evaluated for publishing (goes to the project's ConfigMap).</param>
internal sealed record PublishedProject(
    string Name,
    ServiceInfo? Stage,
    int Replicas,
    IReadOnlyList<string> Endpoints,
    IReadOnlyList<string> RedisEnvironment,
    IReadOnlyList<KeyValuePair<string, string>> References,
    IReadOnlyList<KeyValuePair<string, string>> Settings);

/// <summary>What the publisher writes: Redis and the projects, in pipeline order.</summary>
internal sealed record PublishedModel(PublishedRedis Redis, IReadOnlyList<PublishedProject> Projects);

/// <summary>
/// Reads an Aspire <see cref="DistributedApplicationModel"/> the way Aspire's own publishers do:
/// each resource's <see cref="EnvironmentCallbackAnnotation"/>s are run against an
/// <see cref="EnvironmentCallbackContext"/> whose execution context is in publish mode, and the values
/// they produce (strings, endpoint references, connection-string references, parameters, reference
/// expressions) are turned into their in-cluster form. Values that only describe this machine (the
/// local data folder, the supervisor pid, the dashboard's OTLP endpoint, Kestrel URLs, DOTNET_*
/// launch settings) are replaced by the values the manifests give every pod.
/// </summary>
internal static class AppModelReader
{
    /// <summary>The name of the front end project, published without a KEDA scaler.</summary>
    public const string WebName = "web";

    /// <summary>Variables Aspire (or the local AppHost) sets for this machine only; the manifests set their own.</summary>
    private static readonly string[] LocalOnlyPrefixes = ["OTEL_", "DOTNET_", "Kestrel__Endpoints__"];

    private static readonly HashSet<string> LocalOnly = new(StringComparer.OrdinalIgnoreCase)
    {
        KnownEnvironment.DataDirectory,
        KnownEnvironment.ParentPid,
        KnownEnvironment.InstanceName,
        "ASPNETCORE_URLS",
        "ASPNETCORE_HTTPS_PORT",
        "HTTP_PORTS",
        "HTTPS_PORTS",
    };

    public static async Task<PublishedModel> ReadAsync(DistributedApplicationModel model, DistributedApplicationExecutionContext executionContext, CancellationToken cancellationToken)
    {
        var resources = model.Resources.ToList();
        var redisResource = resources.FirstOrDefault(r => r.Name == KnownEnvironment.RedisConnectionName);
        if (redisResource is not IResourceWithConnectionString redisWithConnection)
        {
            throw new ArgumentException(
                redisResource is null
                    ? $"The app model has no resource named '{KnownEnvironment.RedisConnectionName}'; the services need Redis (AddRedis, a redis-server executable, or AddConnectionString(\"{KnownEnvironment.RedisConnectionName}\") for your own)."
                    : $"Resource '{redisResource.Name}' ({redisResource.GetType().Name}) has no connection string, so it cannot be the services' Redis.",
                nameof(model));
        }
        var redis = new PublishedRedis(redisResource.Name, await ExternalConnectionStringAsync(redisWithConnection, cancellationToken).ConfigureAwait(false));

        var projects = resources.OfType<ProjectResource>().ToList();
        foreach (var project in projects)
        {
            if (!KubernetesNames.IsDnsLabel(project.Name))
            {
                throw new ArgumentException($"Resource name '{project.Name}' is not a DNS-1123 label, so it cannot name a Kubernetes Service.", nameof(model));
            }
            if (KnownServices.Find(project.Name) is null && project.Name != WebName)
            {
                throw new ArgumentException(
                    $"Project resource '{project.Name}' is neither a SynthVlm service ({string.Join(", ", KnownServices.All.Select(s => s.Name))}) nor the web front end '{WebName}', so it has no image to publish.",
                    nameof(model));
            }
        }
        var reader = new ValueReader(redisWithConnection, projects);
        var published = new List<PublishedProject>();
        foreach (var project in projects.OrderBy(p => Order(p.Name)))
        {
            published.Add(await ReadProjectAsync(project, reader, executionContext, cancellationToken).ConfigureAwait(false));
        }
        return new PublishedModel(redis, published);
    }

    /// <summary>The position of a project in the pipeline (file order); the front end comes last.</summary>
    public static int Order(string name)
    {
        var index = KnownServices.All.ToList().FindIndex(s => s.Name == name);
        return index < 0 ? KnownServices.All.Count : index;
    }

    /// <summary>The user's own Redis (AddConnectionString) has a value to publish; a managed one has none.</summary>
    private static async Task<string?> ExternalConnectionStringAsync(IResourceWithConnectionString redis, CancellationToken cancellationToken)
    {
        if (redis is not (ConnectionStringResource or ParameterResource))
        {
            return null;
        }
        string? value;
        try
        {
            value = await redis.GetConnectionStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is DistributedApplicationException or InvalidOperationException)
        {
            throw new ArgumentException($"The external Redis '{redis.Name}' has no connection string: set {KnownEnvironment.RedisConnectionStringKey} ({e.Message})", nameof(redis), e);
        }
        return string.IsNullOrWhiteSpace(value)
            ? throw new ArgumentException($"The external Redis '{redis.Name}' has an empty connection string; set {KnownEnvironment.RedisConnectionStringKey}.", nameof(redis))
            : value;
    }

    private static async Task<PublishedProject> ReadProjectAsync(ProjectResource project, ValueReader reader, DistributedApplicationExecutionContext executionContext, CancellationToken cancellationToken)
    {
        var stage = KnownServices.Find(project.Name);
        var endpoints = project.Annotations.OfType<EndpointAnnotation>()
            .Select(e => e.Name.ToLowerInvariant())
            .Where(IsPublished)
            .Distinct()
            .OrderBy(n => n == KubernetesNames.GrpcPortName ? 0 : 1)
            .ToList();
        // Services serve gRPC and answer probes on HTTP; the front end needs only HTTP.
        foreach (var required in stage is null ? [KubernetesNames.HttpPortName] : new[] { KubernetesNames.GrpcPortName, KubernetesNames.HttpPortName })
        {
            if (!endpoints.Contains(required))
            {
                throw new ArgumentException(
                    $"Project '{project.Name}' has no '{required}' endpoint (Kestrel:Endpoints:{char.ToUpperInvariant(required[0])}{required[1..]} in its appsettings.json, or WithEndpoint); it has: {string.Join(", ", project.Annotations.OfType<EndpointAnnotation>().Select(e => e.Name).DefaultIfEmpty("none"))}.",
                    nameof(project));
            }
        }
        var replicas = project.Annotations.OfType<ReplicaAnnotation>().LastOrDefault()?.Replicas ?? 1;

        var environment = new Dictionary<string, object>(StringComparer.Ordinal);
        var context = new EnvironmentCallbackContext(executionContext, project, environment, cancellationToken);
        foreach (var callback in project.Annotations.OfType<EnvironmentCallbackAnnotation>())
        {
            await callback.Callback(context).ConfigureAwait(false);
        }

        var redisEnvironment = new List<string>();
        var references = new List<KeyValuePair<string, string>>();
        var settings = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in environment)
        {
            if (IsLocalOnly(key) || reader.IsRedisConnectionProperty(key, value))
            {
                // Local values are replaced by the pod's own; Redis's host/port/password properties are
                // left out because the services read the Secret's connection string, the one copy of them.
                continue;
            }
            if (reader.IsRedisConnectionString(value))
            {
                redisEnvironment.Add(key);
                continue;
            }
            if (reader.ReferencedEndpoint(value) is { } endpoint)
            {
                if (!IsPublished(endpoint.EndpointName))
                {
                    // Aspire adds a default https endpoint it does not bind either (no certificate in a
                    // container); the cluster has no such port, so a reference to it has nothing to point at.
                    continue;
                }
                var name = key.StartsWith("services__", StringComparison.OrdinalIgnoreCase)
                    ? KubernetesNames.ServiceDiscoveryEnv(endpoint.Resource.Name, endpoint.EndpointName)
                    : key;
                if (!references.Any(r => r.Key == name))
                {
                    references.Add(new(name, ValueReader.ClusterUrl(endpoint)));
                }
                continue;
            }
            var text = await reader.RenderAsync(project.Name, key, value, cancellationToken).ConfigureAwait(false);
            if (text is null)
            {
                continue;
            }
            if (!KubernetesNames.IsConfigMapKey(key))
            {
                throw new ArgumentException($"Environment variable '{key}' of project '{project.Name}' cannot be a ConfigMap key (letters, digits, '-', '_', '.').", nameof(project));
            }
            settings.Add(new(key, text));
        }
        return new PublishedProject(project.Name, stage, replicas, endpoints, redisEnvironment, references, settings);
    }

    /// <summary>Whether an endpoint of that name gets a container and Service port (grpc, http; any case).</summary>
    private static bool IsPublished(string endpointName) =>
        endpointName.Equals(KubernetesNames.GrpcPortName, StringComparison.OrdinalIgnoreCase)
        || endpointName.Equals(KubernetesNames.HttpPortName, StringComparison.OrdinalIgnoreCase);

    private static bool IsLocalOnly(string key) =>
        LocalOnly.Contains(key) || LocalOnlyPrefixes.Any(p => key.StartsWith(p, StringComparison.OrdinalIgnoreCase));

    /// <summary>Turns the values environment callbacks produce into the strings a pod in the cluster gets.</summary>
    private sealed class ValueReader(IResourceWithConnectionString redis, IReadOnlyList<ProjectResource> projects)
    {
        // WithReference(redis) also sets REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, … from the resource's
        // connection properties (fresh expressions each time, so they are known by name, not by identity).
        private readonly HashSet<string> _redisPropertyKeys = new(
            redis.GetConnectionProperties().Select(p => p.Key)
                .Concat(redis.Annotations.OfType<ConnectionPropertyAnnotation>().Select(a => a.Name))
                .Select(p => $"{redis.Name.ToUpperInvariant()}_{p.ToUpperInvariant()}"),
            StringComparer.Ordinal);

        /// <summary>Whether the variable is one of Redis's connection properties as Aspire injects them (a value from the model, not a user's string).</summary>
        public bool IsRedisConnectionProperty(string key, object? value) => value is not (null or string) && _redisPropertyKeys.Contains(key);

        public bool IsRedisConnectionString(object? value) => value switch
        {
            ConnectionStringReference c => ReferenceEquals(c.Resource, redis),
            IResourceWithConnectionString r => ReferenceEquals(r, redis),
            _ => false,
        };

        /// <summary>The endpoint of a published project <paramref name="value"/> is, when it is exactly one.</summary>
        public EndpointReference? ReferencedEndpoint(object? value) => value switch
        {
            EndpointReference e when e.Resource is ProjectResource p && projects.Contains(p) => e,
            EndpointReferenceExpression { Property: EndpointProperty.Url } x => ReferencedEndpoint(x.Endpoint),
            _ => null,
        };

        /// <summary>The URL of a project's endpoint through its ClusterIP Service.</summary>
        public static string ClusterUrl(EndpointReference endpoint) =>
            $"{endpoint.EndpointAnnotation.UriScheme}://{endpoint.Resource.Name}:{ClusterPort(endpoint).ToString(CultureInfo.InvariantCulture)}";

        private static int ClusterPort(EndpointReference endpoint) => endpoint.EndpointName.ToLowerInvariant() switch
        {
            KubernetesNames.GrpcPortName => KubernetesNames.GrpcPort,
            KubernetesNames.HttpPortName => KubernetesNames.HttpPort,
            _ => throw new ArgumentException($"Endpoint '{endpoint.EndpointName}' of '{endpoint.Resource.Name}' is not published (only '{KubernetesNames.GrpcPortName}' and '{KubernetesNames.HttpPortName}' are).", nameof(endpoint)),
        };

        /// <summary>The value as a string for a pod in the cluster; null for a value that sets nothing.</summary>
        /// <exception cref="ArgumentException">The value cannot be published (a secret, another resource's connection string, an unknown kind).</exception>
        public async ValueTask<string?> RenderAsync(string project, string key, object? value, CancellationToken cancellationToken)
        {
            switch (value)
            {
                case null:
                    return null;
                case string s:
                    return s;
                case EndpointReference e:
                    return Endpoint(project, key, e, EndpointProperty.Url);
                case EndpointReferenceExpression x:
                    return Endpoint(project, key, x.Endpoint, x.Property);
                case ConnectionStringReference or IResourceWithConnectionString when IsRedisConnectionString(value):
                    throw Refused(project, key, $"puts Redis's connection string inside a longer value; only a whole variable can come from the Secret '{KubernetesNames.RedisSecret}'");
                case ConnectionStringReference c:
                    throw Refused(project, key, $"is the connection string of '{c.Resource.Name}', which the Kubernetes publisher does not publish (only '{redis.Name}')");
                case ParameterResource { Secret: true } p:
                    throw Refused(project, key, $"is the secret parameter '{p.Name}'; the manifests hold no secrets but Redis's — set it in the cluster instead");
                case ParameterResource p:
                    return await p.GetValueAsync(cancellationToken).ConfigureAwait(false);
                case ReferenceExpression { IsConditional: true } r:
                    var condition = await RenderAsync(project, key, r.Condition, cancellationToken).ConfigureAwait(false);
                    return await RenderAsync(project, key, string.Equals(condition, r.MatchValue, StringComparison.OrdinalIgnoreCase) ? r.WhenTrue : r.WhenFalse, cancellationToken).ConfigureAwait(false);
                case ReferenceExpression r:
                    var parts = new object?[r.ValueProviders.Count];
                    for (var i = 0; i < parts.Length; i++)
                    {
                        parts[i] = await RenderAsync(project, key, r.ValueProviders[i], cancellationToken).ConfigureAwait(false) ?? string.Empty;
                    }
                    return string.Format(CultureInfo.InvariantCulture, r.Format, parts);
                default:
                    throw Refused(project, key, $"is a {value.GetType().Name}, which the Kubernetes publisher cannot turn into a value");
            }
        }

        private string Endpoint(string project, string key, EndpointReference endpoint, EndpointProperty property)
        {
            string host;
            int port;
            if (endpoint.Resource is ProjectResource p && projects.Contains(p))
            {
                host = p.Name;
                port = ClusterPort(endpoint);
            }
            else if (ReferenceEquals(endpoint.Resource, redis))
            {
                host = redis.Name;
                port = KubernetesNames.RedisPort;
            }
            else
            {
                throw Refused(project, key, $"points at endpoint '{endpoint.EndpointName}' of '{endpoint.Resource.Name}', which is not published");
            }
            var portText = port.ToString(CultureInfo.InvariantCulture);
            return property switch
            {
                EndpointProperty.Url => $"{endpoint.EndpointAnnotation.UriScheme}://{host}:{portText}",
                EndpointProperty.Host or EndpointProperty.IPV4Host => host,
                EndpointProperty.Port or EndpointProperty.TargetPort => portText,
                EndpointProperty.Scheme => endpoint.EndpointAnnotation.UriScheme,
                EndpointProperty.HostAndPort => $"{host}:{portText}",
                _ => throw Refused(project, key, $"reads endpoint property {property}, which has no in-cluster value"),
            };
        }

        private static ArgumentException Refused(string project, string key, string why) =>
            new($"Environment variable '{key}' of project '{project}' {why}.", nameof(project));
    }
}
