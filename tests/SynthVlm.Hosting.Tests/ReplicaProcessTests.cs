using FluentAssertions;
using SynthVlm.Hosting;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Hosting.Tests;

/// <summary>The supervisor against real child processes (sh).</summary>
public sealed class ReplicaProcessTests
{
    private static ReplicaProcess Supervise(string script, NullOutput output) =>
        new("job", new ClusterBuilder().AddService(KnownServices.Eval, "unused.dll"),
            new ReplicaLaunch("/bin/sh", ["-c", script], new Dictionary<string, string> { ["GREETING"] = "hello" }, new Dictionary<string, Uri>()),
            output);

    [Fact]
    public async Task A_crashing_process_is_restarted_with_its_last_lines_reported()
    {
        var output = new NullOutput();
        await using var replica = Supervise("echo \"$GREETING from $$\"; echo boom >&2; exit 3", output);

        replica.Start();
        await TestTimeout.Until(() => replica.Restarts >= 1 && replica.AllPids.Count >= 2, TimeSpan.FromSeconds(20), "a restart");
        await replica.StopAsync(TimeSpan.FromSeconds(5));

        // The exit code is asserted from the crash report: after StopAsync, LastExitCode may be
        // the SIGTERM (143) of a restarted instance that was still running.
        output.Events.Should().Contain(e => e.StartsWith("crashed job 3 [", StringComparison.Ordinal) && e.Contains("boom", StringComparison.Ordinal) && e.Contains("hello from", StringComparison.Ordinal));
        replica.State.Should().Be(ReplicaState.Stopped);
    }

    [Fact]
    public async Task Stop_sends_sigterm_and_the_process_is_gone()
    {
        var output = new NullOutput();
        await using var replica = Supervise("trap 'echo got-term; exit 0' TERM; echo ready; while true; do sleep 0.1; done", output);

        replica.Start();
        await TestTimeout.Until(() => replica.LastLines.Contains("ready"), what: "ready");
        var pid = replica.Pid!.Value;
        await replica.StopAsync(TimeSpan.FromSeconds(10));

        Directory.Exists($"/proc/{pid}").Should().BeFalse();
        replica.LastLines.Should().Contain("got-term");
        replica.Restarts.Should().Be(0);
    }

    [Fact]
    public async Task A_process_ignoring_sigterm_is_killed_after_the_grace_period()
    {
        var output = new NullOutput();
        await using var replica = Supervise("trap '' TERM; echo ready; while true; do sleep 0.1; done", output);

        replica.Start();
        await TestTimeout.Until(() => replica.LastLines.Contains("ready"), what: "ready");
        var pid = replica.Pid!.Value;
        await replica.StopAsync(TimeSpan.FromMilliseconds(500)).WithTimeout();

        Directory.Exists($"/proc/{pid}").Should().BeFalse();
        output.Events.Should().Contain(e => e.Contains("killing", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_missing_executable_is_reported_not_thrown()
    {
        var output = new NullOutput();
        await using var replica = new ReplicaProcess("ghost", new ClusterBuilder().AddService(KnownServices.Eval, "x.dll"),
            new ReplicaLaunch("/nonexistent/program", [], new Dictionary<string, string>(), new Dictionary<string, Uri>()), output);

        replica.Start();
        await TestTimeout.Until(() => replica.State == ReplicaState.FailedToStart, what: "FailedToStart");

        output.Events.Should().Contain(e => e.Contains("cannot start '/nonexistent/program'", StringComparison.Ordinal));
    }
}
