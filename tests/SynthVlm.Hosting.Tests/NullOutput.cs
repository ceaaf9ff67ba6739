using System.Collections.Concurrent;
using SynthVlm.Hosting;

namespace SynthVlm.Hosting.Tests;

/// <summary>Collects what the supervisor reports, for assertions.</summary>
internal sealed class NullOutput : IClusterOutput
{
    public ConcurrentQueue<string> Events { get; } = new();

    public void Started(ReplicaProcess replica, int pid) => Events.Enqueue($"started {replica.Name} {pid}");

    public void Line(ReplicaProcess replica, string line, bool isError) => Events.Enqueue($"line {replica.Name} {line}");

    public void StateChanged(ReplicaProcess replica, ReplicaState state) => Events.Enqueue($"state {replica.Name} {state}");

    public void Crashed(ReplicaProcess replica, int exitCode, IReadOnlyList<string> lastLines, TimeSpan restartIn) =>
        Events.Enqueue($"crashed {replica.Name} {exitCode} [{string.Join("|", lastLines)}]");

    public void Diagnostic(ReplicaProcess replica, string message) => Events.Enqueue($"diagnostic {replica.Name} {message}");

    public void Info(string message) => Events.Enqueue($"info {message}");
}
