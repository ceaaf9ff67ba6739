using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Streams;

namespace SynthVlm.ServiceDefaults;

/// <summary>A stage's work: called once per stream entry; its effect must be durable when it returns.</summary>
public interface IStreamHandler
{
    /// <summary>Handles one entry. Throwing leaves the entry pending, so it is redelivered (and dead-lettered after too many tries).</summary>
    Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken);

    /// <summary>
    /// Called when an entry is dead-lettered (a permanent failure, or too many deliveries), before
    /// it is acknowledged: record the item as failed so the run's progress counts it.
    /// </summary>
    Task OnDeadLetteredAsync(StreamEntry entry, string reason) => Task.CompletedTask;
}

/// <summary>Registers stream workers: a consumer of the stage's input stream per replica.</summary>
public static class StreamWorkerExtensions
{
    /// <summary>The configuration section of <see cref="StreamConsumerOptions"/> overrides (BatchSize, ClaimIdleTimeout, MaxDeliveries, ...).</summary>
    public const string ConsumerSection = "SynthVlm:Streams:Consumer";

    /// <summary>
    /// Consumes the stage's input stream with <typeparamref name="THandler"/> as this replica's
    /// consumer in the stage's group. Requires Redis (ConnectionStrings__redis).
    /// </summary>
    public static IServiceCollection AddStreamWorker<THandler>(this IServiceCollection services) where THandler : class, IStreamHandler
    {
        services.AddSingleton(new StreamWorkerRegistration(typeof(THandler)));
        services.AddSingleton<THandler>();
        services.AddHostedService(sp => ActivatorUtilities.CreateInstance<StreamWorkerHost>(sp, sp.GetRequiredService<THandler>()));
        return services;
    }
}

/// <summary>Records that the service consumes its input stream with a handler of <paramref name="HandlerType"/>.</summary>
/// <param name="HandlerType">The handler.</param>
public sealed record StreamWorkerRegistration(Type HandlerType);

/// <summary>
/// Runs one <see cref="StreamConsumer"/> (whose blocking reads use a connection of their own),
/// restarting it if Redis fails, and drains on shutdown.
/// </summary>
public sealed partial class StreamWorkerHost(
    IStreamHandler handler,
    ServiceIdentity identity,
    StageQueues queues,
    IConfiguration configuration,
    ILogger<StreamWorkerHost> logger,
    RedisClientHost? redis = null) : BackgroundService
{
    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // ServiceHost refuses to start a service with a stream worker but no Redis.
        ArgumentNullException.ThrowIfNull(redis);
        var options = new StreamConsumerOptions
        {
            Stream = identity.Service.InputStream,
            Group = identity.Service.ConsumerGroup,
            Consumer = identity.Instance,
        };
        configuration.GetSection(StreamWorkerExtensions.ConsumerSection).Bind(options);
        var delay = new RetryDelay();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                // The consumer opens its own connection for its blocking reads; acks, claims and
                // dead letters go over the service's shared one.
                var connection = await redis.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
                var consumer = new StreamConsumer(connection, options, logger) { DeadLettered = handler.OnDeadLetteredAsync };
                await consumer.EnsureGroupAsync(stoppingToken).ConfigureAwait(false);
                queues.RegisterConsumer(options.Stream, options.Group, consumer.Stats);
                await consumer.RunAsync(handler.HandleAsync, stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                LogWorkerRestart(logger, options.Stream, e.Message, delay.Peek.TotalSeconds);
            }
            await delay.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
    }

    [LoggerMessage(EventId = 400, Level = LogLevel.Warning, Message = "Stream worker on {Stream} stopped: {Reason}; restarting in {DelaySeconds:0.0} s")]
    private static partial void LogWorkerRestart(ILogger logger, string stream, string reason, double delaySeconds);
}
