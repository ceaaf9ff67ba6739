using System.Buffers;
using System.Globalization;
using SynthVlm.Onnx.Native;

namespace SynthVlm.Onnx;

/// <summary>
/// A tensor ORT can read or write: either a pinned managed buffer (no copy; the buffer stays
/// pinned until disposal) or memory ORT allocated (outputs, <see cref="Allocate"/>).
/// Dispose promptly: the native memory is not visible to the GC.
/// </summary>
public sealed unsafe class OrtValue : IDisposable
{
    private static nint _cpuMemoryInfo;
    private readonly long[] _shape;

    private OrtValue(ValueHandle handle, TensorElementType elementType, long[] shape, bool isTensor)
    {
        Handle = handle;
        ElementType = elementType;
        _shape = shape;
        IsTensor = isTensor;
        ElementCount = isTensor ? Product(shape) : 0;
    }

    /// <summary>The tensor's element type (<see cref="TensorElementType.Undefined"/> for non-tensors).</summary>
    public TensorElementType ElementType { get; }

    /// <summary>A copy of the tensor's shape.</summary>
    public long[] Shape => (long[])_shape.Clone();

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements (product of the shape).</summary>
    public long ElementCount { get; }

    /// <summary>False for sequence/map/optional outputs, which this binding passes through but cannot read.</summary>
    public bool IsTensor { get; }

    internal ValueHandle Handle { get; }

    internal ReadOnlySpan<long> ShapeSpan => _shape;

