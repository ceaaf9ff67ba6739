namespace SynthVlm.Hosting;

/// <summary>Where the cluster reports what its replicas do (console, dashboard, tests).</summary>
public interface IClusterOutput
{
    /// <summary>A replica's process started.</summary>
    void Started(ReplicaProcess replica, int pid);

    /// <summary>A line the replica printed.</summary>
    void Line(ReplicaProcess replica, string line, bool isError);

    /// <summary>The replica's state changed.</summary>
    void StateChanged(ReplicaProcess replica, ReplicaState state);

    /// <summary>The replica exited unexpectedly and will be restarted after <paramref name="restartIn"/>.</summary>
    void Crashed(ReplicaProcess replica, int exitCode, IReadOnlyList<string> lastLines, TimeSpan restartIn);

    /// <summary>A message from the supervisor about the replica.</summary>
    void Diagnostic(ReplicaProcess replica, string message);

    /// <summary>A message from the supervisor about the whole cluster.</summary>
    void Info(string message);
}
