using SynthVlm.Onnx.Builder;

namespace SynthVlm.Onnx.Tests;

/// <summary>Small models built in-process with the ONNX builder.</summary>
internal static class TestModels
{
    /// <summary>A float tensor over <paramref name="data"/>.</summary>
    public static OrtValue Tensor(float[] data, params long[] shape) => OrtValue.CreateTensorValueFromMemory(data, shape);

    /// <summary>Runs <paramref name="session"/> once (no cancellation) and copies output 0 out.</summary>
    public static float[] RunFirst(InferenceSession session, Dictionary<string, OrtValue> inputs, string output)
    {
        using var options = new RunOptions();
        using var result = session.Run(options, inputs, [output]);
        return result[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>y = x·W + b with x [batch, 3], W [3, 2], b [2]; returns the model and the weights.</summary>
    public static (byte[] Model, float[] W, float[] B) Linear(string batchAxis = "batch_size")
    {
        float[] w = [0.5f, -1f, 2f, 0.25f, -0.75f, 1.5f];
        float[] b = [0.1f, -0.2f];
        var m = new OnnxModelBuilder("linear");
        var x = m.Input("x", TensorDataType.Float, batchAxis, 3);
        var wn = m.Initializer("W", w, 3, 2);
        var bn = m.Initializer("B", b, 2);
        var mm = m.Op("MatMul", x, wn);
        m.Node("Add", [mm, bn], outputs: ["y"]);
        m.Output("y", TensorDataType.Float, batchAxis, 2);
        return (m.ToBytes(), w, b);
    }

    /// <summary>The naive reference for <see cref="Linear"/>.</summary>
    public static float[] LinearReference(float[] x, float[] w, float[] b)
    {
        var batch = x.Length / 3;
        var y = new float[batch * 2];
        for (var n = 0; n < batch; n++)
        {
            for (var j = 0; j < 2; j++)
            {
                var sum = 0f;
                for (var k = 0; k < 3; k++)
                {
                    sum += x[(n * 3) + k] * w[(k * 2) + j];
                }
                y[(n * 2) + j] = sum + b[j];
            }
        }
        return y;
    }

    /// <summary>z = a + b, both [2, 3] float.</summary>
    public static OnnxModelBuilder AddBuilder()
    {
        var m = new OnnxModelBuilder("add");
        var a = m.Input("a", TensorDataType.Float, 2, 3);
        var b = m.Input("b", TensorDataType.Float, 2, 3);
        m.Node("Add", [a, b], outputs: ["z"]);
        m.Output("z", TensorDataType.Float, 2, 3);
        return m;
    }
}

/// <summary>A model slow enough to cancel mid-run: a chain of large MatMuls.</summary>
internal static class SlowModel
{
    public const int Dim = 1024;

    /// <summary>x [rows, 1024] multiplied by a 1024² identity <paramref name="layers"/> times (about 2 GFLOP per layer at 1024 rows).</summary>
    public static byte[] Build(int layers = 300)
    {
        var identity = new float[Dim * Dim];
        for (var i = 0; i < Dim; i++)
        {
            identity[(i * Dim) + i] = 1f;
        }
        var m = new OnnxModelBuilder("slow");
        var x = m.Input("x", TensorDataType.Float, "rows", Dim);
        var w = m.Initializer("W", identity, Dim, Dim);
        var h = x;
        for (var i = 0; i < layers; i++)
        {
            h = m.Op("MatMul", h, w);
        }
        m.Node("Identity", [h], outputs: ["y"]);
        m.Output("y", TensorDataType.Float, "rows", Dim);
        return m.ToBytes();
    }
}
