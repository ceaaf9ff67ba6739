using Google.Protobuf.Reflection;
using Grpc.Health.V1;

namespace SynthVlm.Rpc.Health;

/// <summary>The standard grpc.health.v1.Health service over a <see cref="HealthStatusRegistry"/>.</summary>
/// <param name="registry">The statuses to report.</param>
public sealed class HealthService(HealthStatusRegistry registry) : IRpcService
{
    /// <summary>The most services List returns; more is RESOURCE_EXHAUSTED, as the protocol says.</summary>
    public const int MaxListedServices = 100;

    /// <inheritdoc />
    public static ServiceDescriptor Descriptor => HealthReflection.Descriptor.Services[0];

    /// <summary>The status of one service; NOT_FOUND when it is not registered.</summary>
    public Task<HealthCheckResponse> Check(HealthCheckRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var status = registry.GetStatus(request.Service)
            ?? throw new RpcException(RpcStatusCode.NotFound, $"Service '{request.Service}' is not registered for health checks.");
        return Task.FromResult(new HealthCheckResponse { Status = status });
    }

    /// <summary>Every registered service and its status (at most <see cref="MaxListedServices"/>).</summary>
    public Task<HealthListResponse> List(HealthListRequest request, ServerCallContext context)
    {
        var all = registry.GetAll();
        if (all.Count > MaxListedServices)
        {
            throw new RpcException(RpcStatusCode.ResourceExhausted, $"{all.Count} services are registered; List returns at most {MaxListedServices}.");
        }
        var response = new HealthListResponse();
        foreach (var (name, status) in all)
        {
            response.Statuses.Add(name, new HealthCheckResponse { Status = status });
        }
        return Task.FromResult(response);
    }

    /// <summary>The current status, then every change, until the client ends the call; unknown names get SERVICE_UNKNOWN.</summary>
    public async Task Watch(HealthCheckRequest request, IServerStreamWriter<HealthCheckResponse> responses, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        using var watcher = registry.Watch(request.Service);
        var reader = watcher.Channel.Reader;
        HealthCheckResponse.Types.ServingStatus? last = null;
        while (await reader.WaitToReadAsync(context.CancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var status))
            {
                if (status != last)
                {
                    last = status;
                    await responses.WriteAsync(new HealthCheckResponse { Status = status }, context.CancellationToken).ConfigureAwait(false);
                }
            }
        }
    }
}
