using System.Collections.Concurrent;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;

namespace SynthVlm.Dashboard;

/// <summary>
/// Per-stage rate and ETA for the pages: every answer of the Runs API the front end gets (the
/// pages poll every two seconds) is a sample of the run's per-stage counts, and
/// <see cref="ProgressRates"/> turns successive samples into items per second over a sliding
/// window and the time left at that rate. Nothing comes from telemetry.
/// </summary>
internal sealed class RunRates(TimeProvider clock)
{
    // Runs whose samples are kept; beyond it the oldest-sampled are forgotten (their rate restarts at 0).
    private const int MaxRuns = 256;

    private readonly ConcurrentDictionary<string, Entry> _runs = new(StringComparer.Ordinal);

    /// <summary>Records <paramref name="run"/>'s counts now and fills its stages' Rate and EtaSeconds.</summary>
    public void Sample(Run run)
    {
        var now = clock.GetUtcNow();
        var entry = _runs.GetOrAdd(run.Id, _ => new Entry());
        lock (entry)
        {
            entry.Rates.Update(run, now);
            entry.LastSample = now;
        }
        if (_runs.Count > MaxRuns)
        {
            foreach (var stale in _runs.OrderBy(p => p.Value.LastSample).Take(_runs.Count - MaxRuns).ToList())
            {
                _runs.TryRemove(stale.Key, out _);
            }
        }
    }

    private sealed class Entry
    {
        public ProgressRates Rates { get; } = new();

        public DateTimeOffset LastSample { get; set; }
    }
}
