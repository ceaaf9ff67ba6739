using System.Globalization;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace SynthVlm.Onnx;

/// <summary>
/// A model's inputs and outputs as text for error messages: "pixel_values: float32
/// [image_batch_size, 3, 224, 224]" (dynamic axes by name, "?" when unnamed).
/// </summary>
public static class OnnxModelDescription
{
    /// <summary>"name: float32 [batch, 3, 224, 224]"; non-tensor values give their kind.</summary>
    public static string Describe(string name, NodeMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        return metadata.IsTensor
            ? $"{name}: {TypeName(metadata.ElementDataType)} {ShapeText(metadata)}"
            : $"{name}: {metadata.OnnxValueType}";
    }

    /// <summary>The shape with dynamic axes by name: "[batch_size, 3, 224, 224]".</summary>
    public static string ShapeText(NodeMetadata metadata)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        var dims = metadata.Dimensions;
        var symbols = metadata.SymbolicDimensions;
        var parts = new string[dims.Length];
        for (var i = 0; i < dims.Length; i++)
        {
            parts[i] = dims[i] >= 0
                ? dims[i].ToString(CultureInfo.InvariantCulture)
                : i < symbols.Length && symbols[i] is { Length: > 0 } s ? s : "?";
        }
        return $"[{string.Join(", ", parts)}]";
    }

    /// <summary>Every input, described, in the model's order.</summary>
    public static IEnumerable<string> Inputs(InferenceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return session.InputNames.Select(n => Describe(n, session.InputMetadata[n]));
    }

    /// <summary>Every output, described, in the model's order.</summary>
    public static IEnumerable<string> Outputs(InferenceSession session)
    {
        ArgumentNullException.ThrowIfNull(session);
        return session.OutputNames.Select(n => Describe(n, session.OutputMetadata[n]));
    }

    /// <summary>ONNX's name for an element type ("float32", "int64", "float16", …).</summary>
    public static string TypeName(TensorElementType type) => type switch
    {
        TensorElementType.Float => "float32",
        TensorElementType.Float16 => "float16",
        TensorElementType.BFloat16 => "bfloat16",
        TensorElementType.Double => "float64",
        TensorElementType.Int8 => "int8",
        TensorElementType.UInt8 => "uint8",
        TensorElementType.Int16 => "int16",
        TensorElementType.UInt16 => "uint16",
        TensorElementType.Int32 => "int32",
        TensorElementType.UInt32 => "uint32",
        TensorElementType.Int64 => "int64",
        TensorElementType.UInt64 => "uint64",
        TensorElementType.Bool => "bool",
        TensorElementType.String => "string",
        _ => type.ToString().ToLowerInvariant(),
    };

    /// <summary>A tensor value's type and shape: "float32 [2, 3]".</summary>
    public static string Describe(OrtValue value)
    {
        ArgumentNullException.ThrowIfNull(value);
        if (!value.IsTensor)
        {
            return value.OnnxType.ToString();
        }
        var info = value.GetTensorTypeAndShape();
        return $"{TypeName(info.ElementDataType)} [{string.Join(", ", info.Shape)}]";
    }
}
