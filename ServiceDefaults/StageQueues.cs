using System.Collections.Concurrent;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// Knows the streams this service reads and reports their state. At start it creates the stage's
/// consumer group on its input stream (idempotent), so lag is measured from the first entry even
/// before the stage has a handler; stream workers register their counters here.
/// </summary>
public sealed partial class StageQueues(ServiceIdentity identity, ILogger<StageQueues> logger, Microsoft.Extensions.Configuration.IConfiguration configuration, RedisClientHost? redis = null) : BackgroundService
{
    private readonly ConcurrentDictionary<(string Stream, string Group), StreamConsumerStats> _consumers = new();

    /// <summary>Records that a stream worker consumes <paramref name="stream"/> as <paramref name="group"/>.</summary>
    public void RegisterConsumer(string stream, string group, StreamConsumerStats stats) => _consumers[(stream, group)] = stats;

    /// <summary>The state of every stream this service reads (its input stream first).</summary>
    public async Task<IReadOnlyList<QueueStatus>> GetStatusAsync(CancellationToken cancellationToken)
    {
        var keys = new List<(string Stream, string Group)> { (identity.Service.InputStream, identity.Service.ConsumerGroup) };
        keys.AddRange(_consumers.Keys.Where(k => !keys.Contains(k)));
        var result = new List<QueueStatus>(keys.Count);
        foreach (var (stream, group) in keys)
        {
            var status = new QueueStatus { Stream = stream, Group = group, Length = -1, Pending = -1, Lag = -1 };
            if (_consumers.TryGetValue((stream, group), out var stats))
            {
                status.Consuming = true;
                status.Received = stats.Received;
                status.Acked = stats.Acked;
                status.Failed = stats.Failed;
                status.DeadLettered = stats.DeadLettered;
            }
            if (redis is { IsConnected: true })
            {
                var connection = await redis.GetConnectionAsync(cancellationToken).ConfigureAwait(false);
                var info = await new StreamQueueInspector(connection.GetDatabase()).GetQueueInfoAsync(stream, group, cancellationToken).ConfigureAwait(false);
                status.Length = info.Length;
                status.Pending = info.Pending;
                status.Lag = info.Lag;
                status.Consumers = (int)Math.Min(info.Consumers, int.MaxValue);
            }
            result.Add(status);
        }
        return result;
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (redis is null)
        {
            LogNoRedis(logger, identity.Service.Name, KnownEnvironment.RedisConnectionStringEnv);
            return;
        }
        var delay = new RetryDelay();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var connection = await redis.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
                var consumer = new StreamConsumer(connection, new StreamConsumerOptions
                {
                    Stream = identity.Service.InputStream,
                    Group = identity.Service.ConsumerGroup,
                    Consumer = identity.Instance,
                });
                await consumer.EnsureGroupAsync(stoppingToken).ConfigureAwait(false);
                LogGroupReady(logger, identity.Service.ConsumerGroup, identity.Service.InputStream);
                break;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                LogGroupFailed(logger, identity.Service.InputStream, e.Message);
            }
            await delay.WaitAsync(stoppingToken).ConfigureAwait(false);
        }
        await TrimLoopAsync(stoppingToken).ConfigureAwait(false);
    }

    // Acknowledged entries are removed from the input stream now and then, so Redis holds the
    // backlog, not every entry a run ever sent (a million-caption pool would otherwise stay in
    // memory). Every replica trims; XTRIM MINID is idempotent.
    private async Task TrimLoopAsync(CancellationToken stoppingToken)
    {
        var interval = configuration.GetValue("SynthVlm:Streams:TrimInterval", TimeSpan.FromSeconds(30));
        if (interval <= TimeSpan.Zero)
        {
            return;
        }
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(interval, stoppingToken).ConfigureAwait(false);
                var connection = await redis!.GetConnectionAsync(stoppingToken).ConfigureAwait(false);
                var trimmed = await StreamTrimmer.TrimAcknowledgedAsync(connection.GetDatabase(), identity.Service.InputStream, cancellationToken: stoppingToken).ConfigureAwait(false);
                if (trimmed > 0)
                {
                    LogTrimmed(logger, trimmed, identity.Service.InputStream);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e))
            {
                LogGroupFailed(logger, identity.Service.InputStream, e.Message);
            }
        }
    }

    [LoggerMessage(EventId = 203, Level = LogLevel.Debug, Message = "Trimmed {Count} acknowledged entries from {Stream}")]
    private static partial void LogTrimmed(ILogger logger, long count, string stream);

    [LoggerMessage(EventId = 200, Level = LogLevel.Warning, Message = "{Service}: no Redis configured ({Setting} is not set); serving gRPC and health only, no stream work")]
    private static partial void LogNoRedis(ILogger logger, string service, string setting);

    [LoggerMessage(EventId = 201, Level = LogLevel.Information, Message = "Consumer group {Group} ready on {Stream}")]
    private static partial void LogGroupReady(ILogger logger, string group, string stream);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "Could not create the consumer group on {Stream}: {Reason}; retrying")]
    private static partial void LogGroupFailed(ILogger logger, string stream, string reason);
}
