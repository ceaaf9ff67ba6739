using System.Globalization;

namespace SynthVlm.Onnx;

/// <summary>
/// A model input or output as the session reports it. <paramref name="Dimensions"/> holds -1 for
/// dynamic axes, whose names (when the exporter gave them) are in <paramref name="SymbolicDimensions"/>
/// ("" for fixed axes).
/// </summary>
/// <param name="Name">The graph value name.</param>
/// <param name="ElementType">The element type (<see cref="TensorElementType.Undefined"/> for non-tensor values).</param>
/// <param name="Dimensions">The dimensions; -1 for dynamic ones.</param>
/// <param name="SymbolicDimensions">The dynamic axis names, "" where fixed or unnamed.</param>
public sealed record TensorMetadata(string Name, TensorElementType ElementType, long[] Dimensions, string[] SymbolicDimensions)
{
    /// <summary>The shape as text, dynamic axes by name: "[batch_size, 3, 224, 224]".</summary>
    public string ShapeText
    {
        get
        {
            var parts = new string[Dimensions.Length];
            for (var i = 0; i < parts.Length; i++)
            {
                parts[i] = Dimensions[i] >= 0
                    ? Dimensions[i].ToString(CultureInfo.InvariantCulture)
                    : i < SymbolicDimensions.Length && SymbolicDimensions[i].Length > 0 ? SymbolicDimensions[i] : "?";
            }
            return $"[{string.Join(", ", parts)}]";
        }
    }

    /// <summary>"pixel_values: float32 [image_batch_size, 3, 224, 224]".</summary>
    public override string ToString() => $"{Name}: {OrtValue.TypeName(ElementType)} {ShapeText}";
}

/// <summary>An input (or bound value) by graph name.</summary>
/// <param name="Name">The graph input name.</param>
/// <param name="Value">The tensor; the caller keeps ownership.</param>
public readonly record struct NamedValue(string Name, OrtValue Value);
