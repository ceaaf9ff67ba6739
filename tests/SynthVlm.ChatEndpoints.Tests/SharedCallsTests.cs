using SynthVlm.Testing;

namespace SynthVlm.ChatEndpoints.Tests;

/// <summary><see cref="SharedCalls{TKey, TResult}"/>: one call per key in flight, the cache before and after ownership, a cancelled owner.</summary>
public sealed class SharedCallsTests
{
    private static readonly Func<(bool, string)> NoCache = () => (false, string.Empty);

    [Fact]
    public async Task A_second_caller_for_the_same_key_waits_for_the_first_call()
    {
        var calls = new SharedCalls<string, string>(StringComparer.Ordinal);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var made = 0;
        Task<string> Call()
        {
            Interlocked.Increment(ref made);
            return release.Task;
        }

        var first = calls.RunAsync("k", NoCache, Call, CancellationToken.None);
        var second = calls.RunAsync("k", NoCache, Call, CancellationToken.None);
        release.SetResult("answer");

        (await first.WithTimeout()).Should().Be(("answer", SharedCallSource.Called));
        (await second.WithTimeout()).Should().Be(("answer", SharedCallSource.Shared));
        made.Should().Be(1);
    }

    [Fact]
    public async Task A_cache_hit_makes_no_call_and_a_finished_key_is_called_again()
    {
        var calls = new SharedCalls<string, string>();
        var made = 0;
        Task<string> Call() => Task.FromResult($"call {Interlocked.Increment(ref made)}");

        (await calls.RunAsync("k", () => (true, "cached"), Call, CancellationToken.None).WithTimeout()).Should().Be(("cached", SharedCallSource.Cache));
        (await calls.RunAsync("k", NoCache, Call, CancellationToken.None).WithTimeout()).Should().Be(("call 1", SharedCallSource.Called));
        (await calls.RunAsync("k", NoCache, Call, CancellationToken.None).WithTimeout()).Should().Be(("call 2", SharedCallSource.Called));
    }

    [Fact]
    public async Task A_waiter_whose_owner_was_cancelled_makes_the_call_itself_and_a_failure_reaches_waiters()
    {
        var calls = new SharedCalls<string, string>();
        using var ownerStop = new CancellationTokenSource();
        var ownerStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var owner = calls.RunAsync("k", NoCache, async () =>
        {
            ownerStarted.SetResult();
            await Task.Delay(Timeout.Infinite, ownerStop.Token);
            return "never";
        }, ownerStop.Token);
        await ownerStarted.Task.WithTimeout();
        var waiter = calls.RunAsync("k", NoCache, () => Task.FromResult("mine"), CancellationToken.None);
        await ownerStop.CancelAsync();

        await FluentActions.Awaiting(() => owner.WithTimeout()).Should().ThrowAsync<OperationCanceledException>();
        (await waiter.WithTimeout()).Should().Be(("mine", SharedCallSource.Called));

        var failing = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var failed = calls.RunAsync("f", NoCache, () => failing.Task, CancellationToken.None);
        var sharer = calls.RunAsync("f", NoCache, () => Task.FromResult("unused"), CancellationToken.None);
        failing.SetException(new InvalidOperationException("endpoint down"));
        await FluentActions.Awaiting(() => failed.WithTimeout()).Should().ThrowAsync<InvalidOperationException>();
        await FluentActions.Awaiting(() => sharer.WithTimeout()).Should().ThrowAsync<InvalidOperationException>().WithMessage("endpoint down");
    }
}
