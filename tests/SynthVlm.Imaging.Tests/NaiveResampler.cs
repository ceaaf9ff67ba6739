namespace SynthVlm.Imaging.Tests;

/// <summary>
/// Oracle: Pillow's resize written as plainly as possible (weights recomputed per output pixel,
/// every source row through the horizontal pass, one pixel and channel at a time), with its own
/// copy of the filter formulas. The fast <see cref="Resampler"/> must match it byte for byte.
/// </summary>
internal static class NaiveResampler
{
    private const int Bits = 22;

    public static RgbImage Resize(RgbImage source, int width, int height, ResampleFilter filter)
    {
        byte[] src = source.Pixels.ToArray();
        int sw = source.Width, sh = source.Height;
        if (width == sw && height == sh)
        {
            return RgbImage.FromPixels(sw, sh, src);
        }
        if (filter == ResampleFilter.Nearest)
        {
            return Nearest(src, sw, sh, width, height);
        }
        byte[] horizontal = src;
        if (width != sw)
        {
            horizontal = new byte[width * sh * 3];
            for (int y = 0; y < sh; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    var (start, fixedWeights) = Kernel(sw, width, x, filter);
                    for (int c = 0; c < 3; c++)
                    {
                        int sum = 1 << (Bits - 1);
                        for (int t = 0; t < fixedWeights.Length; t++)
                        {
                            sum += src[(((y * sw) + start + t) * 3) + c] * fixedWeights[t];
                        }
                        horizontal[(((y * width) + x) * 3) + c] = Clip(sum);
                    }
                }
            }
        }
        byte[] output = horizontal;
        if (height != sh)
        {
            output = new byte[width * height * 3];
            for (int y = 0; y < height; y++)
            {
                var (start, fixedWeights) = Kernel(sh, height, y, filter);
                for (int x = 0; x < width; x++)
                {
                    for (int c = 0; c < 3; c++)
                    {
                        int sum = 1 << (Bits - 1);
                        for (int t = 0; t < fixedWeights.Length; t++)
                        {
                            sum += horizontal[((((start + t) * width) + x) * 3) + c] * fixedWeights[t];
                        }
                        output[(((y * width) + x) * 3) + c] = Clip(sum);
                    }
                }
            }
        }
        return RgbImage.FromPixels(width, height, output);
    }

    private static byte Clip(int sum) => (byte)Math.Clamp(sum >> Bits, 0, 255);

    private static (int Start, int[] Weights) Kernel(int inSize, int outSize, int i, ResampleFilter filter)
    {
        double scale = (double)inSize / outSize;
        double filterScale = Math.Max(1.0, scale);
        double support = filter switch
        {
            ResampleFilter.Box => 0.5,
            ResampleFilter.Bilinear => 1.0,
            ResampleFilter.Bicubic => 2.0,
            _ => 3.0,
        } * filterScale;
        double center = (i + 0.5) * scale;
        int min = Math.Max(0, (int)(center - support + 0.5));
        int max = Math.Min(inSize, (int)(center + support + 0.5));
        var weights = new double[max - min];
        for (int x = min; x < max; x++)
        {
            weights[x - min] = Filter(filter, (x - center + 0.5) / filterScale);
        }
        double total = weights.Sum();
        var fixedWeights = new int[weights.Length];
        for (int t = 0; t < weights.Length; t++)
        {
            double w = total != 0 ? weights[t] / total : weights[t];
            fixedWeights[t] = (int)(w < 0 ? w * (1 << Bits) - 0.5 : w * (1 << Bits) + 0.5);
        }
        return (min, fixedWeights);
    }

    private static double Filter(ResampleFilter filter, double x)
    {
        double ax = Math.Abs(x);
        switch (filter)
        {
            case ResampleFilter.Box:
                return x > -0.5 && x <= 0.5 ? 1 : 0;
            case ResampleFilter.Bilinear:
                return ax < 1 ? 1 - ax : 0;
            case ResampleFilter.Bicubic:
                const double A = -0.5;
                if (ax < 1)
                {
                    return ((A + 2) * ax - (A + 3)) * ax * ax + 1;
                }
                return ax < 2 ? (((ax - 5) * ax + 8) * ax - 4) * A : 0;
            default:
                return x >= -3 && x < 3 ? Sinc(x) * Sinc(x / 3) : 0;
        }
    }

    private static double Sinc(double x) => x == 0 ? 1 : Math.Sin(x * Math.PI) / (x * Math.PI);

    private static RgbImage Nearest(byte[] src, int sw, int sh, int width, int height)
    {
        var output = new byte[width * height * 3];
        double stepX = (double)sw / width, stepY = (double)sh / height;
        double yo = stepY / 2;
        for (int y = 0; y < height; y++, yo += stepY)
        {
            double xo = stepX / 2;
            for (int x = 0; x < width; x++, xo += stepX)
            {
                for (int c = 0; c < 3; c++)
                {
                    output[(((y * width) + x) * 3) + c] = src[((((int)yo * sw) + (int)xo) * 3) + c];
                }
            }
        }
        return RgbImage.FromPixels(width, height, output);
    }
}
