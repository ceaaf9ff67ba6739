using System.Text;
using SynthVlm.Onnx.Native;

namespace SynthVlm.Onnx;

/// <summary>
/// Pre-bound inputs and outputs for repeated runs of one session (OrtIoBinding): bind once, run
/// many times, read the outputs. Bound values are kept alive (their handles referenced) until
/// they are unbound, rebound, cleared or the binding is disposed. Not thread-safe.
/// </summary>
public sealed unsafe class IoBinding : IDisposable
{
    private readonly InferenceSession _session;
    private readonly IoBindingHandle _handle;
    private readonly Dictionary<string, OrtValue> _inputs = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OrtValue> _outputs = new(StringComparer.Ordinal);
    private RunOptions? _defaultRunOptions;

    internal IoBinding(InferenceSession session)
    {
        _session = session;
        using var lease = new HandleLease(session.Handle);
        nint binding;
        OrtApi.Check(OrtApi.CreateIoBinding(lease.Value, &binding), $"creating an IO binding for {session.ModelPath}");
        _handle = new IoBindingHandle(binding);
    }

    /// <summary>Binds an input (checked like <see cref="InferenceSession.Run(IReadOnlyList{NamedValue}, IReadOnlyList{string}, RunOptions?)"/> checks it).</summary>
    /// <exception cref="ArgumentException">Unknown input, or the value's type/shape does not fit.</exception>
    public void BindInput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        var index = _session.InputIndex(name, nameof(name));
        _session.CheckInput(index, value, nameof(value));
        Bind(_inputs, name, value, _session.InputNamePointer(index), input: true);
    }

    /// <summary>Binds an output to a preallocated tensor that ORT writes into.</summary>
    /// <exception cref="ArgumentException">Unknown output.</exception>
    public void BindOutput(string name, OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        var index = _session.OutputIndex(name, nameof(name));
        Bind(_outputs, name, value, _session.OutputNamePointer(index), input: false);
    }

    /// <summary>Binds an output that ORT allocates on <paramref name="device"/> at each run (read it with <see cref="GetOutputs"/>).</summary>
    /// <exception cref="ArgumentException">Unknown output.</exception>
    public void BindOutputToDevice(string name, ExecutionProvider device, int deviceId = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        var index = _session.OutputIndex(name, nameof(name));
        nint memoryInfo;
        // Device allocator (0) and default memory type (0) on the named device; ORT copies the device description.
        fixed (byte* deviceName = device == ExecutionProvider.Cuda ? "Cuda"u8 : "Cpu"u8)
        {
            OrtApi.Check(OrtApi.CreateMemoryInfo(deviceName, 0, device == ExecutionProvider.Cuda ? deviceId : 0, 0, &memoryInfo), $"describing {device} memory");
        }
        try
        {
            using var lease = new HandleLease(_handle);
            OrtApi.Check(OrtApi.BindOutputToDevice(lease.Value, (byte*)_session.OutputNamePointer(index), memoryInfo), $"binding output '{name}' of {_session.ModelPath} to {device}");
        }
        finally
        {
            OrtApi.ReleaseMemoryInfo(memoryInfo);
        }
        Unreference(_outputs, name);
    }

    /// <summary>Runs the session with the bound values.</summary>
    /// <exception cref="OperationCanceledException"><paramref name="runOptions"/> was terminated.</exception>
    /// <exception cref="OnnxRuntimeException">ORT failed the run (for example an input not bound).</exception>
    public void Run(RunOptions? runOptions = null)
    {
        // RunWithBinding needs real run options.
        var options = runOptions ?? (_defaultRunOptions ??= new RunOptions());
        using var session = new HandleLease(_session.Handle);
        using var binding = new HandleLease(_handle);
        using var run = new HandleLease(options.Handle);
        var status = OrtApi.RunWithBinding(session.Value, run.Value, binding.Value);
        if (status != 0)
        {
            _session.ThrowRunFailure(status, options);
        }
    }

    /// <summary>
    /// The outputs of the last run, in binding order; the caller disposes the list. An output bound
    /// with <see cref="BindOutput"/> shares that value's buffer: keep the bound value alive while
    /// reading it through this list.
    /// </summary>
    public OrtValueList GetOutputs()
    {
        using var lease = new HandleLease(_handle);
        var allocator = OrtApi.DefaultAllocator;
        var names = BoundOutputNames(lease.Value, allocator);
        nint* values;
        nuint count;
        OrtApi.Check(OrtApi.GetBoundOutputValues(lease.Value, allocator, &values, &count), $"reading bound outputs of {_session.ModelPath}");
        if (count == 0)
        {
            return new OrtValueList([], []);
        }
        var result = new OrtValue[(int)count];
        var i = 0;
        try
        {
            for (; i < result.Length; i++)
            {
                result[i] = OrtValue.FromNative(values[i]);
            }
        }
        catch
        {
            for (var j = 0; j < i; j++)
            {
                result[j].Dispose();
            }
            for (var j = i + 1; j < result.Length; j++)
            {
                OrtApi.ReleaseValue(values[j]);
            }
            throw;
        }
        finally
        {
            OrtApi.Check(OrtApi.AllocatorFree(allocator, values));
        }
        return new OrtValueList(result, names.Length == result.Length ? names : [.. Enumerable.Range(0, result.Length).Select(n => $"output{n}")]);
    }

    /// <summary>Unbinds every input (and releases the references held on them).</summary>
    public void ClearInputs()
    {
        using (var lease = new HandleLease(_handle))
        {
            OrtApi.ClearBoundInputs(lease.Value);
        }
        ReleaseAll(_inputs);
    }

    /// <summary>Unbinds every output.</summary>
    public void ClearOutputs()
    {
        using (var lease = new HandleLease(_handle))
        {
            OrtApi.ClearBoundOutputs(lease.Value);
        }
        ReleaseAll(_outputs);
    }

    /// <summary>Releases the binding and the references it holds on bound values.</summary>
    public void Dispose()
    {
        if (_handle.IsClosed)
        {
            return;
        }
        _handle.Dispose();
        ReleaseAll(_inputs);
        ReleaseAll(_outputs);
        _defaultRunOptions?.Dispose();
    }

    private void Bind(Dictionary<string, OrtValue> bound, string name, OrtValue value, nint namePointer, bool input)
    {
        var added = false;
        value.Handle.DangerousAddRef(ref added);
        try
        {
            using var lease = new HandleLease(_handle);
            var raw = value.Handle.DangerousGetHandle();
            OrtApi.Check(
                input ? OrtApi.BindInput(lease.Value, (byte*)namePointer, raw) : OrtApi.BindOutput(lease.Value, (byte*)namePointer, raw),
                $"binding {(input ? "input" : "output")} '{name}' of {_session.ModelPath}");
        }
        catch
        {
            value.Handle.DangerousRelease();
            throw;
        }
        Unreference(bound, name);
        bound[name] = value;
    }

    private static void Unreference(Dictionary<string, OrtValue> bound, string name)
    {
        if (bound.Remove(name, out var previous))
        {
            previous.Handle.DangerousRelease();
        }
    }

    private static void ReleaseAll(Dictionary<string, OrtValue> bound)
    {
        foreach (var value in bound.Values)
        {
            value.Handle.DangerousRelease();
        }
        bound.Clear();
    }

    private static string[] BoundOutputNames(nint binding, nint allocator)
    {
        byte* buffer;
        nuint* lengths;
        nuint count;
        OrtApi.Check(OrtApi.GetBoundOutputNames(binding, allocator, &buffer, &lengths, &count));
        if (count == 0)
        {
            return [];
        }
        try
        {
            var names = new string[(int)count];
            var offset = 0;
            for (var i = 0; i < names.Length; i++)
            {
                var length = (int)lengths[i];
                names[i] = Encoding.UTF8.GetString(buffer + offset, length);
                offset += length;
            }
            return names;
        }
        finally
        {
            OrtApi.Check(OrtApi.AllocatorFree(allocator, buffer));
            OrtApi.Check(OrtApi.AllocatorFree(allocator, lengths));
        }
    }
}
