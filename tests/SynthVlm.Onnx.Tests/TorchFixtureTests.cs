using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Onnx.Tests;

/// <summary>
/// A model exported by torch.onnx (Fixtures/make_torch_fixture.py) must reproduce torch's own
/// outputs: conv, embedding lookup, layer norm, softmax attention, GELU, dynamic batch.
/// </summary>
public sealed class TorchFixtureTests
{
    // torch and ORT both compute in float32 but may order reductions (LayerNorm, Softmax,
    // MatMul over 16-32 terms) differently; values are O(1), so 1e-5 absolute covers a few ulps.
    private const float Tolerance = 1e-5f;

    private static readonly string FixtureFolder = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Onnx.Tests", "Fixtures");

    private sealed record Tensor(string Dtype, long[] Shape, double[] Data);

    private static (Dictionary<string, Tensor> Inputs, Dictionary<string, Tensor> Outputs) ReadFixture()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(FixtureFolder, "torch_io.json")));
        static Dictionary<string, Tensor> Read(JsonElement e)
        {
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var p in e.EnumerateObject())
            {
                result[p.Name] = new Tensor(
                    p.Value.GetProperty("dtype").GetString()!,
                    [.. p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt64())],
                    [.. p.Value.GetProperty("data").EnumerateArray().Select(x => x.GetDouble())]);
            }
            return result;
        }
        return (Read(doc.RootElement.GetProperty("inputs")), Read(doc.RootElement.GetProperty("outputs")));
    }

    [Fact]
    public void Torch_export_reproduces_torch_outputs()
    {
        var (inputs, outputs) = ReadFixture();
        using var session = InferenceSession.Load(Path.Combine(FixtureFolder, "torch_model.onnx"));
        session.Inputs.Select(i => i.ToString()).Should().Equal("input_ids: int64 [batch, 6]", "pixel_values: float32 [batch, 3, 8, 8]");

        var ids = inputs["input_ids"];
        var pixels = inputs["pixel_values"];
        ids.Dtype.Should().Be("int64");
        using var vIds = OrtValue.FromArray(ids.Data.Select(d => (long)d).ToArray(), ids.Shape);
        using var vPixels = OrtValue.FromArray(pixels.Data.Select(d => (float)d).ToArray(), pixels.Shape);
        using var result = session.Run([new("input_ids", vIds), new("pixel_values", vPixels)], ["logits", "hidden"]);

        foreach (var name in new[] { "logits", "hidden" })
        {
            var expected = outputs[name];
            result[name].Shape.Should().Equal(expected.Shape);
            AssertClose(result[name].GetSpan<float>(), expected.Data, name);
        }
    }

    [Fact]
    public void Torch_export_runs_a_smaller_batch_on_the_dynamic_axis()
    {
        var (inputs, outputs) = ReadFixture();
        using var session = InferenceSession.Load(Path.Combine(FixtureFolder, "torch_model.onnx"));
        var ids = inputs["input_ids"];
        var pixels = inputs["pixel_values"];
        // The second sample alone: batch is a free axis, and samples do not interact.
        var idsPer = (int)(ids.Data.Length / ids.Shape[0]);
        var pixPer = (int)(pixels.Data.Length / pixels.Shape[0]);
        using var vIds = OrtValue.FromArray(ids.Data.Skip(idsPer).Take(idsPer).Select(d => (long)d).ToArray(), 1, ids.Shape[1]);
        using var vPixels = OrtValue.FromArray(pixels.Data.Skip(pixPer).Take(pixPer).Select(d => (float)d).ToArray(), [1, .. pixels.Shape[1..]]);
        using var result = session.Run([new("input_ids", vIds), new("pixel_values", vPixels)], ["logits"]);
        var logits = outputs["logits"];
        var per = (int)(logits.Data.Length / logits.Shape[0]);
        result[0].Shape.Should().Equal(1, logits.Shape[1]);
        AssertClose(result[0].GetSpan<float>(), logits.Data.Skip(per).Take(per).ToArray(), "logits[1]");
    }

    private static void AssertClose(ReadOnlySpan<float> actual, double[] expected, string what)
    {
        actual.Length.Should().Be(expected.Length, what);
        var worst = 0.0;
        for (var i = 0; i < expected.Length; i++)
        {
            worst = Math.Max(worst, Math.Abs(actual[i] - expected[i]));
        }
        worst.Should().BeLessThanOrEqualTo(Tolerance, $"{what} must match torch within {Tolerance}");
    }
}
