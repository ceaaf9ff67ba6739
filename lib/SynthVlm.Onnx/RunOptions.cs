using SynthVlm.Onnx.Native;

namespace SynthVlm.Onnx;

/// <summary>
/// Per-run options (OrtRunOptions). <see cref="Terminate"/> stops runs in flight that use these
/// options and makes later runs with them fail at once, until <see cref="Reset"/>.
/// </summary>
public sealed unsafe class RunOptions : IDisposable
{
    private volatile bool _terminated;
    private string? _tag;

    /// <summary>Creates native run options.</summary>
    public RunOptions()
    {
        nint value;
        OrtApi.Check(OrtApi.CreateRunOptions(&value), "creating run options");
        Handle = new RunOptionsHandle(value);
    }

    /// <summary>A tag ORT puts on this run's log messages.</summary>
    public string? Tag
    {
        get => _tag;
        set
        {
            fixed (byte* tag = OrtApi.ToUtf8Z(value ?? ""))
            {
                using var lease = new HandleLease(Handle);
                OrtApi.Check(OrtApi.RunOptionsSetRunTag(lease.Value, tag), "setting the run tag");
            }
            _tag = value;
        }
    }

    /// <summary>Whether <see cref="Terminate"/> was called since creation or the last <see cref="Reset"/>.</summary>
    public bool IsTerminated => _terminated;

    internal RunOptionsHandle Handle { get; }

    /// <summary>Asks ORT to stop every run using these options as soon as it can (thread-safe).</summary>
    public void Terminate()
    {
        _terminated = true;
        using var lease = new HandleLease(Handle);
        OrtApi.Check(OrtApi.RunOptionsSetTerminate(lease.Value), "terminating a run");
    }

    /// <summary>Clears the terminate flag so the options can be used again.</summary>
    public void Reset()
    {
        using var lease = new HandleLease(Handle);
        OrtApi.Check(OrtApi.RunOptionsUnsetTerminate(lease.Value), "resetting run options");
        _terminated = false;
    }

    /// <summary>Releases the native options.</summary>
    public void Dispose() => Handle.Dispose();
}
