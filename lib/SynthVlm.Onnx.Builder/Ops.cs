namespace SynthVlm.Onnx.Builder;

/// <summary>
/// Typed helpers for single ONNX operators, as extension methods on <see cref="OnnxModelBuilder"/>.
/// Each returns the name of the value it produced. Where an operator's signature changed
/// between opsets (axes as attribute or as input), the helper writes the form that the
/// builder's <see cref="OnnxModelBuilder.OpsetVersion"/> expects.
/// </summary>
public static class Ops
{
    /// <summary>A float32 scalar (rank 0) constant.</summary>
    public static string ScalarFloat(this OnnxModelBuilder b, float value, string prefix = "const")
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Initializer(b.UniqueName(prefix), (ReadOnlySpan<float>)[value]);
    }

    /// <summary>An int64 scalar (rank 0) constant.</summary>
    public static string ScalarInt64(this OnnxModelBuilder b, long value, string prefix = "const")
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Initializer(b.UniqueName(prefix), (ReadOnlySpan<long>)[value]);
    }

    /// <summary>A one-dimensional int64 constant (shapes, axes, indices).</summary>
    public static string Int64s(this OnnxModelBuilder b, params long[] values)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(values);
        return b.Initializer(b.UniqueName("ints"), (ReadOnlySpan<long>)values, values.Length);
    }

    /// <summary>Adds a float32 weight tensor under <paramref name="name"/>, checking that its length fills <paramref name="shape"/>.</summary>
    public static string Weight(this OnnxModelBuilder b, string name, ReadOnlySpan<float> values, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Initializer(name, values, shape);
    }

    /// <summary>Element-wise <c>a + b</c> with broadcasting.</summary>
    public static string Add(this OnnxModelBuilder b, string x, string y) => Binary(b, "Add", x, y);

    /// <summary>Element-wise <c>a − b</c> with broadcasting.</summary>
    public static string Sub(this OnnxModelBuilder b, string x, string y) => Binary(b, "Sub", x, y);

    /// <summary>Element-wise <c>a × b</c> with broadcasting.</summary>
    public static string Mul(this OnnxModelBuilder b, string x, string y) => Binary(b, "Mul", x, y);

    /// <summary>Element-wise <c>a ÷ b</c> with broadcasting.</summary>
    public static string Div(this OnnxModelBuilder b, string x, string y) => Binary(b, "Div", x, y);

    /// <summary>Batched matrix product (numpy matmul semantics).</summary>
    public static string MatMul(this OnnxModelBuilder b, string x, string y) => Binary(b, "MatMul", x, y);

    /// <summary>Element-wise <c>x &gt; y</c>, giving bool.</summary>
    public static string Greater(this OnnxModelBuilder b, string x, string y) => Binary(b, "Greater", x, y);

    /// <summary>Element-wise <c>x == y</c>, giving bool.</summary>
    public static string Equal(this OnnxModelBuilder b, string x, string y) => Binary(b, "Equal", x, y);

    /// <summary>Element-wise e^x.</summary>
    public static string Exp(this OnnxModelBuilder b, string x) => Unary(b, "Exp", x);

    /// <summary>Element-wise logistic sigmoid.</summary>
    public static string Sigmoid(this OnnxModelBuilder b, string x) => Unary(b, "Sigmoid", x);

    /// <summary>Element-wise error function.</summary>
    public static string Erf(this OnnxModelBuilder b, string x) => Unary(b, "Erf", x);

    /// <summary>Element-wise square root.</summary>
    public static string Sqrt(this OnnxModelBuilder b, string x) => Unary(b, "Sqrt", x);

    /// <summary>Copies a value under a chosen name, typically to give a graph output its contract name.</summary>
    public static string Identity(this OnnxModelBuilder b, string x, string outputName)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentException.ThrowIfNullOrWhiteSpace(outputName);
        return b.Node("Identity", [x], outputs: [outputName])[0];
    }

    /// <summary>The shape of <paramref name="x"/> as a 1-D int64 tensor.</summary>
    public static string Shape(this OnnxModelBuilder b, string x) => Unary(b, "Shape", x);

    /// <summary>One dimension of <paramref name="x"/> as a 1-D int64 tensor of length 1 (ready for Concat into a shape).</summary>
    public static string DimOf(this OnnxModelBuilder b, string x, long axis)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Gather(b.Shape(x), b.Int64s(axis), 0);
    }

    /// <summary>Casts to another element type.</summary>
    public static string Cast(this OnnxModelBuilder b, string x, TensorDataType to)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("Cast", [x], NodeAttribute.Int("to", (long)to));
    }

    /// <summary>Reshapes to a shape held in a 1-D int64 value (0 copies the input's dimension, −1 is inferred).</summary>
    public static string Reshape(this OnnxModelBuilder b, string x, string shape) => Binary(b, "Reshape", x, shape);

    /// <summary>Reshapes to a constant shape (0 copies the input's dimension, −1 is inferred).</summary>
    public static string Reshape(this OnnxModelBuilder b, string x, params long[] shape)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Reshape(x, b.Int64s(shape));
    }

    /// <summary>Permutes the axes.</summary>
    public static string Transpose(this OnnxModelBuilder b, string x, params long[] perm)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(perm);
        return b.Op("Transpose", [x], NodeAttribute.Ints("perm", perm));
    }

    /// <summary>Gathers slices of <paramref name="data"/> along <paramref name="axis"/> at <paramref name="indices"/>.</summary>
    public static string Gather(this OnnxModelBuilder b, string data, string indices, long axis = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("Gather", [data, indices], NodeAttribute.Int("axis", axis));
    }

    /// <summary>GatherND with <paramref name="batchDims"/> leading batch dimensions.</summary>
    public static string GatherND(this OnnxModelBuilder b, string data, string indices, long batchDims = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("GatherND", [data, indices], NodeAttribute.Int("batch_dims", batchDims));
    }

    /// <summary>Concatenates along <paramref name="axis"/>.</summary>
    public static string Concat(this OnnxModelBuilder b, long axis, params string[] inputs)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Length == 0)
        {
            throw new ArgumentException("Concat needs at least one input.", nameof(inputs));
        }
        return b.Op("Concat", inputs, NodeAttribute.Int("axis", axis));
    }

    /// <summary>Slices along <paramref name="axes"/>; starts and ends are 1-D int64 values.</summary>
    public static string Slice(this OnnxModelBuilder b, string x, string starts, string ends, string axes)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("Slice", x, starts, ends, axes);
    }

    /// <summary>Broadcasts to a shape held in a 1-D int64 value.</summary>
    public static string Expand(this OnnxModelBuilder b, string x, string shape) => Binary(b, "Expand", x, shape);

    /// <summary>Picks <paramref name="whenTrue"/> where the condition holds, else <paramref name="whenFalse"/>.</summary>
    public static string Where(this OnnxModelBuilder b, string condition, string whenTrue, string whenFalse)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("Where", condition, whenTrue, whenFalse);
    }

    /// <summary>The int64 sequence start, start+delta, … below limit (all three rank-0 int64 values).</summary>
    public static string Range(this OnnxModelBuilder b, string start, string limit, string delta)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("Range", start, limit, delta);
    }

    /// <summary>Softmax over one axis (opset 13 semantics; for the last axis every opset agrees).</summary>
    public static string Softmax(this OnnxModelBuilder b, string x, long axis = -1)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (b.OpsetVersion < 13 && axis != -1)
        {
            throw new NotSupportedException($"Softmax over axis {axis} needs opset 13 or later (the builder targets {b.OpsetVersion}).");
        }
        return b.Op("Softmax", [x], NodeAttribute.Int("axis", axis));
    }

    /// <summary>Index of the largest value along <paramref name="axis"/> (the first one on ties), as int64.</summary>
    public static string ArgMax(this OnnxModelBuilder b, string x, long axis, bool keepDims = false)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op("ArgMax", [x], NodeAttribute.Int("axis", axis), NodeAttribute.Int("keepdims", keepDims ? 1 : 0));
    }

    /// <summary>Inserts size-1 axes.</summary>
    public static string Unsqueeze(this OnnxModelBuilder b, string x, params long[] axes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(axes);
        // Opset 13 moved axes from an attribute to an input.
        return b.OpsetVersion >= 13
            ? b.Op("Unsqueeze", x, b.Int64s(axes))
            : b.Op("Unsqueeze", [x], NodeAttribute.Ints("axes", axes));
    }

    /// <summary>Removes size-1 axes.</summary>
    public static string Squeeze(this OnnxModelBuilder b, string x, params long[] axes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(axes);
        return b.OpsetVersion >= 13
            ? b.Op("Squeeze", x, b.Int64s(axes))
            : b.Op("Squeeze", [x], NodeAttribute.Ints("axes", axes));
    }

    /// <summary>Sum over <paramref name="axes"/>.</summary>
    public static string ReduceSum(this OnnxModelBuilder b, string x, bool keepDims, params long[] axes) =>
        Reduce(b, "ReduceSum", 13, x, keepDims, axes);

    /// <summary>Mean over <paramref name="axes"/>.</summary>
    public static string ReduceMean(this OnnxModelBuilder b, string x, bool keepDims, params long[] axes) =>
        Reduce(b, "ReduceMean", 18, x, keepDims, axes);

    /// <summary>Euclidean norm over <paramref name="axes"/>.</summary>
    public static string ReduceL2(this OnnxModelBuilder b, string x, bool keepDims, params long[] axes) =>
        Reduce(b, "ReduceL2", 18, x, keepDims, axes);

    private static string Reduce(OnnxModelBuilder b, string op, long axesInputSince, string x, bool keepDims, long[] axes)
    {
        ArgumentNullException.ThrowIfNull(b);
        ArgumentNullException.ThrowIfNull(axes);
        if (axes.Length == 0)
        {
            throw new ArgumentException($"{op} needs at least one axis (an empty list means 'all axes' in some opsets and 'none' in others).", nameof(axes));
        }
        var keep = NodeAttribute.Int("keepdims", keepDims ? 1 : 0);
        return b.OpsetVersion >= axesInputSince
            ? b.Op(op, [x, b.Int64s(axes)], keep)
            : b.Op(op, [x], NodeAttribute.Ints("axes", axes), keep);
    }

    private static string Unary(OnnxModelBuilder b, string op, string x)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op(op, x);
    }

    private static string Binary(OnnxModelBuilder b, string op, string x, string y)
    {
        ArgumentNullException.ThrowIfNull(b);
        return b.Op(op, x, y);
    }
}
