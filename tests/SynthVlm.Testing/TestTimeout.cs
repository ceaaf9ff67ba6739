namespace SynthVlm.Testing;

/// <summary>Every await in a test goes through these, so no test can hang CI.</summary>
public static class TestTimeout
{
    /// <summary>The default bound for one awaited step.</summary>
    public static TimeSpan Default { get; } = TimeSpan.FromSeconds(30);

    /// <summary>A token cancelled after <paramref name="timeout"/> (default <see cref="Default"/>).</summary>
    public static CancellationToken Token(TimeSpan? timeout = null) =>
        new CancellationTokenSource(timeout ?? Default).Token;

    /// <summary>Awaits the task, failing with <see cref="TimeoutException"/> after the timeout.</summary>
    public static async Task WithTimeout(this Task task, TimeSpan? timeout = null)
    {
        await task.WaitAsync(timeout ?? Default);
    }

    /// <summary>Awaits the task, failing with <see cref="TimeoutException"/> after the timeout.</summary>
    public static async Task<T> WithTimeout<T>(this Task<T> task, TimeSpan? timeout = null)
    {
        return await task.WaitAsync(timeout ?? Default);
    }

    /// <summary>Awaits the value task, failing with <see cref="TimeoutException"/> after the timeout.</summary>
    public static Task<T> WithTimeout<T>(this ValueTask<T> task, TimeSpan? timeout = null) =>
        task.AsTask().WithTimeout(timeout);

    /// <summary>Polls <paramref name="condition"/> until it holds or the timeout passes.</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan? timeout = null, string? what = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? Default);
        while (true)
        {
            if (await condition())
            {
                return;
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Timed out waiting for {what ?? "condition"}.");
            }
            await Task.Delay(20);
        }
    }

    /// <summary>Polls <paramref name="condition"/> until it holds or the timeout passes.</summary>
    public static Task Until(Func<bool> condition, TimeSpan? timeout = null, string? what = null) =>
        Until(() => Task.FromResult(condition()), timeout, what);
}
