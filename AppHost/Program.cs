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
    builder.AddService(service, AppHostSettings.ServiceAssembly(service))
        .WithReference(redis)
        .WithReplicas(settings.ReplicasOf(service));
}

return await ClusterConsole.RunAsync(builder, settings);
