using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;

namespace SynthVlm.Onnx.Native;

/// <summary>
/// The OrtApi function table (ONNX Runtime C API, version 30). Every slot index used by the
/// binding is spelled here once; the table is append-only across releases, so these indices
/// hold for any library that answers GetApi(30). Each wrapper returns the raw OrtStatus*
/// (zero = success) and callers pass it to <see cref="Check(nint, string?)"/>.
/// </summary>
internal static unsafe class OrtApi
{
    internal const uint ApiVersion = 30;

    private static nint* _table;

    /// <summary>The function table, initializing the runtime on first use.</summary>
    private static nint* Table
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get
        {
            var table = _table;
            if (table == null)
            {
                OnnxRuntime.Initialize();
                table = _table;
            }
            return table;
        }
    }

    internal static bool IsBound => _table != null;

    internal static void Bind(nint api) => _table = (nint*)api;

    private static nint Slot(int index) => Table[index];

    // --- status ---
    internal static int GetErrorCode(nint status) => ((delegate* unmanaged<nint, int>)Slot(1))(status);
    internal static byte* GetErrorMessage(nint status) => ((delegate* unmanaged<nint, byte*>)Slot(2))(status);
    internal static void ReleaseStatus(nint status) => ((delegate* unmanaged<nint, void>)Slot(93))(status);

    // --- env ---
    internal static nint CreateEnv(int logLevel, byte* logId, nint* env) => ((delegate* unmanaged<int, byte*, nint*, nint>)Slot(3))(logLevel, logId, env);
    internal static nint CreateEnvWithCustomLogger(nint logger, nint param, int logLevel, byte* logId, nint* env) =>
        ((delegate* unmanaged<nint, nint, int, byte*, nint*, nint>)Slot(4))(logger, param, logLevel, logId, env);
    internal static nint GetAvailableProviders(byte*** providers, int* count) => ((delegate* unmanaged<byte***, int*, nint>)Slot(125))(providers, count);
    internal static nint ReleaseAvailableProviders(byte** providers, int count) => ((delegate* unmanaged<byte**, int, nint>)Slot(126))(providers, count);

    // --- session options ---
    internal static nint CreateSessionOptions(nint* options) => ((delegate* unmanaged<nint*, nint>)Slot(10))(options);
    internal static nint SetSessionExecutionMode(nint options, int mode) => ((delegate* unmanaged<nint, int, nint>)Slot(13))(options, mode);
    internal static nint EnableCpuMemArena(nint options) => ((delegate* unmanaged<nint, nint>)Slot(18))(options);
    internal static nint DisableCpuMemArena(nint options) => ((delegate* unmanaged<nint, nint>)Slot(19))(options);
    internal static nint SetSessionLogId(nint options, byte* logId) => ((delegate* unmanaged<nint, byte*, nint>)Slot(20))(options, logId);
    internal static nint SetSessionGraphOptimizationLevel(nint options, int level) => ((delegate* unmanaged<nint, int, nint>)Slot(23))(options, level);
    internal static nint SetIntraOpNumThreads(nint options, int n) => ((delegate* unmanaged<nint, int, nint>)Slot(24))(options, n);
    internal static nint SetInterOpNumThreads(nint options, int n) => ((delegate* unmanaged<nint, int, nint>)Slot(25))(options, n);
    internal static nint AddSessionConfigEntry(nint options, byte* key, byte* value) => ((delegate* unmanaged<nint, byte*, byte*, nint>)Slot(130))(options, key, value);
    internal static void ReleaseSessionOptions(nint options) => ((delegate* unmanaged<nint, void>)Slot(100))(options);

    // --- CUDA ---
    internal static nint CreateCudaProviderOptions(nint* cudaOptions) => ((delegate* unmanaged<nint*, nint>)Slot(205))(cudaOptions);
    internal static nint UpdateCudaProviderOptions(nint cudaOptions, byte** keys, byte** values, nuint count) =>
        ((delegate* unmanaged<nint, byte**, byte**, nuint, nint>)Slot(206))(cudaOptions, keys, values, count);
    internal static nint AppendExecutionProviderCudaV2(nint options, nint cudaOptions) => ((delegate* unmanaged<nint, nint, nint>)Slot(204))(options, cudaOptions);
    internal static void ReleaseCudaProviderOptions(nint cudaOptions) => ((delegate* unmanaged<nint, void>)Slot(208))(cudaOptions);

    // --- session ---
    internal static nint CreateSession(nint env, byte* path, nint options, nint* session) =>
        ((delegate* unmanaged<nint, byte*, nint, nint*, nint>)Slot(7))(env, path, options, session);
    internal static nint CreateSessionFromArray(nint env, void* data, nuint length, nint options, nint* session) =>
        ((delegate* unmanaged<nint, void*, nuint, nint, nint*, nint>)Slot(8))(env, data, length, options, session);
    internal static nint Run(nint session, nint runOptions, byte** inputNames, nint* inputs, nuint inputCount, byte** outputNames, nuint outputCount, nint* outputs) =>
        ((delegate* unmanaged<nint, nint, byte**, nint*, nuint, byte**, nuint, nint*, nint>)Slot(9))(session, runOptions, inputNames, inputs, inputCount, outputNames, outputCount, outputs);
    internal static nint SessionGetInputCount(nint session, nuint* count) => ((delegate* unmanaged<nint, nuint*, nint>)Slot(30))(session, count);
    internal static nint SessionGetOutputCount(nint session, nuint* count) => ((delegate* unmanaged<nint, nuint*, nint>)Slot(31))(session, count);
    internal static nint SessionGetInputTypeInfo(nint session, nuint index, nint* typeInfo) => ((delegate* unmanaged<nint, nuint, nint*, nint>)Slot(33))(session, index, typeInfo);
    internal static nint SessionGetOutputTypeInfo(nint session, nuint index, nint* typeInfo) => ((delegate* unmanaged<nint, nuint, nint*, nint>)Slot(34))(session, index, typeInfo);
    internal static nint SessionGetInputName(nint session, nuint index, nint allocator, byte** name) =>
        ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)Slot(36))(session, index, allocator, name);
    internal static nint SessionGetOutputName(nint session, nuint index, nint allocator, byte** name) =>
        ((delegate* unmanaged<nint, nuint, nint, byte**, nint>)Slot(37))(session, index, allocator, name);
    internal static void ReleaseSession(nint session) => ((delegate* unmanaged<nint, void>)Slot(95))(session);

    // --- type info ---
    internal static nint CastTypeInfoToTensorInfo(nint typeInfo, nint* tensorInfo) => ((delegate* unmanaged<nint, nint*, nint>)Slot(55))(typeInfo, tensorInfo);
    internal static nint GetOnnxTypeFromTypeInfo(nint typeInfo, int* onnxType) => ((delegate* unmanaged<nint, int*, nint>)Slot(56))(typeInfo, onnxType);
    internal static nint GetTensorElementType(nint tensorInfo, int* type) => ((delegate* unmanaged<nint, int*, nint>)Slot(60))(tensorInfo, type);
    internal static nint GetDimensionsCount(nint tensorInfo, nuint* count) => ((delegate* unmanaged<nint, nuint*, nint>)Slot(61))(tensorInfo, count);
    internal static nint GetDimensions(nint tensorInfo, long* dims, nuint count) => ((delegate* unmanaged<nint, long*, nuint, nint>)Slot(62))(tensorInfo, dims, count);
    internal static nint GetSymbolicDimensions(nint tensorInfo, byte** names, nuint count) => ((delegate* unmanaged<nint, byte**, nuint, nint>)Slot(63))(tensorInfo, names, count);
    internal static nint GetTensorTypeAndShape(nint value, nint* tensorInfo) => ((delegate* unmanaged<nint, nint*, nint>)Slot(65))(value, tensorInfo);
    internal static void ReleaseTypeInfo(nint typeInfo) => ((delegate* unmanaged<nint, void>)Slot(98))(typeInfo);
    internal static void ReleaseTensorTypeAndShapeInfo(nint tensorInfo) => ((delegate* unmanaged<nint, void>)Slot(99))(tensorInfo);

    // --- values ---
    internal static nint CreateTensorAsOrtValue(nint allocator, long* shape, nuint rank, int type, nint* value) =>
        ((delegate* unmanaged<nint, long*, nuint, int, nint*, nint>)Slot(48))(allocator, shape, rank, type, value);
    internal static nint CreateTensorWithDataAsOrtValue(nint memoryInfo, void* data, nuint bytes, long* shape, nuint rank, int type, nint* value) =>
        ((delegate* unmanaged<nint, void*, nuint, long*, nuint, int, nint*, nint>)Slot(49))(memoryInfo, data, bytes, shape, rank, type, value);
    internal static nint IsTensor(nint value, int* isTensor) => ((delegate* unmanaged<nint, int*, nint>)Slot(50))(value, isTensor);
    internal static nint GetTensorMutableData(nint value, void** data) => ((delegate* unmanaged<nint, void**, nint>)Slot(51))(value, data);
    internal static void ReleaseValue(nint value) => ((delegate* unmanaged<nint, void>)Slot(96))(value);

    // --- memory ---
    internal static nint CreateMemoryInfo(byte* name, int allocatorType, int deviceId, int memType, nint* info) =>
        ((delegate* unmanaged<byte*, int, int, int, nint*, nint>)Slot(68))(name, allocatorType, deviceId, memType, info);
    internal static nint CreateCpuMemoryInfo(int allocatorType, int memType, nint* info) => ((delegate* unmanaged<int, int, nint*, nint>)Slot(69))(allocatorType, memType, info);
    internal static void ReleaseMemoryInfo(nint info) => ((delegate* unmanaged<nint, void>)Slot(94))(info);
    internal static nint AllocatorFree(nint allocator, void* p) => ((delegate* unmanaged<nint, void*, nint>)Slot(76))(allocator, p);
    internal static nint GetAllocatorWithDefaultOptions(nint* allocator) => ((delegate* unmanaged<nint*, nint>)Slot(78))(allocator);

    // --- run options ---
    internal static nint CreateRunOptions(nint* options) => ((delegate* unmanaged<nint*, nint>)Slot(39))(options);
    internal static nint RunOptionsSetRunTag(nint options, byte* tag) => ((delegate* unmanaged<nint, byte*, nint>)Slot(42))(options, tag);
    internal static nint RunOptionsSetTerminate(nint options) => ((delegate* unmanaged<nint, nint>)Slot(46))(options);
    internal static nint RunOptionsUnsetTerminate(nint options) => ((delegate* unmanaged<nint, nint>)Slot(47))(options);
    internal static void ReleaseRunOptions(nint options) => ((delegate* unmanaged<nint, void>)Slot(97))(options);

    // --- IO binding ---
    internal static nint RunWithBinding(nint session, nint runOptions, nint binding) => ((delegate* unmanaged<nint, nint, nint, nint>)Slot(133))(session, runOptions, binding);
    internal static nint CreateIoBinding(nint session, nint* binding) => ((delegate* unmanaged<nint, nint*, nint>)Slot(134))(session, binding);
    internal static void ReleaseIoBinding(nint binding) => ((delegate* unmanaged<nint, void>)Slot(135))(binding);
    internal static nint BindInput(nint binding, byte* name, nint value) => ((delegate* unmanaged<nint, byte*, nint, nint>)Slot(136))(binding, name, value);
    internal static nint BindOutput(nint binding, byte* name, nint value) => ((delegate* unmanaged<nint, byte*, nint, nint>)Slot(137))(binding, name, value);
    internal static nint BindOutputToDevice(nint binding, byte* name, nint memoryInfo) => ((delegate* unmanaged<nint, byte*, nint, nint>)Slot(138))(binding, name, memoryInfo);
    internal static nint GetBoundOutputValues(nint binding, nint allocator, nint** values, nuint* count) =>
        ((delegate* unmanaged<nint, nint, nint**, nuint*, nint>)Slot(140))(binding, allocator, values, count);
    internal static nint GetBoundOutputNames(nint binding, nint allocator, byte** buffer, nuint** lengths, nuint* count) =>
        ((delegate* unmanaged<nint, nint, byte**, nuint**, nuint*, nint>)Slot(139))(binding, allocator, buffer, lengths, count);
    internal static void ClearBoundInputs(nint binding) => ((delegate* unmanaged<nint, void>)Slot(141))(binding);
    internal static void ClearBoundOutputs(nint binding) => ((delegate* unmanaged<nint, void>)Slot(142))(binding);

    /// <summary>The process-wide default CPU allocator (owned by ORT, never released).</summary>
    internal static nint DefaultAllocator
    {
        get
        {
            nint allocator;
            Check(GetAllocatorWithDefaultOptions(&allocator));
            return allocator;
        }
    }

    /// <summary>
    /// Throws <see cref="OnnxRuntimeException"/> for a non-null status, always releasing it.
    /// <paramref name="context"/> prefixes the ORT message ("loading model X").
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Check(nint status, string? context = null)
    {
        if (status != 0)
        {
            Throw(status, context);
        }
    }

    /// <summary>Reads and releases a failed status without throwing: (code, message).</summary>
    internal static (OrtErrorCode Code, string Message) Consume(nint status)
    {
        try
        {
            var code = (OrtErrorCode)GetErrorCode(status);
            var message = Utf8(GetErrorMessage(status)) ?? "(no message)";
            return (code, message);
        }
        finally
        {
            ReleaseStatus(status);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Throw(nint status, string? context)
    {
        var (code, message) = Consume(status);
        throw new OnnxRuntimeException(code, context is null ? message : $"{context}: {message}");
    }

    internal static string? Utf8(byte* text) => text == null ? null : Marshal.PtrToStringUTF8((nint)text);

    /// <summary>A NUL-terminated UTF-8 copy of <paramref name="text"/>, for the duration of one call.</summary>
    internal static byte[] ToUtf8Z(string text)
    {
        var bytes = new byte[Encoding.UTF8.GetByteCount(text) + 1];
        Encoding.UTF8.GetBytes(text, bytes);
        return bytes;
    }
}
