using Aspire.Hosting.ApplicationModel;

namespace SynthVlm.AppHost;

/// <summary>
/// Redis as a redis-server executable resource, for machines without a container runtime: AOF in
/// a data folder, bound to loopback, a password generated per start. Services get its connection
/// string through WithReference (ConnectionStrings__redis), as with Aspire.Hosting.Redis's container.
/// </summary>
internal sealed class RedisServerResource(string name, string command, string dataDirectory, ParameterResource password)
    : ExecutableResource(name, command, dataDirectory), IResourceWithConnectionString
{
    /// <summary>The name of its TCP endpoint.</summary>
    public const string EndpointName = "tcp";

    private EndpointReference? _endpoint;

    /// <summary>Where it keeps appendonlydir/ (also its working directory).</summary>
    public string DataDirectory { get; } = dataDirectory;

    /// <summary>The password clients authenticate with.</summary>
    public ParameterResource Password { get; } = password;

    /// <summary>Its TCP endpoint (through DCP's proxy for clients).</summary>
    public EndpointReference Endpoint => _endpoint ??= new(this, EndpointName);

    /// <summary>host:port,password=… as StackExchange.Redis and Aspire.StackExchange.Redis read it.</summary>
    public ReferenceExpression ConnectionStringExpression =>
        ReferenceExpression.Create($"{Endpoint.Property(EndpointProperty.HostAndPort)},password={Password}");
}
