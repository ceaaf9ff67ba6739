using System.Text.Json;
using SynthVlm.Testing;

namespace SynthVlm.Diffusion.Tests.Pipeline;

/// <summary>The latents' generator against torch's own CPU generator (Fixtures/make_torch_randn.py).</summary>
public class TorchGaussianNoiseTests
{
    [Fact]
    public void Draws_match_torch_randn_on_a_manual_seed_cpu_generator_including_continued_calls()
    {
        var path = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Diffusion.Tests", "Pipeline", "Fixtures", "torch_randn.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var compared = 0;
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var noise = new TorchGaussianNoise(c.GetProperty("seed").GetUInt64());
            foreach (var draw in c.GetProperty("draws").EnumerateArray())
            {
                var expected = draw.EnumerateArray().Select(v => v.GetSingle()).ToArray();
                var actual = new float[expected.Length];
                noise.Fill(actual);
                for (var i = 0; i < expected.Length; i++)
                {
                    // torch evaluates log/sin/cos with vectorised float routines: a few ulps apart.
                    actual[i].Should().BeApproximately(expected[i], 4e-6f + (2e-6f * Math.Abs(expected[i])), $"seed {c.GetProperty("seed")}, value {i}");
                }
                compared += expected.Length;
            }
        }
        compared.Should().BeGreaterThan(1000);
    }
}
