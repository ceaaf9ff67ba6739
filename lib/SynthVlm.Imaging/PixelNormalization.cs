namespace SynthVlm.Imaging;

/// <summary>
/// Rescale and normalise of 8-bit RGB into float planes, as Hugging Face image processors compute it
/// (float64 rescale, then float32 (x − mean) / std): a byte has 256 values, so each channel is one
/// 256-entry table lookup.
/// </summary>
public sealed class PixelNormalization
{
    private readonly float[] _table = new float[3 * 256];

    /// <summary>Builds the tables.</summary>
    /// <param name="rescaleFactor">Multiplies each byte (1/255 usually) when <paramref name="rescale"/>.</param>
    /// <param name="mean">Per-channel mean (RGB), used when <paramref name="normalize"/>.</param>
    /// <param name="std">Per-channel standard deviation (RGB, positive), used when <paramref name="normalize"/>.</param>
    /// <param name="rescale">Whether to rescale.</param>
    /// <param name="normalize">Whether to normalise.</param>
    /// <exception cref="ArgumentException">Mean or std do not have 3 values, or a std is not positive.</exception>
    public PixelNormalization(double rescaleFactor, IReadOnlyList<double> mean, IReadOnlyList<double> std, bool rescale = true, bool normalize = true)
    {
        ArgumentNullException.ThrowIfNull(mean);
        ArgumentNullException.ThrowIfNull(std);
        if (mean.Count != 3 || std.Count != 3)
        {
            throw new ArgumentException($"image_mean and image_std need 3 values (RGB); got {mean.Count} and {std.Count}.");
        }
        if (std.Any(s => !(s > 0)))
        {
            throw new ArgumentException("image_std values must be positive.", nameof(std));
        }
        for (var c = 0; c < 3; c++)
        {
            for (var v = 0; v < 256; v++)
            {
                var x = rescale ? (float)(v * rescaleFactor) : v;
                _table[(c * 256) + v] = normalize ? (x - (float)mean[c]) / (float)std[c] : x;
            }
        }
    }

    /// <summary>The 256 values of <paramref name="channel"/> (0 red, 1 green, 2 blue).</summary>
    public ReadOnlySpan<float> Channel(int channel) => _table.AsSpan(channel * 256, 256);

    /// <summary>Writes <paramref name="image"/> as planes [3, height, width] into <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">The destination is smaller than 3 × width × height.</exception>
    public void ToPlanes(RgbImage image, Span<float> destination)
    {
        ArgumentNullException.ThrowIfNull(image);
        var plane = image.Width * image.Height;
        if (destination.Length < 3 * plane)
        {
            throw new ArgumentException($"The destination holds {destination.Length} floats; a {image.Width}x{image.Height} image needs {3 * plane}.", nameof(destination));
        }
        var lr = Channel(0);
        var lg = Channel(1);
        var lb = Channel(2);
        var red = destination[..plane];
        var green = destination.Slice(plane, plane);
        var blue = destination.Slice(2 * plane, plane);
        for (var y = 0; y < image.Height; y++)
        {
            ReadOnlySpan<byte> row = image.Row(y);
            var o = y * image.Width;
            for (var x = 0; x < image.Width; x++)
            {
                var p = x * 3;
                red[o + x] = lr[row[p]];
                green[o + x] = lg[row[p + 1]];
                blue[o + x] = lb[row[p + 2]];
            }
        }
    }
}
