namespace SynthVlm.Imaging.Tests;

/// <summary>
/// Oracle: scikit-image's SSIM computed the long way in float64: a full 2-D Gaussian window
/// (outer product of the 1-D one) with scipy's 'reflect' boundary at every pixel, the whole
/// map, then the crop and the mean. Independent of the fast path's streaming, centring,
/// float32 and "valid region only" shortcuts.
/// </summary>
internal static class NaiveSsim
{
    public static double Compute(RgbImage a, RgbImage b, double sigma = 1.5)
    {
        int w = a.Width, h = a.Height;
        int radius = (int)(3.5 * sigma + 0.5);
        var g = new double[(2 * radius) + 1];
        for (int i = -radius; i <= radius; i++)
        {
            g[i + radius] = Math.Exp(-0.5 * i * i / (sigma * sigma));
        }
        double gs = g.Sum();
        for (int i = 0; i < g.Length; i++)
        {
            g[i] /= gs;
        }
        const double C1 = 0.01 * 255 * 0.01 * 255;
        const double C2 = 0.03 * 255 * 0.03 * 255;
        var pa = a.Pixels.ToArray();
        var pb = b.Pixels.ToArray();
        double total = 0;
        for (int c = 0; c < 3; c++)
        {
            double sum = 0;
            int count = 0;
            for (int y = radius; y < h - radius; y++)
            {
                for (int x = radius; x < w - radius; x++)
                {
                    double ux = 0, uy = 0, uxx = 0, uyy = 0, uxy = 0;
                    for (int dy = -radius; dy <= radius; dy++)
                    {
                        for (int dx = -radius; dx <= radius; dx++)
                        {
                            double weight = g[dy + radius] * g[dx + radius];
                            int i = (((Reflect(y + dy, h) * w) + Reflect(x + dx, w)) * 3) + c;
                            double va = pa[i], vb = pb[i];
                            ux += weight * va;
                            uy += weight * vb;
                            uxx += weight * va * va;
                            uyy += weight * vb * vb;
                            uxy += weight * va * vb;
                        }
                    }
                    double vx = uxx - ux * ux, vy = uyy - uy * uy, vxy = uxy - ux * uy;
                    sum += (2 * ux * uy + C1) * (2 * vxy + C2) / ((ux * ux + uy * uy + C1) * (vx + vy + C2));
                    count++;
                }
            }
            total += sum / count;
        }
        return total / 3;
    }

    /// <summary>scipy.ndimage 'reflect' (half-sample symmetric): d c b a | a b c d | d c b a.</summary>
    private static int Reflect(int i, int n)
    {
        while (i < 0 || i >= n)
        {
            i = i < 0 ? -i - 1 : (2 * n) - i - 1;
        }
        return i;
    }
}
