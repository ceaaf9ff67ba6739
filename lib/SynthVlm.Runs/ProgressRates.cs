using SynthVlm.Protos.V1;

namespace SynthVlm.Runs;

/// <summary>
/// Fills <see cref="StageProgress.Rate"/> and <see cref="StageProgress.EtaSeconds"/> from successive
/// snapshots of one run: items finished per second over a sliding window, and the time left at that
/// rate. One instance per watcher.
/// </summary>
public sealed class ProgressRates
{
    private readonly TimeSpan _window;
    private readonly Dictionary<string, Queue<(long Ticks, long Finished)>> _samples = new(StringComparer.Ordinal);

    /// <summary>Creates an estimator over a window of <paramref name="window"/> (default 10 s).</summary>
    public ProgressRates(TimeSpan? window = null) => _window = window ?? TimeSpan.FromSeconds(10);

    /// <summary>Records the run's counts at <paramref name="now"/> and sets each stage's rate and ETA.</summary>
    public void Update(Run run, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(run);
        foreach (var stage in run.Stages)
        {
            var finished = stage.Processed + stage.DeadLettered;
            if (!_samples.TryGetValue(stage.Stage, out var samples))
            {
                _samples[stage.Stage] = samples = new Queue<(long, long)>();
            }
            samples.Enqueue((now.UtcTicks, finished));
            while (samples.Count > 2 && now.UtcTicks - samples.Peek().Ticks > _window.Ticks)
            {
                samples.Dequeue();
            }
            var (firstTicks, firstFinished) = samples.Peek();
            var seconds = (now.UtcTicks - firstTicks) / (double)TimeSpan.TicksPerSecond;
            stage.Rate = seconds > 0 ? (finished - firstFinished) / seconds : 0;
            var left = stage.Emitted - finished;
            stage.EtaSeconds = stage.Done ? 0 : left > 0 && stage.Rate > 0 ? left / stage.Rate : -1;
        }
    }
}
