using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;

namespace SynthVlm.Core.Concurrency;

/// <summary>The status of a job that writes to an output folder and waits in a queue before it runs.</summary>
public interface IQueuedJobStatus : IJobStatus
{
    /// <summary>The job's id.</summary>
    string Id { get; }

    /// <summary>The job's output folder (absolute); two unfinished jobs never share one.</summary>
    string OutputDirectory { get; }

    /// <summary>Whether the job is still waiting (a cancel then ends it at once).</summary>
    bool IsQueued { get; }
}

/// <summary>
/// Runs jobs one at a time (one model in memory) and queues the rest: submission with validation and an
/// output-folder check, lookup, listing, cancellation and watching. Watchers see the latest status and every
/// change after it (changes in quick succession may be coalesced into the latest). Jobs are remembered for the
/// life of the manager; what they wrote to their output folders is what survives it.
/// </summary>
/// <typeparam name="TRequest">What is submitted.</typeparam>
/// <typeparam name="TStatus">A job's status.</typeparam>
public abstract class SequentialJobManager<TRequest, TStatus> : IAsyncDisposable
    where TRequest : class
    where TStatus : class, IQueuedJobStatus
{
    private readonly Channel<TrackedJob<TRequest, TStatus>> queue = Channel.CreateUnbounded<TrackedJob<TRequest, TStatus>>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, TrackedJob<TRequest, TStatus>> jobs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly Lock submitLock = new();
    private readonly string idPrefix;
    private readonly string noun;
    private readonly Task worker;
    private long order;

    /// <summary>Starts the worker.</summary>
    /// <param name="idPrefix">What job ids start with ("eval" gives "eval-" and 12 hex digits).</param>
    /// <param name="noun">What a job is called in messages ("evaluation" gives "no evaluation job 'x'").</param>
    protected SequentialJobManager(string idPrefix, string noun)
    {
        ArgumentException.ThrowIfNullOrEmpty(idPrefix);
        ArgumentException.ThrowIfNullOrEmpty(noun);
        this.idPrefix = idPrefix;
        this.noun = noun;
        worker = Task.Run(WorkAsync);
    }

    /// <summary>Hears every job that ends.</summary>
    public event Action<TStatus>? JobEnded;

    /// <summary>Validates and queues a job.</summary>
    /// <exception cref="ArgumentException">A field is wrong; ParamName names it.</exception>
    /// <exception cref="InvalidOperationException">A queued or running job writes to the same output folder.</exception>
    public TStatus Submit(TRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var output = Path.GetFullPath(OutputDirectoryOf(request));
        lock (submitLock)
        {
            if (jobs.Values.FirstOrDefault(j => !j.Status.IsFinal && j.Status.OutputDirectory == output) is { } busy)
            {
                throw new InvalidOperationException($"output folder {output} is in use by job {busy.Status.Id} ({busy.Status.IsQueued switch { true => "queued", false => "running" }}); wait for it or cancel it.");
            }
            var id = $"{idPrefix}-{Guid.NewGuid():N}"[..(idPrefix.Length + 13)];
            var job = new TrackedJob<TRequest, TStatus>(Prepare(request, output, Activity.Current?.Id), Interlocked.Increment(ref order), Queued(id, request, output));
            jobs[id] = job;
            queue.Writer.TryWrite(job);
            return job.Status;
        }
    }

    /// <summary>The job with <paramref name="id"/>, or null.</summary>
    public TStatus? Get(string id) => jobs.TryGetValue(id ?? "", out var job) ? job.Status : null;

    /// <summary>Every job, oldest first.</summary>
    public IReadOnlyList<TStatus> List() => [.. jobs.Values.OrderBy(j => j.Order).Select(j => j.Status)];

    /// <summary>Cancels a queued job at once and a running one at its next cancellation check; null when unknown.</summary>
    public TStatus? Cancel(string id)
    {
        if (!jobs.TryGetValue(id ?? "", out var job))
        {
            return null;
        }
        job.Cancellation.Cancel();
        if (job.Status.IsQueued && job.TryEnd(CancelledBeforeStart(job.Status)))
        {
            Ended(job.Status, 0);
        }
        return job.Status;
    }

    /// <summary>The job's status now, then its changes, until it ends (the last item is final).</summary>
    /// <exception cref="KeyNotFoundException">No job has <paramref name="id"/>.</exception>
    public IAsyncEnumerable<TStatus> WatchAsync(string id, CancellationToken cancellationToken = default) =>
        jobs.TryGetValue(id ?? "", out var job) ? job.WatchAsync(cancellationToken) : throw new KeyNotFoundException($"no {noun} job '{id}'.");

    /// <summary>Cancels every job and stops the worker.</summary>
    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        foreach (var job in jobs.Values)
        {
            Cancel(job.Status.Id);
        }
        await stopping.CancelAsync().ConfigureAwait(false);
        await worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stopping.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>Throws <see cref="ArgumentException"/> naming the wrong field of <paramref name="request"/>.</summary>
    protected abstract void Validate(TRequest request);

    /// <summary>The output folder <paramref name="request"/> names (made absolute by the caller).</summary>
    protected abstract string OutputDirectoryOf(TRequest request);

    /// <summary>The request as the job keeps it: its output folder absolute, its trace parent filled in when it had none.</summary>
    protected abstract TRequest Prepare(TRequest request, string outputDirectory, string? currentTraceParent);

    /// <summary>A new job's first status.</summary>
    protected abstract TStatus Queued(string id, TRequest request, string outputDirectory);

    /// <summary>The final status of a job cancelled while it waited.</summary>
    protected abstract TStatus CancelledBeforeStart(TStatus status);

    /// <summary>Runs a job on the worker and returns its final status; failures and cancellation are statuses, not exceptions.</summary>
    protected abstract Task<TStatus> RunAsync(TrackedJob<TRequest, TStatus> job);

    /// <summary>Called once when a job ends, before <see cref="JobEnded"/> (telemetry).</summary>
    /// <param name="status">The final status.</param>
    /// <param name="seconds">How long it ran (0 when it never started).</param>
    protected virtual void OnEnded(TStatus status, double seconds)
    {
    }

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var job in queue.Reader.ReadAllAsync(stopping.Token).ConfigureAwait(false))
            {
                if (job.Status.IsFinal)
                {
                    continue;
                }
                var started = Stopwatch.GetTimestamp();
                var final = await RunAsync(job).ConfigureAwait(false);
                if (job.TryEnd(final))
                {
                    Ended(final, Stopwatch.GetElapsedTime(started).TotalSeconds);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private void Ended(TStatus status, double seconds)
    {
        OnEnded(status, seconds);
        JobEnded?.Invoke(status);
    }
}
