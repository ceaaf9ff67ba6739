namespace SynthVlm.Dashboard;

/// <summary>One line a resource printed.</summary>
public sealed record ConsoleLine(long Sequence, DateTimeOffset Time, string Resource, string Text, bool IsError);

/// <summary>The console output of every resource, the last lines of each kept. Thread-safe.</summary>
public sealed class ConsoleLogStore
{
    private readonly int _linesPerResource;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Queue<ConsoleLine>> _lines = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private long _sequence;
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Keeps <paramref name="linesPerResource"/> lines per resource.</summary>
    public ConsoleLogStore(int linesPerResource = 5000, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(linesPerResource, 1);
        _linesPerResource = linesPerResource;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>Increases with every line.</summary>
    public long Version => Interlocked.Read(ref _sequence);

    /// <summary>Records a line of <paramref name="resource"/>.</summary>
    public void Append(string resource, string text, bool isError)
    {
        ArgumentNullException.ThrowIfNull(resource);
        ArgumentNullException.ThrowIfNull(text);
        TaskCompletionSource signal;
        lock (_lock)
        {
            if (!_lines.TryGetValue(resource, out var queue))
            {
                queue = new Queue<ConsoleLine>();
                _lines.Add(resource, queue);
            }
            queue.Enqueue(new ConsoleLine(Interlocked.Increment(ref _sequence), _time.GetUtcNow(), resource, text, isError));
            if (queue.Count > _linesPerResource)
            {
                queue.Dequeue();
            }
            signal = _changed;
            _changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        signal.TrySetResult();
    }

    /// <summary>The resources that printed something.</summary>
    public IReadOnlyList<string> Resources
    {
        get
        {
            lock (_lock)
            {
                return [.. _lines.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Lines after <paramref name="afterSequence"/> of one resource (or all), oldest first; the newest <paramref name="limit"/> of them.</summary>
    public IReadOnlyList<ConsoleLine> Read(string? resource, long afterSequence, int limit)
    {
        List<ConsoleLine> result;
        lock (_lock)
        {
            IEnumerable<ConsoleLine> lines = resource is null
                ? _lines.Values.SelectMany(q => q)
                : _lines.TryGetValue(resource, out var queue) ? queue : [];
            result = [.. lines.Where(l => l.Sequence > afterSequence)];
        }
        result.Sort((a, b) => a.Sequence.CompareTo(b.Sequence));
        return result.Count > limit ? result[^Math.Max(0, limit)..] : result;
    }

    /// <summary>Completes when a line newer than <paramref name="seenVersion"/> exists.</summary>
    public Task WaitForChangeAsync(long seenVersion, CancellationToken cancellationToken)
    {
        Task changed;
        lock (_lock)
        {
            if (Interlocked.Read(ref _sequence) > seenVersion)
            {
                return Task.CompletedTask;
            }
            changed = _changed.Task;
        }
        return changed.WaitAsync(cancellationToken);
    }
}
