using System.ComponentModel;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace SynthVlm.IO;

/// <summary>
/// fsync(2) of a directory, which .NET does not offer (it refuses to open a directory as a file):
/// without it, a crash right after a rename can lose the new directory entry even though the
/// files' data were flushed. The only native code of this library.
/// </summary>
public static partial class DirectorySync
{
    private const int ReadOnly = 0;              // O_RDONLY
    private const int DirectoryOnly = 0x10000;   // O_DIRECTORY on Linux x86-64 and arm64
    private const int CloseOnExec = 0x80000;     // O_CLOEXEC

    /// <summary>Flushes <paramref name="directory"/>'s entries to disk; a no-op outside Linux.</summary>
    /// <exception cref="IOException">open or fsync failed (the message has the path and errno).</exception>
    public static void Flush(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        var fd = Open(directory, ReadOnly | DirectoryOnly | CloseOnExec);
        if (fd < 0)
        {
            throw Error("open", directory);
        }
        using var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (Fsync(handle) != 0)
        {
            throw Error("fsync", directory);
        }
    }

    private static IOException Error(string call, string directory)
    {
        var errno = Marshal.GetLastPInvokeError();
        return new IOException($"{call}('{directory}') failed: {new Win32Exception(errno).Message} (errno {errno}).");
    }

    // int open(const char *path, int flags); variadic in C, but the mode argument is only read with O_CREAT.
    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    // int fsync(int fd); returns 0 or -1 with errno.
    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(SafeFileHandle fd);
}
