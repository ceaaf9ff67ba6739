using FluentAssertions;
using SynthVlm.Core.Concurrency;
using Xunit;

namespace SynthVlm.Core.Tests;

public sealed class SequentialJobManagerTests
{
    [Fact]
    public async Task Jobs_run_one_at_a_time_in_submission_order_and_watchers_see_the_final_status_last()
    {
        await using var manager = new GateManager();
        var first = manager.Submit(new GateRequest("a", Path.Combine(Path.GetTempPath(), "seq-a")));
        var second = manager.Submit(new GateRequest("b", Path.Combine(Path.GetTempPath(), "seq-b")));
        first.Id.Should().StartWith("gate-").And.HaveLength("gate-".Length + 12);
        (await manager.StartedAsync("a")).Should().BeTrue();
        manager.Get(second.Id)!.State.Should().Be("queued", "one job runs at a time");

        manager.Release("a", "done a");
        var watched = new List<GateStatus>();
        await foreach (var status in manager.WatchAsync(first.Id))
        {
            watched.Add(status);
        }
        watched[^1].State.Should().Be("succeeded");
        watched[^1].Message.Should().Be("done a");
        (await manager.StartedAsync("b")).Should().BeTrue();
        manager.Release("b", "done b");
        await foreach (var _ in manager.WatchAsync(second.Id))
        {
        }
        manager.List().Select(s => s.Message).Should().Equal("done a", "done b");
        SpinWait.SpinUntil(() => manager.EndedIds().Count == 2, TimeSpan.FromMinutes(2));
        manager.EndedIds().Should().Equal(first.Id, second.Id);
    }

    [Fact]
    public async Task A_queued_job_cancels_at_once_a_running_one_through_its_token_and_a_busy_folder_is_refused()
    {
        await using var manager = new GateManager();
        var folder = Path.Combine(Path.GetTempPath(), "seq-busy");
        var running = manager.Submit(new GateRequest("r", folder));
        (await manager.StartedAsync("r")).Should().BeTrue();
        var again = () => manager.Submit(new GateRequest("r2", folder));
        again.Should().Throw<InvalidOperationException>().WithMessage($"*{folder}*in use by job {running.Id} (running)*");

        var queued = manager.Submit(new GateRequest("q", Path.Combine(Path.GetTempPath(), "seq-q")));
        manager.Cancel(queued.Id)!.State.Should().Be("cancelled before it started");
        manager.Cancel(running.Id).Should().NotBeNull();
        await foreach (var _ in manager.WatchAsync(running.Id))
        {
        }
        manager.Get(running.Id)!.State.Should().Be("cancelled");
        manager.Started.Should().NotContain("q", "a job cancelled in the queue never runs");
        manager.Cancel("nope").Should().BeNull();
        manager.Get("nope").Should().BeNull();
        var watchUnknown = () => manager.WatchAsync("nope");
        watchUnknown.Should().Throw<KeyNotFoundException>().WithMessage("no gate job 'nope'.");
    }

    [Fact]
    public async Task A_request_that_fails_validation_is_not_queued()
    {
        await using var manager = new GateManager();
        var bad = () => manager.Submit(new GateRequest("", Path.GetTempPath()));
        bad.Should().Throw<ArgumentException>().Which.ParamName.Should().Be("name");
        manager.List().Should().BeEmpty();
    }

    private sealed record GateRequest(string Name, string Output);

    private sealed record GateStatus(string Id, string State, string OutputDirectory, string Message) : IQueuedJobStatus
    {
        public bool IsFinal => State is "succeeded" or "cancelled" or "cancelled before it started";

        public bool IsQueued => State == "queued";
    }

    /// <summary>Each job runs until the test releases it (or cancels it).</summary>
    private sealed class GateManager : SequentialJobManager<GateRequest, GateStatus>
    {
        private readonly Dictionary<string, TaskCompletionSource<string>> gates = [];
        private readonly Dictionary<string, TaskCompletionSource<bool>> started = [];
        private readonly List<string> ended = [];
        private readonly Lock gate = new();

        public GateManager()
            : base("gate", "gate")
        {
            JobEnded += s =>
            {
                lock (gate)
                {
                    ended.Add(s.Id);
                }
            };
        }

        public List<string> Started { get; } = [];

        public List<string> EndedIds()
        {
            lock (gate)
            {
                return [.. ended];
            }
        }

        public Task<bool> StartedAsync(string name) => StartedSource(name).Task.WaitAsync(TimeSpan.FromMinutes(2));

        public void Release(string name, string message) => Gate(name).TrySetResult(message);

        protected override void Validate(GateRequest request)
        {
            if (request.Name.Length == 0)
            {
                throw new ArgumentException("is empty.", "name");
            }
        }

        protected override string OutputDirectoryOf(GateRequest request) => request.Output;

        protected override GateRequest Prepare(GateRequest request, string outputDirectory, string? currentTraceParent) => request with { Output = outputDirectory };

        protected override GateStatus Queued(string id, GateRequest request, string outputDirectory) => new(id, "queued", outputDirectory, request.Name);

        protected override GateStatus CancelledBeforeStart(GateStatus status) => status with { State = "cancelled before it started" };

        protected override async Task<GateStatus> RunAsync(TrackedJob<GateRequest, GateStatus> job)
        {
            job.Publish(job.Status with { State = "running" });
            lock (gate)
            {
                Started.Add(job.Request.Name);
            }
            StartedSource(job.Request.Name).TrySetResult(true);
            try
            {
                var message = await Gate(job.Request.Name).Task.WaitAsync(job.Cancellation.Token);
                return job.Status with { State = "succeeded", Message = message };
            }
            catch (OperationCanceledException)
            {
                return job.Status with { State = "cancelled" };
            }
        }

        private TaskCompletionSource<string> Gate(string name)
        {
            lock (gate)
            {
                return gates.TryGetValue(name, out var g) ? g : gates[name] = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        private TaskCompletionSource<bool> StartedSource(string name)
        {
            lock (gate)
            {
                return started.TryGetValue(name, out var s) ? s : started[name] = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }
}
