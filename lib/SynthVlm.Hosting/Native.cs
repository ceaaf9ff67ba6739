using System.Runtime.InteropServices;

namespace SynthVlm.Hosting;

/// <summary>The POSIX calls the supervisor needs and .NET's Process does not offer.</summary>
internal static partial class Native
{
    public const int SigInt = 2;
    public const int SigKill = 9;
    public const int SigTerm = 15;

    // int kill(pid_t pid, int sig); returns 0 or -1 with errno (ESRCH when the process is gone).
    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int KillNative(int pid, int signal);

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; false when it no longer exists.</summary>
    public static bool Signal(int pid, int signal) =>
        OperatingSystem.IsWindows() ? false : KillNative(pid, signal) == 0;
}
