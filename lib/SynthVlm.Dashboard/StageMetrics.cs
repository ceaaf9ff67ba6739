using SynthVlm.Dashboard.Telemetry;
using SynthVlm.Streams;

namespace SynthVlm.Dashboard;

/// <summary>
/// Per-stage numbers for the metrics page: throughput and handle time from the services' stream
/// metrics, CPU time per item from the runtime's process CPU counter, model time per item from
/// the diffusion and scoring histograms, and lag/pending straight from Redis.
/// </summary>
internal static class StageMetrics
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, string> ModelHistograms = new(StringComparer.Ordinal)
    {
        [KnownServices.Diffusion.Name] = "synthvlm.diffusion.step.duration",
        [KnownServices.Scoring.Name] = "synthvlm.scoring.inference.duration",
    };

    public static async Task<object> ComputeAsync(DashboardData data, CancellationToken cancellationToken)
    {
        var telemetry = data.Telemetry;
        var queues = await QueuesAsync(data, cancellationToken).ConfigureAwait(false);
        var stages = new List<object>();
        foreach (var service in KnownServices.All)
        {
            // The stream transport tags its instruments with the group and the stream (sorted by key here).
            var attributes = $"{StreamTelemetry.GroupTag}={service.ConsumerGroup},{StreamTelemetry.StreamTag}={service.InputStream}";
            var acked = Delta(telemetry.ListMetrics(service.Name, StreamTelemetry.AckedCounter).Where(s => s.Key.Name == StreamTelemetry.AckedCounter && s.Key.Attributes == attributes));
            var failed = Delta(telemetry.ListMetrics(service.Name, StreamTelemetry.FailedCounter).Where(s => s.Key.Name == StreamTelemetry.FailedCounter && s.Key.Attributes == attributes));
            var handle = HistogramDelta(telemetry.ListMetrics(service.Name, StreamTelemetry.HandleDurationHistogram).Where(s => s.Key.Attributes == attributes));
            var cpu = Delta(telemetry.ListMetrics(service.Name, "dotnet.process.cpu.time"));
            var model = ModelHistograms.TryGetValue(service.Name, out var histogram) ? HistogramDelta(telemetry.ListMetrics(service.Name, histogram).Where(s => s.Key.Name == histogram)) : default;
            queues.TryGetValue(service.Name, out var queue);
            stages.Add(new
            {
                stage = service.Name,
                stream = service.InputStream,
                throughput = acked.Seconds > 0 ? acked.Value / acked.Seconds : (double?)null,
                acked = acked.Total,
                failed = failed.Total,
                meanHandleSeconds = handle.Count > 0 ? handle.Sum / handle.Count : (double?)null,
                cpuSecondsPerItem = acked.Value > 0 && cpu.Seconds > 0 ? cpu.Value / acked.Value : (double?)null,
                modelSecondsPerItem = acked.Value > 0 && model.Count > 0 ? model.Sum / acked.Value : (double?)null,
                lag = queue?.Lag,
                pending = queue?.Pending,
                consumers = queue?.Consumers,
                length = queue?.Length,
            });
        }
        return new
        {
            windowSeconds = Window.TotalSeconds,
            stages,
            queuesUnavailable = queues.Count == 0 ? QueueProblem : null,
            series = telemetry.ListMetrics().Count,
        };
    }

    private const string QueueProblem = "stream lag needs the cluster's Redis";

    private static async Task<Dictionary<string, StreamQueueInfo>> QueuesAsync(DashboardData data, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, StreamQueueInfo>(StringComparer.Ordinal);
        using var box = data.TimeBox(cancellationToken);
        try
        {
            var inspector = new StreamQueueInspector(await data.RedisAsync(box.Token).ConfigureAwait(false));
            foreach (var service in KnownServices.All)
            {
                result[service.Name] = await inspector.GetQueueInfoAsync(service.InputStream, service.ConsumerGroup, box.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SourceUnavailableException or IOException || RedisConnections.IsRedisFailure(e) || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Shown as "no lag data"; the rest of the page still has the telemetry.
        }
        return result;
    }

    /// <summary>Growth of cumulative sums over the window, summed over series (replicas): value, seconds, and the latest total.</summary>
    private static (double Value, double Seconds, double Total) Delta(IEnumerable<MetricSeries> series)
    {
        double value = 0, seconds = 0, total = 0;
        foreach (var s in series)
        {
            if (s.Points.Count == 0)
            {
                continue;
            }
            var last = s.Points[^1];
            total += last.Value;
            var first = s.Points.LastOrDefault(p => last.Time - p.Time >= Window) ?? s.Points[0];
            if (s.Cumulative)
            {
                value += last.Value - first.Value;
            }
            else
            {
                value += s.Points.Where(p => p.Time > first.Time).Sum(p => p.Value);
            }
            seconds = Math.Max(seconds, (last.Time - first.Time).TotalSeconds);
        }
        return (value, seconds, total);
    }

    private static (double Sum, long Count) HistogramDelta(IEnumerable<MetricSeries> series)
    {
        double sum = 0;
        long count = 0;
        foreach (var s in series)
        {
            if (s.Points.Count == 0 || !s.Cumulative)
            {
                continue;
            }
            var last = s.Points[^1];
            var first = s.Points.LastOrDefault(p => last.Time - p.Time >= Window);
            sum += last.Value - (first?.Value ?? 0);
            count += last.Count - (first?.Count ?? 0);
        }
        return (sum, count);
    }
}
