using System.Text.Json;
using SynthVlm.Vlm.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// The tiny LLaVA-1.5 against the PyTorch reference of Fixtures/make_llava_reference.py (same
/// weights, bf16 values stored so both sides hold them exactly in fp32): logits, loss, the
/// gradient of every parameter, and greedy generation.
/// </summary>
public sealed class LlavaParityTests
{
    // fp32 with a different order of operations (SDPA vs softmax(QKᵀ)V, fused layer norms):
    // differences are a few ulps of values around 1–10, far below 1e-5.
    private const double Tolerance = 1e-5;

    internal static string TinyModel => Path.Combine(Scripts.Fixtures, "tiny-llava-hf");

    internal static JsonElement Reference { get; } =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "llava_reference.json"))).RootElement;

    internal static List<LlavaSequence> Sequences() =>
        Reference.GetProperty("sequences").EnumerateArray()
            .Select(s => new LlavaSequence(
                s.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                s.GetProperty("labels").EnumerateArray().Select(e => e.GetInt32()).ToArray()))
            .ToList();

    internal static Tensor Pixels()
    {
        var pixels = Reference.GetProperty("pixels");
        var shape = pixels.GetProperty("shape").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var values = pixels.GetProperty("values").EnumerateArray().Select(e => e.GetSingle()).ToArray();
        return tensor(values, shape);
    }

    [Fact]
    public void Logits_loss_and_every_gradient_equal_PyTorch_for_a_padded_batch_of_plain_vicuna_and_text_only_samples()
    {
        using var model = LlavaModelLoader.Load(TinyModel);
        using var pixels = Pixels();
        var sequences = Sequences();

        using var output = model.Forward(sequences, pixels);
        output.Loss!.backward();

        output.Batch.Lengths.Should().Equal(Reference.GetProperty("lengths").EnumerateArray().Select(e => e.GetInt64()));
        output.Loss.item<float>().Should().BeApproximately(Reference.GetProperty("loss").GetSingle(), (float)Tolerance);
        foreach (var pick in Reference.GetProperty("logits").EnumerateArray())
        {
            var row = pick.GetProperty("row").GetInt32();
            var position = pick.GetProperty("position").GetInt32();
            var expected = pick.GetProperty("logits").EnumerateArray().Select(e => e.GetDouble()).ToArray();
            using var actual = output.Logits[row, position].to_type(ScalarType.Float64);
            var values = actual.data<double>().ToArray();
            // Logits reach ±20: within 1e-5 relative to max(1, |expected|), as for the gradient sums.
            var worst = values.Zip(expected, (a, e) => Math.Abs(a - e) / Math.Max(1, Math.Abs(e))).Max();
            worst.Should().BeLessThan(Tolerance, $"logits of row {row} at position {position}");
        }

        var gradients = Reference.GetProperty("gradients");
        var checkedCount = 0;
        foreach (var (name, parameter) in model.named_parameters())
        {
            var expected = gradients.GetProperty(name);
            if (expected.ValueKind == JsonValueKind.Null)
            {
                parameter.grad.Should().BeNull($"{name} is never reached by the forward pass");
                continue;
            }
            parameter.grad.Should().NotBeNull(name);
            using var flat = parameter.grad!.flatten().to_type(ScalarType.Float64);
            var g = flat.data<double>().ToArray();
            var dot = 0.0;
            for (var i = 0; i < g.Length; i++)
            {
                dot += g[i] * Math.Sin((i * 0.7) + 0.3);
            }
            // Sums over thousands of terms: relative 1e-5 (absolute 1e-5 when the sum is small).
            Close(g.Sum(), expected.GetProperty("sum").GetDouble()).Should().BeTrue($"{name} gradient sum {g.Sum()} vs {expected.GetProperty("sum").GetDouble()}");
            Close(Math.Sqrt(g.Sum(x => x * x)), expected.GetProperty("norm").GetDouble()).Should().BeTrue($"{name} gradient norm");
            Close(dot, expected.GetProperty("dot").GetDouble()).Should().BeTrue($"{name} gradient projection");
            MaxAbsDifference(g.Take(8).ToArray(), expected.GetProperty("head").EnumerateArray().Select(e => e.GetDouble()).ToArray())
                .Should().BeLessThan(Tolerance, $"{name} first gradient values");
            checkedCount++;
        }
        checkedCount.Should().Be(gradients.EnumerateObject().Count(p => p.Value.ValueKind != JsonValueKind.Null));
    }

    private static bool Close(double actual, double expected) =>
        Math.Abs(actual - expected) <= Tolerance * Math.Max(1, Math.Abs(expected));

    internal static double MaxAbsDifference(double[] actual, double[] expected)
    {
        actual.Length.Should().Be(expected.Length);
        return actual.Zip(expected, (a, e) => Math.Abs(a - e)).Max();
    }
}
