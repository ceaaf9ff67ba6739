using System.Globalization;
using FluentAssertions;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.AppHost.Tests;

/// <summary>
/// The README's first command in a real terminal (tmux): `dotnet run --project AppHost` starts
/// everything, and Ctrl+C — the terminal's SIGINT to the foreground process group, which a
/// backgrounded process would ignore — stops it, leaving no process behind: not the services, not
/// redis-server, not DCP, not the dashboard.
/// </summary>
public sealed class TerminalTests : IDisposable
{
    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-terminal-").FullName;
    private readonly string _session = "synthvlm-" + Guid.NewGuid().ToString("N")[..8];

    [Fact]
    public async Task Ctrl_c_in_the_terminal_stops_the_apphost_and_everything_it_started()
    {
        var marker = Guid.NewGuid().ToString("N");
        var output = Path.Combine(_dataDir, "terminal.txt");
        // The build happened before the tests (this project references the AppHost); --no-build keeps
        // a second build from racing the test run. The marker is inherited by DCP and every replica.
        var command = $"cd '{RepoPaths.Root}' && SYNTHVLM_TEST_MARKER={marker} dotnet run --no-build --project AppHost -- " +
            $"--data-dir '{_dataDir}' --dashboard-port 0 --otlp-port 0 > '{output}' 2>&1; echo \"exit=$?\" >> '{output}'";
        var started = await ChildProcess.RunAsync("tmux", ["new-session", "-d", "-s", _session, "-x", "200", "-y", "50", "bash", "-c", command]);
        started.ExitCode.Should().Be(0, started.StandardError);

        string Output() => File.Exists(output) ? File.ReadAllText(output) : string.Empty;
        await TestTimeout.Until(() => Output().Contains("Press Ctrl+C to stop.", StringComparison.Ordinal) || Output().Contains("exit=", StringComparison.Ordinal),
            TimeSpan.FromMinutes(4), "the cluster to start in the terminal");
        Output().Should().Contain("All 9 resources healthy").And.Contain("Login to the dashboard at");
        var started8 = ProcessTree.WithEnvironment("SYNTHVLM_TEST_MARKER", marker);
        started8.Should().HaveCountGreaterThan(10, "the AppHost, DCP, the dashboard and nine replicas (with their wrappers) carry the marker");
        var redisPid = int.Parse(System.Text.RegularExpressions.Regex.Match(Output(), @"redis-[a-z0-9]+: Healthy \(pid (\d+)\)").Groups[1].Value, CultureInfo.InvariantCulture);

        (await ChildProcess.RunAsync("tmux", ["send-keys", "-t", _session, "C-c"])).ExitCode.Should().Be(0);

        await TestTimeout.Until(() => Output().Contains("exit=", StringComparison.Ordinal), TimeSpan.FromSeconds(60), "the AppHost to exit after Ctrl+C");
        Output().Should().Contain("Stopped 9 processes").And.Contain("exit=0");
        await TestTimeout.Until(() => ProcessTree.WithEnvironment("SYNTHVLM_TEST_MARKER", marker).Count == 0 && !Directory.Exists($"/proc/{redisPid}"),
            TimeSpan.FromSeconds(30), "no process of the cluster left");
    }

    public void Dispose()
    {
        _ = ChildProcess.RunAsync("tmux", ["kill-session", "-t", _session]).Wait(TimeSpan.FromSeconds(10));
        // Whatever a failed test left: everything that carries a marker of this test class's runs.
        foreach (var pid in ProcessTree.Snapshot().Where(p => p.CommandLine.Contains(_dataDir, StringComparison.Ordinal)).Select(p => p.Pid))
        {
            ProcessTree.KillWithDescendants([pid]);
        }
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A leftover temp folder is harmless.
        }
    }
}
