namespace SynthVlm.Onnx.Builder.Tests;

/// <summary>Runs a built graph once through ONNX Runtime and copies its outputs out.</summary>
internal static class OrtRun
{
    public static Dictionary<string, (float[] Values, long[] Shape)> Floats(OnnxModelBuilder model, IReadOnlyList<(string Name, Array Data, long[] Shape)> inputs, params string[] outputs)
    {
        using var session = new InferenceSession(model.ToBytes());
        var values = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        try
        {
            foreach (var (name, data, shape) in inputs)
            {
                values[name] = data switch
                {
                    float[] f => OrtValue.CreateTensorValueFromMemory(f, shape),
                    long[] l => OrtValue.CreateTensorValueFromMemory(l, shape),
                    _ => throw new ArgumentException($"Input '{name}': unsupported array type {data.GetType()}.", nameof(inputs)),
                };
            }
            using var runOptions = new RunOptions();
            using var results = session.Run(runOptions, values, outputs);
            return outputs.Select((o, i) => (o, results[i])).ToDictionary(
                p => p.o, p => (p.Item2.GetTensorDataAsSpan<float>().ToArray(), p.Item2.GetTensorTypeAndShape().Shape));
        }
        finally
        {
            foreach (var v in values.Values)
            {
                v.Dispose();
            }
        }
    }

    public static void ShouldBeClose(this float[] actual, IReadOnlyList<double> expected, double tolerance, string what)
    {
        actual.Should().HaveCount(expected.Count, what);
        var worst = 0.0;
        var at = -1;
        for (var i = 0; i < actual.Length; i++)
        {
            var err = Math.Abs(actual[i] - expected[i]);
            if (!(err <= worst))
            {
                worst = err;
                at = i;
            }
        }
        worst.Should().BeLessThanOrEqualTo(tolerance, $"{what}: worst error at index {at} (actual {(at >= 0 ? actual[at] : 0)}, expected {(at >= 0 ? expected[at] : 0)})");
    }
}
