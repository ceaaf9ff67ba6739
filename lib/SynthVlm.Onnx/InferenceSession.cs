using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;
using SynthVlm.Onnx.Native;

namespace SynthVlm.Onnx;

/// <summary>
/// A loaded ONNX model (OrtSession). Thread-safe for concurrent <see cref="Run(IReadOnlyList{NamedValue}, IReadOnlyList{string}, RunOptions?)"/>
/// calls, as ORT sessions are. Inputs are checked against the model's metadata before ORT
/// sees them, so a wrong name, type or shape gives a message naming the tensor and the model.
/// </summary>
public sealed unsafe class InferenceSession : IDisposable
{
    private readonly SessionHandle _handle;
    private readonly nint* _inputNames;
    private readonly nint* _outputNames;
    private readonly Dictionary<string, int> _inputIndex;
    private readonly Dictionary<string, int> _outputIndex;
    private readonly string[] _allOutputNames;

    private InferenceSession(nint session, string modelPath, ExecutionProvider provider, TensorMetadata[] inputs, TensorMetadata[] outputs)
    {
        ModelPath = modelPath;
        Provider = provider;
        Inputs = inputs;
        Outputs = outputs;
        var block = AllocateNames(inputs, outputs);
        _handle = new SessionHandle(session, block);
        _inputNames = (nint*)block;
        _outputNames = _inputNames + inputs.Length;
        _inputIndex = Index(inputs);
        _outputIndex = Index(outputs);
        _allOutputNames = Array.ConvertAll(outputs, o => o.Name);
    }

    /// <summary>The model's inputs (names, element types, dimensions with -1 for dynamic axes).</summary>
    public IReadOnlyList<TensorMetadata> Inputs { get; }

    /// <summary>The model's outputs.</summary>
    public IReadOnlyList<TensorMetadata> Outputs { get; }

    /// <summary>The execution provider the session actually uses (CPU after a CUDA fallback).</summary>
    public ExecutionProvider Provider { get; }

    /// <summary>The model file, or "&lt;in-memory model, N bytes&gt;" for <see cref="FromBytes"/>.</summary>
    public string ModelPath { get; }

    internal SessionHandle Handle => _handle;

    /// <summary>Loads a model file; external-data files are read from the model's folder.</summary>
    /// <exception cref="OnnxRuntimeException">ORT rejected the model (the message names the path; a missing file has <see cref="OrtErrorCode.NoSuchFile"/>).</exception>
    public static InferenceSession Load(string modelPath, SessionOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(modelPath);
        var full = Path.GetFullPath(modelPath);
        var path = OrtApi.ToUtf8Z(full);
        return Create(full, options ?? new SessionOptions(), (opts, session) =>
        {
            fixed (byte* p = path)
            {
                return OrtApi.CreateSession(OnnxRuntime.Env, p, opts, session);
            }
        });
    }

    /// <summary>
    /// Loads a model from bytes (copied by ORT; the span may be reused afterwards). External data
    /// is read from <see cref="SessionOptions.ExternalDataFolder"/>.
    /// </summary>
    /// <exception cref="OnnxRuntimeException">ORT rejected the model (garbage bytes give <see cref="OrtErrorCode.InvalidProtobuf"/>).</exception>
    public static InferenceSession FromBytes(ReadOnlySpan<byte> model, SessionOptions? options = null)
    {
        if (model.IsEmpty)
        {
            throw new ArgumentException("The model byte span is empty.", nameof(model));
        }
        var name = string.Create(CultureInfo.InvariantCulture, $"<in-memory model, {model.Length} bytes>");
        fixed (byte* data = model)
        {
            var ptr = data;
            var length = (nuint)model.Length;
            return Create(name, options ?? new SessionOptions(), (opts, session) => OrtApi.CreateSessionFromArray(OnnxRuntime.Env, ptr, length, opts, session));
        }
    }

    private delegate nint CreateNative(nint options, nint* session);

