using SynthVlm.Imaging;

namespace SynthVlm.Diffusion;

/// <summary>The VAE decoder's output made into images, as diffusers' image processor postprocesses it.</summary>
internal static class VaeImages
{
    /// <summary>Whether every value is finite.</summary>
    public static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (var v in values)
        {
            if (!float.IsFinite(v))
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// One result per batch item: the item's failure when it had one, else its image from the decoded pixels
    /// [decoded items, 3, height, width] in [-1, 1] (the decoded items are the ones without a failure, in order);
    /// an item whose pixels are not all finite fails with <paramref name="nonFiniteReason"/>.
    /// </summary>
    public static GeneratedImageResult[] ToResults(float[] pixels, int width, int height, IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds,
        string?[] failed, bool[] truncated, string nonFiniteReason)
    {
        var results = new GeneratedImageResult[failed.Length];
        var plane = width * height;
        for (int b = 0, k = 0; b < failed.Length; b++)
        {
            if (failed[b] is { } reason)
            {
                results[b] = new GeneratedImageResult(prompts[b], seeds[b], null, reason, truncated[b]);
                continue;
            }
            var src = pixels.AsSpan(k * 3 * plane, 3 * plane);
            k++;
            if (!AllFinite(src))
            {
                results[b] = new GeneratedImageResult(prompts[b], seeds[b], null, nonFiniteReason, truncated[b]);
                continue;
            }
            var image = RgbImage.Allocate(width, height);
            var dst = image.Pixels;
            for (var p = 0; p < plane; p++)
            {
                for (var ch = 0; ch < 3; ch++)
                {
                    // diffusers' postprocess: (x / 2 + 0.5).clamp(0, 1), then round(x * 255).
                    var v = Math.Clamp((src[(ch * plane) + p] / 2f) + 0.5f, 0f, 1f);
                    dst[(p * 3) + ch] = (byte)MathF.Round(v * 255f, MidpointRounding.ToEven);
                }
            }
            results[b] = new GeneratedImageResult(prompts[b], seeds[b], image, null, truncated[b]);
        }
        return results;
    }
}
