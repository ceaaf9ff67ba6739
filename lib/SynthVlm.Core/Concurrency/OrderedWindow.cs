using System.Runtime.CompilerServices;

namespace SynthVlm.Core.Concurrency;

/// <summary>
/// Maps a stream through an asynchronous function with at most a window of calls in flight, handing the results
/// out in input order: what judges and samplers use so that memory and load are bounded by the window, not by the
/// input, and records come out in a stable order.
/// </summary>
public static class OrderedWindow
{
    /// <summary>
    /// The results of <paramref name="map"/> over <paramref name="source"/>, in order, with at most
    /// <paramref name="window"/> calls started and not yet handed out. When the consumer stops early (or the
    /// enumeration fails), the calls still in flight are cancelled and observed, so none ends as an unobserved
    /// exception.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="window"/> is below 1.</exception>
    public static async IAsyncEnumerable<TResult> SelectAsync<TItem, TResult>(
        IAsyncEnumerable<TItem> source,
        int window,
        Func<TItem, CancellationToken, Task<TResult>> map,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(map);
        ArgumentOutOfRangeException.ThrowIfLessThan(window, 1);
        // Cancelled when the consumer stops early, so abandoned read-ahead calls stop too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var pending = new Queue<Task<TResult>>();
        try
        {
            await foreach (var item in source.WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                if (pending.Count >= window)
                {
                    yield return await pending.Dequeue().ConfigureAwait(false);
                }
                pending.Enqueue(map(item, stop.Token));
            }
            while (pending.Count > 0)
            {
                yield return await pending.Dequeue().ConfigureAwait(false);
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            while (pending.Count > 0)
            {
                await pending.Dequeue().ContinueWith(static _ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default).ConfigureAwait(false);
            }
        }
    }
}
