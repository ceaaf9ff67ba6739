using System.Runtime.InteropServices;
using Google.Protobuf;
using SynthVlm.Onnx.Builder.Proto;

namespace SynthVlm.Onnx.Builder;

/// <summary>
/// Rewrites a float16 ONNX model as float32: every float16 initializer and constant becomes
/// float32 (external data is read and inlined), Cast-to-float16 becomes Cast-to-float32, and
/// every float16 value type (inputs, outputs, intermediate value infos, subgraphs) becomes
/// float32. This is what diffusers' <c>force_upcast</c> does for an fp16 SDXL VAE, whose
/// activations overflow half precision; fields this reader does not know are kept as they are.
/// </summary>
public static class Float16Upcast
{
    private const int Float = (int)TensorDataType.Float;
    private const int Float16 = (int)TensorDataType.Float16;

    /// <summary>Whether the model declares any float16 input or output.</summary>
    public static bool HasFloat16Interface(ReadOnlySpan<byte> model)
    {
        var proto = ModelProto.Parser.ParseFrom(model);
        return proto.Graph.Input.Concat(proto.Graph.Output).Any(v => v.Type?.TensorType?.ElemType == Float16);
    }

    /// <summary>
    /// Returns the float32 version of <paramref name="model"/>. External data files are read from
    /// <paramref name="externalDataFolder"/> (the model file's folder).
    /// </summary>
    /// <exception cref="InvalidDataException">The bytes are not an ONNX model, or external data is missing or short.</exception>
    public static byte[] Convert(ReadOnlySpan<byte> model, string? externalDataFolder = null)
    {
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(model);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidDataException($"not an ONNX model: {e.Message}", e);
        }
        Graph(proto.Graph, externalDataFolder);
        return proto.ToByteArray();
    }

    private static void Graph(GraphProto? graph, string? folder)
    {
        if (graph is null)
        {
            return;
        }
        foreach (var tensor in graph.Initializer)
        {
            Tensor(tensor, folder);
        }
        foreach (var value in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
        {
            if (value.Type?.TensorType is { ElemType: Float16 } t)
            {
                t.ElemType = Float;
            }
        }
        foreach (var node in graph.Node)
        {
            foreach (var attribute in node.Attribute)
            {
                if (node.OpType == "Cast" && attribute.Name == "to" && attribute.I == Float16)
                {
                    attribute.I = Float;
                }
                if (attribute.T is not null)
                {
                    Tensor(attribute.T, folder);
                }
                foreach (var t in attribute.Tensors)
                {
                    Tensor(t, folder);
                }
                Graph(attribute.G, folder);
                foreach (var g in attribute.Graphs)
                {
                    Graph(g, folder);
                }
            }
        }
    }

    private static void Tensor(TensorProto tensor, string? folder)
    {
        if (tensor.DataType != Float16)
        {
            return;
        }
        ReadOnlySpan<byte> bits;
        byte[]? owned = null;
        if (tensor.DataLocation == TensorProto.Types.DataLocation.External)
        {
            owned = ReadExternal(tensor, folder);
            bits = owned;
        }
        else if (!tensor.RawData.IsEmpty)
        {
            bits = tensor.RawData.Span;
        }
        else
        {
            // int32_data carries one float16 bit pattern per element.
            owned = new byte[tensor.Int32Data.Count * 2];
            for (var i = 0; i < tensor.Int32Data.Count; i++)
            {
                BitConverter.TryWriteBytes(owned.AsSpan(i * 2), (ushort)tensor.Int32Data[i]);
            }
            bits = owned;
        }
        var halves = MemoryMarshal.Cast<byte, Half>(bits);
        var floats = new float[halves.Length];
        for (var i = 0; i < halves.Length; i++)
        {
            floats[i] = (float)halves[i];
        }
        tensor.Int32Data.Clear();
        tensor.ExternalData.Clear();
        tensor.DataLocation = TensorProto.Types.DataLocation.Default;
        tensor.RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(floats.AsSpan()));
        tensor.DataType = Float;
    }

    private static byte[] ReadExternal(TensorProto tensor, string? folder)
    {
        var entries = tensor.ExternalData.ToDictionary(e => e.Key, e => e.Value, StringComparer.Ordinal);
        if (folder is null || !entries.TryGetValue("location", out var location))
        {
            throw new InvalidDataException($"initializer '{tensor.Name}' has external data but no folder or location to read it from");
        }
        var path = Path.Combine(folder, location);
        var offset = entries.TryGetValue("offset", out var o) ? long.Parse(o, System.Globalization.CultureInfo.InvariantCulture) : 0;
        long count = 1;
        foreach (var d in tensor.Dims)
        {
            count *= d;
        }
        var length = entries.TryGetValue("length", out var l) ? long.Parse(l, System.Globalization.CultureInfo.InvariantCulture) : count * 2;
        using var file = File.OpenRead(path);
        if (offset + length > file.Length)
        {
            throw new InvalidDataException($"{path}: initializer '{tensor.Name}' needs bytes {offset}..{offset + length}, the file has {file.Length}");
        }
        var buffer = new byte[length];
        file.Position = offset;
        file.ReadExactly(buffer);
        return buffer;
    }
}