    private static InferenceSession Create(string modelName, SessionOptions options, CreateNative create)
    {
        var provider = options.Provider;
        nint session = 0;
        using (var native = BuildOptions(options, modelName, ref provider))
        {
            using var lease = new HandleLease(native);
            var status = create(lease.Value, &session);
            if (status != 0 && provider == ExecutionProvider.Cuda && options.Fallback == ProviderFallback.FallbackToCpu)
            {
                // The provider library loaded but the device did not (no driver, no GPU): run on the CPU as asked.
                var (_, message) = OrtApi.Consume(status);
                LogFallback(options, modelName, message);
                provider = ExecutionProvider.Cpu;
                using var cpu = BuildOptions(options, modelName, ref provider, forceCpu: true);
                using var cpuLease = new HandleLease(cpu);
                status = create(cpuLease.Value, &session);
            }
            OrtApi.Check(status, $"loading ONNX model {modelName}");
        }
        InferenceSession result;
        try
        {
            var inputs = ReadMetadata(session, input: true);
            var outputs = ReadMetadata(session, input: false);
            result = new InferenceSession(session, modelName, provider, inputs, outputs);
        }
        catch
        {
            OrtApi.ReleaseSession(session);
            throw;
        }
        if (options.Logger is { } logger)
        {
            OnnxRuntimeLog.SessionLoaded(logger, modelName, provider, result.Inputs.Count, result.Outputs.Count);
        }
        return result;
    }

