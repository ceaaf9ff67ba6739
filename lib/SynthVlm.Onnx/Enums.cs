namespace SynthVlm.Onnx;

/// <summary>Tensor element types (ONNX TensorProto / ORT ONNXTensorElementDataType numbers).</summary>
public enum TensorElementType
{
    /// <summary>Not a tensor, or a type ORT did not report.</summary>
    Undefined = 0,
    /// <summary>32-bit float (float32).</summary>
    Float = 1,
    /// <summary>Unsigned byte.</summary>
    UInt8 = 2,
    /// <summary>Signed byte.</summary>
    Int8 = 3,
    /// <summary>Unsigned 16-bit integer.</summary>
    UInt16 = 4,
    /// <summary>Signed 16-bit integer.</summary>
    Int16 = 5,
    /// <summary>Signed 32-bit integer.</summary>
    Int32 = 6,
    /// <summary>Signed 64-bit integer.</summary>
    Int64 = 7,
    /// <summary>Strings (not readable as a span).</summary>
    String = 8,
    /// <summary>Boolean, one byte per element.</summary>
    Bool = 9,
    /// <summary>IEEE 754 half precision (<see cref="Half"/>).</summary>
    Float16 = 10,
    /// <summary>64-bit float.</summary>
    Double = 11,
    /// <summary>Unsigned 32-bit integer.</summary>
    UInt32 = 12,
    /// <summary>Unsigned 64-bit integer.</summary>
    UInt64 = 13,
    /// <summary>bfloat16 (reported in metadata; no managed element type here).</summary>
    BFloat16 = 16,
}

/// <summary>ORT graph optimization levels.</summary>
public enum GraphOptimizationLevel
{
    /// <summary>No graph rewrites.</summary>
    DisableAll = 0,
    /// <summary>Constant folding, redundant node elimination.</summary>
    Basic = 1,
    /// <summary>Basic plus node fusions.</summary>
    Extended = 2,
    /// <summary>Everything, including layout optimizations.</summary>
    All = 99,
}

/// <summary>Where a session runs its kernels.</summary>
public enum ExecutionProvider
{
    /// <summary>The CPU execution provider (always available).</summary>
    Cpu,
    /// <summary>The CUDA execution provider (needs the provider libraries beside libonnxruntime and a GPU).</summary>
    Cuda,
}

/// <summary>What to do when the requested execution provider cannot be used.</summary>
public enum ProviderFallback
{
    /// <summary>Throw <see cref="OnnxRuntimeException"/>.</summary>
    Error,
    /// <summary>Log a warning and run on the CPU.</summary>
    FallbackToCpu,
}

/// <summary>ORT log severities (OrtLoggingLevel).</summary>
public enum OrtLogLevel
{
    /// <summary>Everything.</summary>
    Verbose = 0,
    /// <summary>Informational messages and above.</summary>
    Info = 1,
    /// <summary>Warnings and above.</summary>
    Warning = 2,
    /// <summary>Errors and above.</summary>
    Error = 3,
    /// <summary>Fatal errors only.</summary>
    Fatal = 4,
}

/// <summary>ORT error codes (onnxruntime_error_code.h).</summary>
public enum OrtErrorCode
{
    /// <summary>Success.</summary>
    Ok = 0,
    /// <summary>Generic failure (also a terminated run).</summary>
    Fail = 1,
    /// <summary>An argument was invalid (for example an unknown input name).</summary>
    InvalidArgument = 2,
    /// <summary>A file does not exist.</summary>
    NoSuchFile = 3,
    /// <summary>No model loaded.</summary>
    NoModel = 4,
    /// <summary>Engine error.</summary>
    EngineError = 5,
    /// <summary>Runtime exception inside ORT.</summary>
    RuntimeException = 6,
    /// <summary>The model bytes are not a valid ONNX protobuf.</summary>
    InvalidProtobuf = 7,
    /// <summary>Model already loaded.</summary>
    ModelLoaded = 8,
    /// <summary>Not implemented (for example an unsupported type).</summary>
    NotImplemented = 9,
    /// <summary>The graph is invalid.</summary>
    InvalidGraph = 10,
    /// <summary>Execution provider failure.</summary>
    EpFail = 11,
    /// <summary>Model load was cancelled.</summary>
    ModelLoadCanceled = 12,
    /// <summary>The model must be compiled for its execution provider first.</summary>
    ModelRequiresCompilation = 13,
    /// <summary>Something was not found.</summary>
    NotFound = 14,
    /// <summary>The device was reset.</summary>
    DeviceReset = 15,
}
