namespace SynthVlm.Onnx.Builder.Tests;

/// <summary>Runs a built graph once through ONNX Runtime and copies its outputs out.</summary>
internal static class OrtRun
{
    public static Dictionary<string, (float[] Values, long[] Shape)> Floats(OnnxModelBuilder model, IReadOnlyList<(string Name, Array Data, long[] Shape)> inputs, params string[] outputs)
    {
        using var session = InferenceSession.FromBytes(model.ToBytes());
        var values = new List<OrtValue>();
        try
        {
            var named = new List<NamedValue>();
            foreach (var (name, data, shape) in inputs)
            {
                var value = data switch
                {
                    float[] f => OrtValue.FromArray(f, shape),
                    long[] l => OrtValue.FromArray(l, shape),
                    _ => throw new ArgumentException($"Input '{name}': unsupported array type {data.GetType()}.", nameof(inputs)),
                };
                values.Add(value);
                named.Add(new NamedValue(name, value));
            }
            using var results = session.Run(named, outputs);
            return outputs.ToDictionary(o => o, o => (results[o].ToArray<float>(), results[o].Shape));
        }
        finally
        {
            foreach (var v in values)
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
