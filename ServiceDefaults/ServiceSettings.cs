using Microsoft.Extensions.Configuration;
using SynthVlm.Streams;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// The settings every service needs, read from configuration under Aspire's names and checked
/// before anything starts, so a wrong value stops the service with one line naming it.
/// </summary>
public sealed class ServiceSettings
{
    /// <summary>The gRPC endpoint URL (HTTP/2 only).</summary>
    public required Uri GrpcUrl { get; init; }

    /// <summary>The HTTP/1.1 endpoint URL (health, browser).</summary>
    public required Uri HttpUrl { get; init; }

    /// <summary>The Redis connection, or null when the service runs without stream work.</summary>
    public RedisConnectionOptions? Redis { get; init; }

    /// <summary>The OTLP endpoint, or null when telemetry is not exported.</summary>
    public Uri? OtlpEndpoint { get; init; }

    /// <summary>Reads and validates the settings.</summary>
    /// <exception cref="StartupConfigurationException">A setting is missing or malformed.</exception>
    public static ServiceSettings Read(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return new ServiceSettings
        {
            GrpcUrl = ReadEndpointUrl(configuration, KnownEnvironment.GrpcEndpointSection, "Http2"),
            HttpUrl = ReadEndpointUrl(configuration, KnownEnvironment.HttpEndpointSection, null),
            Redis = ReadRedis(configuration),
            OtlpEndpoint = ReadOtlp(configuration),
        };
    }

    private static Uri ReadEndpointUrl(IConfiguration configuration, string section, string? requiredProtocols)
    {
        var key = section + ":Url";
        var value = configuration[key];
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new StartupConfigurationException(key, "is missing; expected a URL such as http://127.0.0.1:5100 (appsettings.json holds loopback defaults).");
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new StartupConfigurationException(key, $"'{value}' is not an http:// or https:// URL.");
        }
        if (requiredProtocols is not null)
        {
            var protocolsKey = section + ":Protocols";
            var protocols = configuration[protocolsKey];
            if (protocols is null)
            {
                // Unset means the gRPC endpoint's only sensible value; a conflicting one is an error below.
                configuration[protocolsKey] = requiredProtocols;
                protocols = requiredProtocols;
            }
            if (!string.Equals(protocols, requiredProtocols, StringComparison.OrdinalIgnoreCase))
            {
                throw new StartupConfigurationException(protocolsKey, $"is '{protocols}'; the gRPC endpoint must be '{requiredProtocols}' because Kestrel serves cleartext HTTP/2 only on an HTTP/2-only endpoint.");
            }
        }
        return url;
    }

    /// <summary>Reads ConnectionStrings:redis: null when absent, the parsed options otherwise.</summary>
    /// <exception cref="StartupConfigurationException">It is empty or malformed; the message names it.</exception>
    public static RedisConnectionOptions? ReadRedis(IConfiguration configuration)
    {
        var value = configuration[KnownEnvironment.RedisConnectionStringKey];
        if (value is null)
        {
            return null;
        }
        if (string.IsNullOrWhiteSpace(value))
        {
            throw new StartupConfigurationException(KnownEnvironment.RedisConnectionStringKey, "is empty; expected host:port[,password=...] or redis://[user:password@]host:port.");
        }
        try
        {
            return RedisConnectionOptions.Parse(value);
        }
        catch (Exception e) when (e is FormatException or ArgumentException)
        {
            throw new StartupConfigurationException(KnownEnvironment.RedisConnectionStringKey, e.Message);
        }
    }

    /// <summary>Reads OTEL_EXPORTER_OTLP_ENDPOINT: null when absent, an http(s) URL otherwise.</summary>
    /// <exception cref="StartupConfigurationException">It is not an http(s) URL; the message names it.</exception>
    public static Uri? ReadOtlp(IConfiguration configuration)
    {
        var value = configuration[KnownEnvironment.OtlpEndpoint];
        if (string.IsNullOrWhiteSpace(value))
        {
            return null;
        }
        if (!Uri.TryCreate(value, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
        {
            throw new StartupConfigurationException(KnownEnvironment.OtlpEndpoint, $"'{value}' is not an http:// or https:// URL.");
        }
        return url;
    }
}
