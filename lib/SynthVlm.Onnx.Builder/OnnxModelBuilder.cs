using System.Runtime.InteropServices;
using Google.Protobuf;
using SynthVlm.Onnx.Builder.Proto;

namespace SynthVlm.Onnx.Builder;

/// <summary>
/// Builds one ONNX model: graph inputs and outputs, initializers (weights) and nodes, then
/// writes the protobuf. Names are the ONNX value names; every helper returns the name of the
/// value it produced so calls compose. Not thread-safe.
/// </summary>
public sealed class OnnxModelBuilder
{
    private readonly GraphProto _graph;
    private readonly Dictionary<string, long> _opsets = new(StringComparer.Ordinal);
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nextId;

    /// <summary>Starts a model with a graph name and the default-domain opset version.</summary>
    public OnnxModelBuilder(string graphName, long opsetVersion = 17)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(graphName);
        ArgumentOutOfRangeException.ThrowIfLessThan(opsetVersion, 7);
        _graph = new GraphProto { Name = graphName };
        _opsets[""] = opsetVersion;
    }

    /// <summary>The default-domain opset version the graph is written for.</summary>
    public long OpsetVersion => _opsets[""];

    /// <summary>Text for ModelProto.producer_name.</summary>
    public string ProducerName { get; set; } = "SynthVlm";

    /// <summary>Adds a graph input and returns its name.</summary>
    public string Input(string name, TensorDataType type, params Dim[] shape)
    {
        Claim(name);
        _graph.Input.Add(ValueInfo(name, type, shape));
        return name;
    }

    /// <summary>Declares an existing value as a graph output (the value must be produced by a node or be an input/initializer).</summary>
    public void Output(string name, TensorDataType type, params Dim[] shape)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!_names.Contains(name))
        {
            throw new InvalidOperationException($"Graph output '{name}' is not produced by any node, input or initializer.");
        }
        _graph.Output.Add(ValueInfo(name, type, shape));
    }

    /// <summary>Adds a float32 initializer with the given shape and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<float> values, params long[] shape) =>
        AddInitializer(name, TensorDataType.Float, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>Adds an int64 initializer with the given shape and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<long> values, params long[] shape) =>
        AddInitializer(name, TensorDataType.Int64, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>Adds an int32 initializer with the given shape and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<int> values, params long[] shape) =>
        AddInitializer(name, TensorDataType.Int32, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>Adds a float16 initializer with the given shape and returns its name.</summary>
    public string Initializer(string name, ReadOnlySpan<Half> values, params long[] shape) =>
        AddInitializer(name, TensorDataType.Float16, MemoryMarshal.AsBytes(values), values.Length, shape);

    /// <summary>
    /// Adds a node. <paramref name="outputs"/> are the names of the values it produces
    /// (a fresh unique name is made for each null entry); returns the output names.
    /// </summary>
    public string[] Node(string opType, IReadOnlyList<string> inputs, int outputCount = 1, IEnumerable<NodeAttribute>? attributes = null, string domain = "", string[]? outputs = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(opType);
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentOutOfRangeException.ThrowIfLessThan(outputCount, 1);
        var node = new NodeProto { OpType = opType, Domain = domain, Name = $"{opType}_{_nextId}" };
        foreach (var input in inputs)
        {
            // An empty name is ONNX's "optional input omitted".
            if (input.Length > 0 && !_names.Contains(input))
            {
                throw new InvalidOperationException($"Node {opType}: input '{input}' is not defined yet.");
            }
            node.Input.Add(input);
        }
        var names = new string[outputCount];
        for (var i = 0; i < outputCount; i++)
        {
            names[i] = outputs is not null && i < outputs.Length && outputs[i] is { Length: > 0 } given ? given : $"{opType.ToLowerInvariant()}_{_nextId}_{i}";
            Claim(names[i]);
            node.Output.Add(names[i]);
        }
        _nextId++;
        if (attributes is not null)
        {
            foreach (var attribute in attributes)
            {
                node.Attribute.Add(attribute.ToProto());
            }
        }
        _graph.Node.Add(node);
        return names;
    }

    /// <summary>Adds a single-output node and returns its output name.</summary>
    public string Op(string opType, params string[] inputs) => Node(opType, inputs)[0];

    /// <summary>Adds a single-output node with attributes and returns its output name.</summary>
    public string Op(string opType, string[] inputs, params NodeAttribute[] attributes) => Node(opType, inputs, 1, attributes)[0];

    /// <summary>Declares an opset for a non-default domain (for example "com.microsoft").</summary>
    public void UseOpset(string domain, long version) => _opsets[domain] = version;

    /// <summary>The serialized model, all weights inline.</summary>
    public byte[] ToBytes() => ToModel().ToByteArray();

    /// <summary>
    /// Writes the model to <paramref name="path"/>. Initializers of at least
    /// <paramref name="externalDataThreshold"/> bytes go to <c>&lt;file name&gt;_data</c> beside it
    /// (optimum's naming), referenced by relative location, offset and length.
    /// </summary>
    public void Save(string path, long externalDataThreshold = long.MaxValue)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var model = ToModel();
        var dataName = Path.GetFileName(path) + "_data";
        var dataPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, dataName);
        FileStream? data = null;
        try
        {
            foreach (var tensor in model.Graph.Initializer)
            {
                if (tensor.RawData.Length < externalDataThreshold || tensor.RawData.Length == 0)
                {
                    continue;
                }
                data ??= new FileStream(dataPath, FileMode.Create, FileAccess.Write);
                var offset = data.Position;
                tensor.RawData.WriteTo(data);
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = dataName });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = tensor.RawData.Length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
                tensor.DataLocation = TensorProto.Types.DataLocation.External;
                tensor.RawData = ByteString.Empty;
            }
        }
        finally
        {
            data?.Dispose();
        }
        if (data is null && File.Exists(dataPath))
        {
            File.Delete(dataPath);
        }
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        model.WriteTo(file);
    }

    /// <summary>Returns a fresh unique value name with the given prefix.</summary>
    public string UniqueName(string prefix)
    {
        var name = $"{prefix}_{_nextId++}";
        while (_names.Contains(name))
        {
            name = $"{prefix}_{_nextId++}";
        }
        return name;
    }

    internal ModelProto ToModel()
    {
        var model = new ModelProto
        {
            // IR 8 = ONNX 1.10+, readable by every ONNX Runtime since 1.10.
            IrVersion = 8,
            ProducerName = ProducerName,
            Graph = _graph.Clone(),
        };
        foreach (var (domain, version) in _opsets)
        {
            model.OpsetImport.Add(new OperatorSetIdProto { Domain = domain, Version = version });
        }
        return model;
    }

    private string AddInitializer(string name, TensorDataType type, ReadOnlySpan<byte> bytes, int count, long[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long expected = 1;
        foreach (var d in shape)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(d, nameof(shape));
            expected *= d;
        }
        if (expected != count)
        {
            throw new ArgumentException($"Initializer '{name}': {count} values do not fill shape [{string.Join(", ", shape)}] ({expected}).", nameof(shape));
        }
        Claim(name);
        var tensor = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        tensor.Dims.AddRange(shape);
        _graph.Initializer.Add(tensor);
        return name;
    }

    private void Claim(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        if (!_names.Add(name))
        {
            throw new InvalidOperationException($"The value name '{name}' is already used in graph '{_graph.Name}'.");
        }
    }

    private static ValueInfoProto ValueInfo(string name, TensorDataType type, Dim[] shape)
    {
        var tensorShape = new TensorShapeProto();
        foreach (var dim in shape)
        {
            tensorShape.Dim.Add(dim.Symbol is { } symbol
                ? new TensorShapeProto.Types.Dimension { DimParam = symbol }
                : new TensorShapeProto.Types.Dimension { DimValue = dim.Size });
        }
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)type, Shape = tensorShape } },
        };
    }
}
