using SynthVlm.Hosting;

namespace SynthVlm.AppHost;

/// <summary>The local cluster both verbs start: Redis, then the six services, each waiting for what it references.</summary>
/// <param name="Builder">The cluster description.</param>
/// <param name="Curation">The curation service, the front door of runs.</param>
internal sealed record LocalCluster(ClusterBuilder Builder, ServiceResource Curation)
{
    /// <summary>Describes the cluster <paramref name="settings"/> ask for.</summary>
    public static LocalCluster Plan(AppHostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var builder = new ClusterBuilder(new ClusterOptions { OtlpEndpoint = settings.OtlpEndpoint });
        var redis = settings.RedisConnectionString is { } external
            ? builder.AddExternalRedis("redis", external)
            : builder.AddRedis("redis", Path.Combine(settings.DataDirectory, "redis"));

        ServiceResource? curation = null;
        foreach (var service in KnownServices.All)
        {
            var resource = builder.AddService(service, AppHostSettings.ServiceAssembly(service))
                .WithReference(redis)
                .WithReplicas(settings.ReplicasOf(service));
            // One data folder for the whole cluster: the blob store and the default (tiny) models.
            resource.Environment[KnownEnvironment.DataDirectory] = settings.DataDirectory;
            if (service == KnownServices.Curation)
            {
                curation = resource;
            }
        }
        return new LocalCluster(builder, curation!);
    }
}