    private static SessionOptionsHandle BuildOptions(SessionOptions options, string modelName, ref ExecutionProvider provider, bool forceCpu = false)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(options.IntraOpThreads, nameof(options.IntraOpThreads));
        ArgumentOutOfRangeException.ThrowIfNegative(options.InterOpThreads, nameof(options.InterOpThreads));
        if (!Enum.IsDefined(options.OptimizationLevel))
        {
            throw new ArgumentException($"Unknown graph optimization level {options.OptimizationLevel}.", nameof(options));
        }
        nint raw;
        OrtApi.Check(OrtApi.CreateSessionOptions(&raw), "creating session options");
        var handle = new SessionOptionsHandle(raw);
        try
        {
            OrtApi.Check(OrtApi.SetIntraOpNumThreads(raw, options.IntraOpThreads), "setting intra-op threads");
            OrtApi.Check(OrtApi.SetInterOpNumThreads(raw, options.InterOpThreads), "setting inter-op threads");
            OrtApi.Check(OrtApi.SetSessionGraphOptimizationLevel(raw, (int)options.OptimizationLevel), "setting the optimization level");
            OrtApi.Check(options.EnableMemoryArena ? OrtApi.EnableCpuMemArena(raw) : OrtApi.DisableCpuMemArena(raw), "setting the CPU arena");
            OrtApi.Check(OrtApi.SetSessionExecutionMode(raw, options.ParallelExecution ? 1 : 0), "setting the execution mode");
            if (options.ExternalDataFolder is { Length: > 0 } folder)
            {
                AddConfig(raw, SessionOptions.ExternalDataFolderConfigKey, Path.GetFullPath(folder));
            }
            foreach (var (key, value) in options.ConfigEntries)
            {
                AddConfig(raw, key, value);
            }
            if (provider == ExecutionProvider.Cuda && !forceCpu)
            {
                var failure = TryAppendCuda(raw, options.CudaDeviceId);
                if (failure is { } f)
                {
                    if (options.Fallback == ProviderFallback.Error)
                    {
                        throw new OnnxRuntimeException(
                            f.Code,
                            $"CUDA execution provider is not available in {OnnxRuntime.LibraryPath}: {f.Message}; put libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so (ONNX Runtime {OnnxRuntime.Version} GPU build) beside it and make sure a CUDA device is visible, or use SessionOptions.Provider = Cpu or Fallback = FallbackToCpu (model {modelName}).");
                    }
                    LogFallback(options, modelName, f.Message);
                    provider = ExecutionProvider.Cpu;
                }
            }
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static void LogFallback(SessionOptions options, string modelName, string reason)
    {
        if (options.Logger is { } logger)
        {
            OnnxRuntimeLog.CudaFallback(logger, modelName, reason);
        }
    }

    private static void AddConfig(nint options, string key, string value)
    {
        fixed (byte* k = OrtApi.ToUtf8Z(key))
        fixed (byte* v = OrtApi.ToUtf8Z(value))
        {
            OrtApi.Check(OrtApi.AddSessionConfigEntry(options, k, v), $"setting session config entry '{key}'");
        }
    }

    private static (OrtErrorCode Code, string Message)? TryAppendCuda(nint options, int deviceId)
    {
        nint cuda;
        var status = OrtApi.CreateCudaProviderOptions(&cuda);
        if (status != 0)
        {
            return OrtApi.Consume(status);
        }
        try
        {
            fixed (byte* key = "device_id"u8)
            fixed (byte* value = OrtApi.ToUtf8Z(deviceId.ToString(CultureInfo.InvariantCulture)))
            {
                var keys = key;
                var values = value;
                status = OrtApi.UpdateCudaProviderOptions(cuda, &keys, &values, 1);
            }
            if (status == 0)
            {
                status = OrtApi.AppendExecutionProviderCudaV2(options, cuda);
            }
            return status == 0 ? null : OrtApi.Consume(status);
        }
        finally
        {
            OrtApi.ReleaseCudaProviderOptions(cuda);
        }
    }

    private static TensorMetadata[] ReadMetadata(nint session, bool input)
    {
        nuint count;
        OrtApi.Check(input ? OrtApi.SessionGetInputCount(session, &count) : OrtApi.SessionGetOutputCount(session, &count));
        var result = new TensorMetadata[(int)count];
        var allocator = OrtApi.DefaultAllocator;
        for (nuint i = 0; i < count; i++)
        {
            byte* name;
            OrtApi.Check(input ? OrtApi.SessionGetInputName(session, i, allocator, &name) : OrtApi.SessionGetOutputName(session, i, allocator, &name));
            string text;
            try
            {
                text = OrtApi.Utf8(name) ?? "";
            }
            finally
            {
                OrtApi.Check(OrtApi.AllocatorFree(allocator, name));
            }
            nint typeInfo;
            OrtApi.Check(input ? OrtApi.SessionGetInputTypeInfo(session, i, &typeInfo) : OrtApi.SessionGetOutputTypeInfo(session, i, &typeInfo));
            try
            {
                nint tensorInfo;
                OrtApi.Check(OrtApi.CastTypeInfoToTensorInfo(typeInfo, &tensorInfo));
                if (tensorInfo == 0)
                {
                    // Sequence / map / optional values: no tensor shape to report.
                    result[(int)i] = new TensorMetadata(text, TensorElementType.Undefined, [], []);
                    continue;
                }
                var (type, dims, symbols) = OrtValue.ReadTensorInfo(tensorInfo, symbolic: true);
                result[(int)i] = new TensorMetadata(text, type, dims, symbols);
            }
            finally
            {
                OrtApi.ReleaseTypeInfo(typeInfo);
            }
        }
        return result;
    }

    /// <summary>One native block: input name pointers, output name pointers, then the NUL-terminated UTF-8 names.</summary>
    private static nint AllocateNames(TensorMetadata[] inputs, TensorMetadata[] outputs)
    {
        var pointerBytes = (inputs.Length + outputs.Length) * sizeof(nint);
        var textBytes = 0;
        foreach (var m in inputs.Concat(outputs))
        {
            textBytes += Encoding.UTF8.GetByteCount(m.Name) + 1;
        }
        var block = (byte*)NativeMemory.Alloc((nuint)Math.Max(1, pointerBytes + textBytes));
        var pointers = (nint*)block;
        var text = block + pointerBytes;
        var i = 0;
        foreach (var m in inputs.Concat(outputs))
        {
            pointers[i++] = (nint)text;
            var written = Encoding.UTF8.GetBytes(m.Name, new Span<byte>(text, textBytes));
            text[written] = 0;
            text += written + 1;
            textBytes -= written + 1;
        }
        return (nint)block;
    }

    private static Dictionary<string, int> Index(TensorMetadata[] items)
    {
        var index = new Dictionary<string, int>(items.Length, StringComparer.Ordinal);
        for (var i = 0; i < items.Length; i++)
        {
            index[items[i].Name] = i;
        }
        return index;
    }

    /// <summary>Runs the model and returns every output.</summary>
    public OrtValueList Run(IReadOnlyList<NamedValue> inputs) => Run(inputs, _allOutputNames);

    /// <summary>
    /// Runs the model; ORT allocates the outputs, which the caller disposes (through the list).
    /// </summary>
    /// <exception cref="ArgumentException">An unknown, duplicate or missing input; wrong element type, rank or fixed dimension; unknown output.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="runOptions"/> was terminated.</exception>
    /// <exception cref="OnnxRuntimeException">ORT failed the run.</exception>
    public OrtValueList Run(IReadOnlyList<NamedValue> inputs, IReadOnlyList<string> outputNames, RunOptions? runOptions = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        var nIn = inputs.Count;
        var nOut = outputNames.Count;
        // Names and handles for one call: on the stack for the usual handful of tensors.
        var total = (2 * nIn) + (2 * nOut) + Inputs.Count;
        Span<nint> scratch = total <= 128 ? stackalloc nint[total] : new nint[total];
        scratch.Clear();
        var inNames = scratch[..nIn];
        var inValues = scratch.Slice(nIn, nIn);
        var outNames = scratch.Slice(2 * nIn, nOut);
        var outValues = scratch.Slice((2 * nIn) + nOut, nOut);
        var seen = scratch[((2 * nIn) + (2 * nOut))..];
        ValidateInputs(inputs, inNames, seen);
        ResolveOutputs(outputNames, outNames);
        var addedCount = 0;
        var sessionAdded = false;
        var optionsAdded = false;
        try
        {
            _handle.DangerousAddRef(ref sessionAdded);
            for (; addedCount < nIn; addedCount++)
            {
                var handle = inputs[addedCount].Value.Handle;
                var added = false;
                handle.DangerousAddRef(ref added);
                inValues[addedCount] = handle.DangerousGetHandle();
            }
            nint runHandle = 0;
            if (runOptions is not null)
            {
                runOptions.Handle.DangerousAddRef(ref optionsAdded);
                runHandle = runOptions.Handle.DangerousGetHandle();
            }
            nint status;
            fixed (nint* pInNames = inNames, pInValues = inValues, pOutNames = outNames, pOutValues = outValues)
            {
                status = OrtApi.Run(_handle.DangerousGetHandle(), runHandle, (byte**)pInNames, pInValues, (nuint)nIn, (byte**)pOutNames, (nuint)nOut, pOutValues);
            }
            if (status != 0)
            {
                ReleaseAll(outValues);
                ThrowRunFailure(status, runOptions);
            }
            return WrapOutputs(outValues, outputNames);
        }
        finally
        {
            // DangerousAddRef either succeeds or throws, so the first addedCount handles hold a reference.
            for (var i = 0; i < addedCount; i++)
            {
                inputs[i].Value.Handle.DangerousRelease();
            }
            if (optionsAdded)
            {
                runOptions!.Handle.DangerousRelease();
            }
            if (sessionAdded)
            {
                _handle.DangerousRelease();
            }
        }
    }

    /// <summary>Runs the model and returns every output, stopping the run when <paramref name="cancellationToken"/> fires.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    public OrtValueList Run(IReadOnlyList<NamedValue> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken) =>
        Run(inputs, outputNames, null, cancellationToken);

    /// <summary>
    /// Runs the model; cancelling <paramref name="cancellationToken"/> terminates the run through
    /// run options (<paramref name="runOptions"/> if given, which then stay terminated until
    /// <see cref="RunOptions.Reset"/>; otherwise private ones).
    /// </summary>
    /// <exception cref="OperationCanceledException">The token was cancelled before or during the run.</exception>
    public OrtValueList Run(IReadOnlyList<NamedValue> inputs, IReadOnlyList<string> outputNames, RunOptions? runOptions, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!cancellationToken.CanBeCanceled)
        {
            return Run(inputs, outputNames, runOptions);
        }
        var owned = runOptions is null ? new RunOptions() : null;
        var options = runOptions ?? owned!;
        try
        {
            using var registration = cancellationToken.Register(static o => ((RunOptions)o!).Terminate(), options);
            try
            {
                return Run(inputs, outputNames, options);
            }
            catch (Exception e) when (cancellationToken.IsCancellationRequested && e is OnnxRuntimeException or OperationCanceledException)
            {
                // Report ORT's own error as the cause, not the intermediate "terminated" wrapper.
                var cause = e is OperationCanceledException { InnerException: OnnxRuntimeException ort } ? ort : e;
                throw new OperationCanceledException($"The run of model {ModelPath} was cancelled.", cause, cancellationToken);
            }
        }
        finally
        {
            owned?.Dispose();
        }
    }

