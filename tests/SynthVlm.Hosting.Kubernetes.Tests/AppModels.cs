using Aspire.Hosting;
using Aspire.Hosting.ApplicationModel;
using SynthVlm.Testing;

namespace SynthVlm.Hosting.Kubernetes.Tests;

/// <summary>
/// Aspire app models as the AppHost builds them, made with the real builder in publish mode and the
/// real service projects (their appsettings.json declare the Grpc and Http Kestrel endpoints);
/// nothing is started.
/// </summary>
internal static class AppModels
{
    /// <summary>A builder in publish mode, as <c>AppHost -- publish</c> makes one.</summary>
    public static IDistributedApplicationBuilder PublishBuilder(params string[] args) =>
        DistributedApplication.CreateBuilder(new DistributedApplicationOptions
        {
            Args = ["--operation", "publish", "--publisher", KubernetesPublisher.PublisherName, .. args],
            DisableDashboard = true,
        });

    /// <summary>A builder in run mode (the local AppHost's own).</summary>
    public static IDistributedApplicationBuilder RunBuilder() =>
        DistributedApplication.CreateBuilder(new DistributedApplicationOptions { Args = [], DisableDashboard = true });

    /// <summary>The service's project from the repository, under its resource name.</summary>
    public static IResourceBuilder<ProjectResource> AddService(this IDistributedApplicationBuilder builder, ServiceInfo service) =>
        builder.AddProject(service.Name, Path.Combine(RepoPaths.Root, service.ProjectName, $"{service.ProjectName}.csproj"));

    /// <summary>Redis as a redis-server executable resource (no container runtime here), named <c>redis</c>.</summary>
    public static IResourceBuilder<RedisServerResource> AddRedisServer(this IDistributedApplicationBuilder builder, string dataDirectory)
    {
        var password = ParameterResourceBuilderExtensions.CreateDefaultPasswordParameter(builder, KnownEnvironment.RedisConnectionName + "-password", special: false);
        return builder.AddResource(new RedisServerResource(KnownEnvironment.RedisConnectionName, dataDirectory, password))
            .WithEndpoint(name: RedisServerResource.EndpointName, scheme: "tcp")
            .WithArgs("--appendonly", "yes", "--appendfsync", "everysec", "--dir", dataDirectory, "--requirepass", password);
    }

    /// <summary>
    /// The model the AppHost describes (AppHost/SynthVlmAppModel.cs): Redis, the six services referencing
    /// and waiting for it with a health check, one local data folder, the supervisor's pid, Aspire's OTLP
    /// retry setting removed; and curation referenced by selection.
    /// </summary>
    public static IDistributedApplicationBuilder Pipeline(IDistributedApplicationBuilder builder, string dataDirectory, IReadOnlyDictionary<string, int>? replicas = null)
    {
        var redis = builder.AddRedisServer(Path.Combine(dataDirectory, "redis"));
        IResourceBuilder<ProjectResource>? curation = null;
        foreach (var service in KnownServices.All)
        {
            var project = builder.AddService(service)
                .WithReplicas(replicas?.GetValueOrDefault(service.Name, 1) ?? 1)
                .WithReference(redis)
                .WaitFor(redis)
                .WithHttpHealthCheck("/health", endpointName: "Http")
                .WithEnvironment(KnownEnvironment.DataDirectory, dataDirectory)
                .WithEnvironment(KnownEnvironment.ParentPid, Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
                .WithEnvironment(context => context.EnvironmentVariables.Remove("OTEL_DOTNET_EXPERIMENTAL_OTLP_RETRY"));
            if (service == KnownServices.Curation)
            {
                curation = project;
            }
            else if (service == KnownServices.Selection)
            {
                project.WithReference(curation!);
            }
        }
        return builder;
    }

    /// <summary>The model of <paramref name="builder"/>, as the built application would hold it.</summary>
    public static DistributedApplicationModel Model(this IDistributedApplicationBuilder builder) => new(builder.Resources);
}

/// <summary>A redis-server process with a password and a connection string, the shape of the AppHost's Redis when no container runtime is there.</summary>
internal sealed class RedisServerResource(string name, string dataDirectory, ParameterResource password)
    : ExecutableResource(name, "redis-server", dataDirectory), IResourceWithConnectionString
{
    public const string EndpointName = "tcp";

    public EndpointReference Endpoint => new(this, EndpointName);

    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Endpoint.Property(EndpointProperty.HostAndPort)},password={password}");
}