    /// <summary>Wraps a managed array as a tensor without copying (the array is pinned until disposal).</summary>
    /// <exception cref="ArgumentException">The shape does not match the array length, or has a negative dimension.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no ONNX element type.</exception>
    public static OrtValue FromArray<T>(T[] data, params long[] shape)
        where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        ArgumentNullException.ThrowIfNull(shape);
        return FromMemory<T>(data, shape);
    }

    /// <summary>Wraps managed memory as a tensor without copying (pinned until disposal).</summary>
    /// <exception cref="ArgumentException">The shape does not match the buffer length, or has a negative dimension.</exception>
    /// <exception cref="NotSupportedException"><typeparamref name="T"/> has no ONNX element type.</exception>
    public static OrtValue FromMemory<T>(Memory<T> data, ReadOnlySpan<long> shape)
        where T : unmanaged
    {
        var type = ElementTypeOf<T>();
        var count = CheckShape(shape, nameof(shape));
        if (count != data.Length)
        {
            throw new ArgumentException(
                $"Tensor shape {FormatShape(shape)} holds {count} {TypeName(type)} elements but the buffer has {data.Length}.", nameof(shape));
        }
        var memoryInfo = CpuMemoryInfo();
        var pin = data.Pin();
        nint value = 0;
        try
        {
            fixed (long* dims = shape)
            {
                // ORT wants a non-null pointer even for an empty tensor.
                long dummy = 0;
                var ptr = data.Length == 0 ? &dummy : pin.Pointer;
                OrtApi.Check(
                    OrtApi.CreateTensorWithDataAsOrtValue(memoryInfo, ptr, (nuint)((long)data.Length * sizeof(T)), dims, (nuint)shape.Length, (int)type, &value),
                    $"creating a {TypeName(type)} tensor {FormatShape(shape)}");
            }
        }
        catch
        {
            pin.Dispose();
            throw;
        }
        return new OrtValue(new ValueHandle(value, pin), type, shape.ToArray(), isTensor: true);
    }

    /// <summary>Allocates a tensor in ORT's CPU memory (contents uninitialized).</summary>
    /// <exception cref="ArgumentException">A negative dimension, or an unsupported type.</exception>
    public static OrtValue Allocate(TensorElementType type, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (type == TensorElementType.Undefined || !Enum.IsDefined(type))
        {
            throw new ArgumentException($"Cannot allocate a tensor of element type {type}.", nameof(type));
        }
        CheckShape(shape, nameof(shape));
        nint value;
        fixed (long* dims = shape)
        {
            OrtApi.Check(
                OrtApi.CreateTensorAsOrtValue(OrtApi.DefaultAllocator, dims, (nuint)shape.Length, (int)type, &value),
                $"allocating a {TypeName(type)} tensor {FormatShape(shape)}");
        }
        return new OrtValue(new ValueHandle(value), type, (long[])shape.Clone(), isTensor: true);
    }

    /// <summary>Takes ownership of an OrtValue* ORT returned, reading its type and shape.</summary>
    internal static OrtValue FromNative(nint value)
    {
        var handle = new ValueHandle(value);
        try
        {
            int isTensor;
            OrtApi.Check(OrtApi.IsTensor(value, &isTensor));
            if (isTensor == 0)
            {
                return new OrtValue(handle, TensorElementType.Undefined, [], isTensor: false);
            }
            nint info;
            OrtApi.Check(OrtApi.GetTensorTypeAndShape(value, &info));
            try
            {
                var (type, dims, _) = ReadTensorInfo(info, symbolic: false);
                return new OrtValue(handle, type, dims, isTensor: true);
            }
            finally
            {
                OrtApi.ReleaseTensorTypeAndShapeInfo(info);
            }
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <summary>Reads element type, dimensions and (optionally) symbolic names from an OrtTensorTypeAndShapeInfo*.</summary>
    internal static (TensorElementType Type, long[] Dims, string[] Symbols) ReadTensorInfo(nint info, bool symbolic)
    {
        int type;
        OrtApi.Check(OrtApi.GetTensorElementType(info, &type));
        nuint rank;
        OrtApi.Check(OrtApi.GetDimensionsCount(info, &rank));
        var dims = new long[(int)rank];
        var symbols = symbolic ? new string[(int)rank] : [];
        if (rank > 0)
        {
            fixed (long* d = dims)
            {
                OrtApi.Check(OrtApi.GetDimensions(info, d, rank));
            }
            if (symbolic)
            {
                var names = new nint[(int)rank];
                fixed (nint* n = names)
                {
                    OrtApi.Check(OrtApi.GetSymbolicDimensions(info, (byte**)n, rank));
                }
                for (var i = 0; i < symbols.Length; i++)
                {
                    symbols[i] = OrtApi.Utf8((byte*)names[i]) ?? "";
                }
            }
        }
        return ((TensorElementType)type, dims, symbols);
    }

    /// <summary>The tensor's elements in place (ORT's or the pinned buffer's memory); valid until disposal.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> does not match <see cref="ElementType"/>, or this is not a numeric tensor.</exception>
    public Span<T> GetSpan<T>()
        where T : unmanaged
    {
        if (!IsTensor)
        {
            throw new InvalidOperationException("This OrtValue is not a tensor (a sequence, map or optional output) and has no element span.");
        }
        var wanted = ElementTypeOf<T>();
        if (wanted != ElementType)
        {
            throw new InvalidOperationException(
                $"The tensor holds {TypeName(ElementType)} elements; GetSpan<{typeof(T).Name}> reads {TypeName(wanted)}.");
        }
        if (ElementCount > int.MaxValue)
        {
            throw new InvalidOperationException($"The tensor has {ElementCount} elements, more than a span can address.");
        }
        using var lease = new HandleLease(Handle);
        void* data;
        OrtApi.Check(OrtApi.GetTensorMutableData(lease.Value, &data), "reading tensor data");
        return new Span<T>(data, (int)ElementCount);
    }

    /// <summary>A managed copy of the tensor's elements.</summary>
    /// <exception cref="InvalidOperationException"><typeparamref name="T"/> does not match <see cref="ElementType"/>.</exception>
    public T[] ToArray<T>()
        where T : unmanaged => GetSpan<T>().ToArray();

    /// <summary>Releases the native value (and unpins the managed buffer it wraps).</summary>
    public void Dispose() => Handle.Dispose();

    /// <inheritdoc />
    public override string ToString() =>
        IsTensor ? $"{TypeName(ElementType)} {FormatShape(_shape)}" : "non-tensor value";

    /// <summary>The ONNX element type for a managed element type.</summary>
    /// <exception cref="NotSupportedException">No ONNX type corresponds.</exception>
    public static TensorElementType ElementTypeOf<T>()
        where T : unmanaged
    {
        if (typeof(T) == typeof(float)) { return TensorElementType.Float; }
        if (typeof(T) == typeof(Half)) { return TensorElementType.Float16; }
        if (typeof(T) == typeof(double)) { return TensorElementType.Double; }
        if (typeof(T) == typeof(long)) { return TensorElementType.Int64; }
        if (typeof(T) == typeof(int)) { return TensorElementType.Int32; }
        if (typeof(T) == typeof(short)) { return TensorElementType.Int16; }
        if (typeof(T) == typeof(sbyte)) { return TensorElementType.Int8; }
        if (typeof(T) == typeof(byte)) { return TensorElementType.UInt8; }
        if (typeof(T) == typeof(bool)) { return TensorElementType.Bool; }
        if (typeof(T) == typeof(uint)) { return TensorElementType.UInt32; }
        if (typeof(T) == typeof(ulong)) { return TensorElementType.UInt64; }
        if (typeof(T) == typeof(ushort)) { return TensorElementType.UInt16; }
        throw new NotSupportedException($"{typeof(T).Name} has no ONNX tensor element type.");
    }

    /// <summary>numpy-style name of an element type ("float32", "int64", ...), used in messages.</summary>
    public static string TypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.UInt8 => "uint8",
        TensorElementType.Int8 => "int8",
        TensorElementType.UInt16 => "uint16",
        TensorElementType.Int16 => "int16",
        TensorElementType.Int32 => "int32",
        TensorElementType.Int64 => "int64",
        TensorElementType.String => "string",
        TensorElementType.Bool => "bool",
        TensorElementType.Float16 => "float16",
        TensorElementType.Double => "float64",
        TensorElementType.UInt32 => "uint32",
        TensorElementType.UInt64 => "uint64",
        TensorElementType.BFloat16 => "bfloat16",
        TensorElementType.Undefined => "undefined",
        _ => $"type{(int)type}",
    };

    internal static string FormatShape(ReadOnlySpan<long> shape)
    {
        var parts = new string[shape.Length];
        for (var i = 0; i < shape.Length; i++)
        {
            parts[i] = shape[i].ToString(CultureInfo.InvariantCulture);
        }
        return $"[{string.Join(", ", parts)}]";
    }

    private static long CheckShape(ReadOnlySpan<long> shape, string paramName)
    {
        long count = 1;
        foreach (var d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"Tensor shape {FormatShape(shape)} has a negative dimension.", paramName);
            }
            count = checked(count * d);
        }
        return count;
    }

    private static long Product(ReadOnlySpan<long> shape)
    {
        long count = 1;
        foreach (var d in shape)
        {
            count *= d;
        }
        return count;
    }

    /// <summary>The CPU OrtMemoryInfo user buffers are described with; created once, kept for the process lifetime.</summary>
    internal static nint CpuMemoryInfo()
    {
        var info = Volatile.Read(ref _cpuMemoryInfo);
        if (info != 0)
        {
            return info;
        }
        nint created;
        // Arena allocator + default memory type: plain CPU memory, as ORT's own bindings describe user buffers.
        OrtApi.Check(OrtApi.CreateCpuMemoryInfo(1, 0, &created), "creating CPU memory info");
        var existing = Interlocked.CompareExchange(ref _cpuMemoryInfo, created, 0);
        if (existing != 0)
        {
            OrtApi.ReleaseMemoryInfo(created);
            return existing;
        }
        return created;
    }
}
