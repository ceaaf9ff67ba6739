using System.Text;
using Google.Protobuf;
using SynthVlm.Onnx.Builder.Proto;

namespace SynthVlm.Onnx.Builder;

/// <summary>One attribute of an ONNX node (an int, float, string or list of them).</summary>
public sealed class NodeAttribute
{
    private readonly Action<AttributeProto> _fill;

    private NodeAttribute(string name, Action<AttributeProto> fill)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        Name = name;
        _fill = fill;
    }

    /// <summary>The attribute name, for example "axis".</summary>
    public string Name { get; }

    /// <summary>An integer attribute.</summary>
    public static NodeAttribute Int(string name, long value) =>
        new(name, a => { a.Type = AttributeProto.Types.AttributeType.Int; a.I = value; });

    /// <summary>A float attribute.</summary>
    public static NodeAttribute Float(string name, float value) =>
        new(name, a => { a.Type = AttributeProto.Types.AttributeType.Float; a.F = value; });

    /// <summary>A UTF-8 string attribute.</summary>
    public static NodeAttribute String(string name, string value) =>
        new(name, a => { a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFrom(Encoding.UTF8.GetBytes(value)); });

    /// <summary>A list-of-integers attribute.</summary>
    public static NodeAttribute Ints(string name, params long[] values) =>
        new(name, a => { a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(values); });

    /// <summary>A list-of-floats attribute.</summary>
    public static NodeAttribute Floats(string name, params float[] values) =>
        new(name, a => { a.Type = AttributeProto.Types.AttributeType.Floats; a.Floats.AddRange(values); });

    internal AttributeProto ToProto()
    {
        var proto = new AttributeProto { Name = Name };
        _fill(proto);
        return proto;
    }
}
