using SynthVlm;
using SynthVlm.AppHost;
using SynthVlm.Hosting;

// The local SynthVlm cluster: Redis, then the six services, each waiting for what it references.
var settings = AppHostSettings.Parse(args);
if (settings is null)
{
    return 2;
}

var builder = new ClusterBuilder(new ClusterOptions { OtlpEndpoint = settings.OtlpEndpoint });
var redis = settings.RedisConnectionString is { } external
    ? builder.AddExternalRedis("redis", external)
    : builder.AddRedis("redis", Path.Combine(settings.DataDirectory, "redis"));

foreach (var service in KnownServices.All)
{
    var resource = builder.AddService(service, AppHostSettings.ServiceAssembly(service))
        .WithReference(redis)
        .WithReplicas(settings.ReplicasOf(service));
    // One data folder for the whole cluster: the blob store and the default (tiny) models.
    resource.Environment[KnownEnvironment.DataDirectory] = settings.DataDirectory;
}

return await ClusterConsole.RunAsync(builder, settings);
