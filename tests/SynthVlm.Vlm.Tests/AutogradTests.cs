using System.Text.Json;
using TorchSharp;

namespace SynthVlm.Vlm.Tests;

public sealed class AutogradTests
{
    private sealed record Reference(float[][] W, float[] X, float[] B, float Y, float[][] GradW, float[] GradX, float[] GradB);

    private static Reference Load()
    {
        var json = File.ReadAllText(Path.Combine(Scripts.Fixtures, "autograd_reference.json"));
        var options = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower, PropertyNameCaseInsensitive = true };
        return JsonSerializer.Deserialize<Reference>(json, options)
            ?? throw new InvalidOperationException("autograd_reference.json is empty");
    }

    [Fact]
    public void Gradients_of_sum_tanh_squared_equal_PyTorchs_within_1e6()
    {
        TorchRuntime.Initialize();
        var r = Load();
        var rows = r.W.Length;
        var cols = r.X.Length;

        using var scope = torch.NewDisposeScope();
        var w = torch.tensor(r.W.SelectMany(row => row).ToArray(), [rows, cols], requires_grad: true);
        var x = torch.tensor(r.X, [cols], requires_grad: true);
        var b = torch.tensor(r.B, [rows], requires_grad: true);

        var y = torch.tanh(torch.matmul(w, x) + b).pow(2).sum();
        y.backward();

        y.item<float>().Should().BeApproximately(r.Y, 1e-6f);
        AssertClose(w.grad!, r.GradW.SelectMany(row => row).ToArray());
        AssertClose(x.grad!, r.GradX);
        AssertClose(b.grad!, r.GradB);
    }

    private static void AssertClose(torch.Tensor actual, float[] expected)
    {
        var values = actual.data<float>().ToArray();
        values.Should().HaveCount(expected.Length);
        for (var i = 0; i < expected.Length; i++)
        {
            values[i].Should().BeApproximately(expected[i], 1e-6f, $"element {i}");
        }
    }
}
