using System.Collections.Concurrent;

namespace SynthVlm.ChatEndpoints;

/// <summary>Where <see cref="SharedCalls{TKey, TResult}.RunAsync"/> got its result.</summary>
public enum SharedCallSource
{
    /// <summary>This caller made the call.</summary>
    Called,

    /// <summary>The cache had it (before the call, or filled by a call that finished meanwhile).</summary>
    Cache,

    /// <summary>An identical call in flight at the same time made it; this caller waited for it.</summary>
    Shared,
}

/// <summary>
/// Identical calls made at the same time share one: the first caller for a key makes the call, later
/// callers for that key wait for its result (the cache-backed clients' de-duplication).
/// </summary>
/// <typeparam name="TKey">What makes two calls identical.</typeparam>
/// <typeparam name="TResult">The call's result.</typeparam>
/// <remarks>
/// The cache is looked at first, and again by the caller that takes ownership of a key (a call that
/// finished in between has filled it). A caller waiting for another is given that call's result or
/// exception; if the owner was cancelled and the waiter was not, the waiter starts over (cache, then
/// ownership). The key is released when the owner's call ends, however it ends.
/// </remarks>
public sealed class SharedCalls<TKey, TResult>
    where TKey : notnull
{
    private readonly ConcurrentDictionary<TKey, Task<TResult>> _inFlight;

    /// <summary>Creates an empty set of calls in flight.</summary>
    /// <param name="comparer">How keys are compared; null for the default comparer.</param>
    public SharedCalls(IEqualityComparer<TKey>? comparer = null)
    {
        _inFlight = new ConcurrentDictionary<TKey, Task<TResult>>(comparer);
    }

    /// <summary>
    /// Gets the result for <paramref name="key"/>: from <paramref name="cached"/>, from an identical call
    /// in flight, or by running <paramref name="call"/> (which should fill the cache itself where it should).
    /// </summary>
    /// <param name="key">The call's identity.</param>
    /// <param name="cached">A cache lookup: (true, result) on a hit.</param>
    /// <param name="call">Makes the call.</param>
    /// <param name="cancellationToken">Cancels this caller's wait (and its own call).</param>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<(TResult Result, SharedCallSource Source)> RunAsync(
        TKey key, Func<(bool Found, TResult Result)> cached, Func<Task<TResult>> call, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(cached);
        ArgumentNullException.ThrowIfNull(call);
        while (true)
        {
            if (cached() is (true, var hit))
            {
                return (hit, SharedCallSource.Cache);
            }
            var mine = new TaskCompletionSource<TResult>(TaskCreationOptions.RunContinuationsAsynchronously);
            var owner = _inFlight.GetOrAdd(key, mine.Task);
            if (owner != mine.Task)
            {
                try
                {
                    return (await owner.WaitAsync(cancellationToken).ConfigureAwait(false), SharedCallSource.Shared);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    // The caller that owned the call gave up; this one still wants a result.
                    continue;
                }
            }
            try
            {
                // A call that finished between the cache miss and taking ownership has filled the cache.
                if (cached() is (true, var late))
                {
                    mine.SetResult(late);
                    return (late, SharedCallSource.Cache);
                }
                var result = await call().ConfigureAwait(false);
                mine.SetResult(result);
                return (result, SharedCallSource.Called);
            }
            catch (OperationCanceledException)
            {
                mine.TrySetCanceled(cancellationToken);
                throw;
            }
            catch (Exception e)
            {
                mine.TrySetException(e);
                throw;
            }
            finally
            {
                _inFlight.TryRemove(new KeyValuePair<TKey, Task<TResult>>(key, mine.Task));
            }
        }
    }
}