    /// <summary>Runs the model on the thread pool; cancellation terminates the run.</summary>
    public Task<OrtValueList> RunAsync(IReadOnlyList<NamedValue> inputs, IReadOnlyList<string> outputNames, CancellationToken cancellationToken = default) =>
        RunAsync(inputs, outputNames, null, cancellationToken);

    /// <summary>Runs the model on the thread pool with <paramref name="runOptions"/>; cancellation terminates the run.</summary>
    public Task<OrtValueList> RunAsync(IReadOnlyList<NamedValue> inputs, IReadOnlyList<string> outputNames, RunOptions? runOptions, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputNames);
        return Task.Run(() => Run(inputs, outputNames, runOptions, cancellationToken), cancellationToken);
    }

    /// <summary>Creates an IO binding for repeated runs with pre-bound inputs and outputs.</summary>
    public IoBinding CreateIoBinding() => new(this);

    /// <summary>Releases the native session (after any run in flight finishes).</summary>
    public void Dispose() => _handle.Dispose();

    /// <inheritdoc />
    public override string ToString() => $"{ModelPath} ({Provider}; inputs: {string.Join(", ", Inputs)}; outputs: {string.Join(", ", Outputs)})";

    internal nint InputNamePointer(int index) => _inputNames[index];

    internal nint OutputNamePointer(int index) => _outputNames[index];

    internal int InputIndex(string name, string paramName) =>
        _inputIndex.TryGetValue(name, out var i)
            ? i
            : throw new ArgumentException($"Model {ModelPath} has no input '{name}'; its inputs are: {string.Join("; ", Inputs)}.", paramName);

    internal int OutputIndex(string name, string paramName) =>
        _outputIndex.TryGetValue(name, out var i)
            ? i
            : throw new ArgumentException($"Model {ModelPath} has no output '{name}'; its outputs are: {string.Join("; ", Outputs)}.", paramName);

    /// <summary>Checks one value against input <paramref name="index"/>'s element type, rank and fixed dimensions.</summary>
    internal void CheckInput(int index, OrtValue value, string paramName)
    {
        ArgumentNullException.ThrowIfNull(value, paramName);
        var meta = Inputs[index];
        if (meta.ElementType == TensorElementType.Undefined)
        {
            return;
        }
        var ok = value.IsTensor && value.ElementType == meta.ElementType && value.Rank == meta.Dimensions.Length;
        var badDim = -1;
        if (ok)
        {
            var shape = value.ShapeSpan;
            for (var d = 0; d < shape.Length; d++)
            {
                if (meta.Dimensions[d] >= 0 && meta.Dimensions[d] != shape[d])
                {
                    badDim = d;
                    ok = false;
                    break;
                }
            }
        }
        if (!ok)
        {
            var got = value.IsTensor ? $"{OrtValue.TypeName(value.ElementType)} {OrtValue.FormatShape(value.ShapeSpan)}" : "a non-tensor value";
            var detail = badDim >= 0 ? string.Create(CultureInfo.InvariantCulture, $" (dimension {badDim} must be {meta.Dimensions[badDim]})") : "";
            throw new ArgumentException(
                $"input '{meta.Name}' of model {ModelPath} expects {OrtValue.TypeName(meta.ElementType)} {meta.ShapeText}, got {got}{detail}.", paramName);
        }
    }

    /// <summary>Checks every input and fills <paramref name="names"/> with the native name pointers; <paramref name="seen"/> is zeroed scratch, one slot per model input.</summary>
    private void ValidateInputs(IReadOnlyList<NamedValue> inputs, Span<nint> names, Span<nint> seen)
    {
        for (var i = 0; i < inputs.Count; i++)
        {
            var (name, value) = inputs[i];
            if (name is null)
            {
                throw new ArgumentException($"Input {i} has no name.", nameof(inputs));
            }
            var index = InputIndex(name, nameof(inputs));
            if (seen[index] != 0)
            {
                throw new ArgumentException($"Input '{name}' of model {ModelPath} is given more than once.", nameof(inputs));
            }
            seen[index] = 1;
            CheckInput(index, value, nameof(inputs));
            names[i] = _inputNames[index];
        }
        for (var i = 0; i < seen.Length; i++)
        {
            if (seen[i] == 0)
            {
                throw new ArgumentException($"Model {ModelPath} needs input {Inputs[i]}, which was not given.", nameof(inputs));
            }
        }
    }

    private void ResolveOutputs(IReadOnlyList<string> outputNames, Span<nint> names)
    {
        if (outputNames.Count == 0)
        {
            throw new ArgumentException($"No output names given; model {ModelPath} has outputs: {string.Join("; ", Outputs)}.", nameof(outputNames));
        }
        for (var i = 0; i < names.Length; i++)
        {
            var name = outputNames[i] ?? throw new ArgumentException($"Output name {i} is null.", nameof(outputNames));
            names[i] = _outputNames[OutputIndex(name, nameof(outputNames))];
        }
    }

    private static OrtValueList WrapOutputs(Span<nint> outValues, IReadOnlyList<string> outputNames)
    {
        var values = new OrtValue[outValues.Length];
        var names = new string[outValues.Length];
        var i = 0;
        try
        {
            for (; i < outValues.Length; i++)
            {
                names[i] = outputNames[i];
                values[i] = OrtValue.FromNative(outValues[i]);
                outValues[i] = 0;
            }
        }
        catch
        {
            // FromNative released the failing one; release what is wrapped and what is not yet.
            for (var j = 0; j < i; j++)
            {
                values[j].Dispose();
            }
            outValues[i] = 0;
            ReleaseAll(outValues);
            throw;
        }
        return new OrtValueList(values, names);
    }

    private static void ReleaseAll(Span<nint> values)
    {
        foreach (var v in values)
        {
            if (v != 0)
            {
                OrtApi.ReleaseValue(v);
            }
        }
    }

    internal void ThrowRunFailure(nint status, RunOptions? runOptions)
    {
        var (code, message) = OrtApi.Consume(status);
        var error = new OnnxRuntimeException(code, $"running model {ModelPath}: {message}");
        if (runOptions is { IsTerminated: true })
        {
            throw new OperationCanceledException(
                $"The run of model {ModelPath} was terminated through RunOptions.Terminate (call Reset to reuse those options).", error);
        }
        throw error;
    }
}
