using System.Runtime.CompilerServices;

namespace SynthVlm.Core.Concurrency;

/// <summary>A job's status as a job manager publishes it.</summary>
public interface IJobStatus
{
    /// <summary>Whether the job has ended (succeeded, failed or cancelled): no later status replaces it.</summary>
    bool IsFinal { get; }
}

/// <summary>
/// A queued or running job of a one-at-a-time job manager (evaluation, recaptioning): its request, its place in the
/// queue, its cancellation, and a status that watchers follow until it ends. Publishing after the end is ignored,
/// so a late progress report cannot overwrite the final state.
/// </summary>
/// <typeparam name="TRequest">What was submitted.</typeparam>
/// <typeparam name="TStatus">The job's status.</typeparam>
public sealed class TrackedJob<TRequest, TStatus>(TRequest request, long order, TStatus status)
    where TStatus : class, IJobStatus
{
    private readonly Lock gate = new();
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>What was submitted.</summary>
    public TRequest Request { get; } = request;

    /// <summary>The submission order (List sorts by it).</summary>
    public long Order { get; } = order;

    /// <summary>Cancelled to stop the job.</summary>
    public CancellationTokenSource Cancellation { get; } = new();

    /// <summary>The status now.</summary>
    public TStatus Status { get; private set; } = status;

    /// <summary>The status now and a task that completes at its next change.</summary>
    public (TStatus Status, Task Changed) Snapshot()
    {
        lock (gate)
        {
            return (Status, changed.Task);
        }
    }

    /// <summary>Replaces a status that has not ended; ignored once it has.</summary>
    public void Publish(TStatus next)
    {
        lock (gate)
        {
            if (Status.IsFinal)
            {
                return;
            }
            Status = next;
            changed.TrySetResult();
            changed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Ends the job; false when it had ended already.</summary>
    public bool TryEnd(TStatus final)
    {
        lock (gate)
        {
            if (Status.IsFinal)
            {
                return false;
            }
            Status = final;
            changed.TrySetResult();
            return true;
        }
    }

    /// <summary>The status now, then every change, until it ends (the last item is final).</summary>
    public async IAsyncEnumerable<TStatus> WatchAsync([EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var (current, next) = Snapshot();
            yield return current;
            if (current.IsFinal)
            {
                yield break;
            }
            await next.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}

/// <summary>An <see cref="IProgress{T}"/> that reports on the caller's thread (a job's status must not lag behind its end).</summary>
/// <typeparam name="T">The progress value.</typeparam>
public sealed class SynchronousProgress<T>(Action<T> report) : IProgress<T>
{
    /// <inheritdoc />
    public void Report(T value) => report(value);
}
