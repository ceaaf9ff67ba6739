using System.Buffers;
using System.Runtime.InteropServices;

namespace SynthVlm.Onnx.Native;

/// <summary>
/// Base of every native ORT object the binding owns. Counts live handles process-wide so
/// tests (and diagnostics) can prove that every created object was released.
/// </summary>
internal abstract class OrtHandle : SafeHandle
{
    private static long _live;

    protected OrtHandle(nint handle)
        : base(0, ownsHandle: true)
    {
        SetHandle(handle);
        if (handle != 0)
        {
            Interlocked.Increment(ref _live);
        }
    }

    /// <summary>Native objects created by this binding and not yet released.</summary>
    internal static long LiveCount => Interlocked.Read(ref _live);

    public override bool IsInvalid => handle == 0;

    protected sealed override bool ReleaseHandle()
    {
        Release(handle);
        Interlocked.Decrement(ref _live);
        return true;
    }

    protected abstract void Release(nint value);
}

internal sealed class SessionHandle : OrtHandle
{
    private readonly nint _names;

    /// <param name="session">The OrtSession*.</param>
    /// <param name="names">NativeMemory block with the UTF-8 input/output names; freed with the session so concurrent runs never see it freed early.</param>
    internal SessionHandle(nint session, nint names)
        : base(session) => _names = names;

    protected override unsafe void Release(nint value)
    {
        OrtApi.ReleaseSession(value);
        NativeMemory.Free((void*)_names);
    }
}

internal sealed class ValueHandle : OrtHandle
{
    private MemoryHandle _pin;

    /// <param name="value">The OrtValue*.</param>
    /// <param name="pin">The pinned managed buffer the tensor points into, unpinned only after ORT released it.</param>
    internal ValueHandle(nint value, MemoryHandle pin = default)
        : base(value) => _pin = pin;

    protected override void Release(nint value)
    {
        OrtApi.ReleaseValue(value);
        _pin.Dispose();
    }
}

internal sealed class RunOptionsHandle(nint value) : OrtHandle(value)
{
    protected override void Release(nint value) => OrtApi.ReleaseRunOptions(value);
}

internal sealed class IoBindingHandle(nint value) : OrtHandle(value)
{
    protected override void Release(nint value) => OrtApi.ReleaseIoBinding(value);
}

internal sealed class MemoryInfoHandle(nint value) : OrtHandle(value)
{
    protected override void Release(nint value) => OrtApi.ReleaseMemoryInfo(value);
}

internal sealed class SessionOptionsHandle(nint value) : OrtHandle(value)
{
    protected override void Release(nint value) => OrtApi.ReleaseSessionOptions(value);
}

/// <summary>
/// Holds a SafeHandle's reference count up for the duration of a native call, so a
/// concurrent Dispose cannot release the object under ORT's feet.
/// </summary>
internal ref struct HandleLease
{
    private readonly SafeHandle _handle;
    private bool _added;

    internal HandleLease(SafeHandle handle)
    {
        _handle = handle;
        _added = false;
        handle.DangerousAddRef(ref _added);
        Value = handle.DangerousGetHandle();
    }

    internal nint Value { get; }

    public void Dispose()
    {
        if (_added)
        {
            _handle.DangerousRelease();
            _added = false;
        }
    }
}
