using System.Buffers;

namespace SynthVlm.Imaging;

/// <summary>
/// An 8-bit RGB image, rows top to bottom, pixels interleaved R, G, B, no row padding
/// (stride = 3 × width). The pixel buffer is rented from <see cref="ArrayPool{T}.Shared"/>
/// and returned on <see cref="Dispose"/>: hot paths decode, resize and score thousands of
/// 1024×1024 images without putting each on the large-object heap.
/// </summary>
public sealed class RgbImage : IDisposable
{
    /// <summary>Bytes per pixel.</summary>
    public const int Channels = 3;

    private byte[]? _buffer;

    private RgbImage(int width, int height, byte[] buffer)
    {
        Width = width;
        Height = height;
        _buffer = buffer;
    }

    /// <summary>Width in pixels (at least 1).</summary>
    public int Width { get; }

    /// <summary>Height in pixels (at least 1).</summary>
    public int Height { get; }

    /// <summary>Bytes per row (3 × <see cref="Width"/>).</summary>
    public int Stride => Width * Channels;

    /// <summary>Width × height.</summary>
    public long PixelCount => (long)Width * Height;

    /// <summary>All pixel bytes (<see cref="Stride"/> × <see cref="Height"/>).</summary>
    public Span<byte> Pixels => Buffer.AsSpan(0, Stride * Height);

    /// <summary>The bytes of row <paramref name="y"/>.</summary>
    public Span<byte> Row(int y)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(y);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(y, Height);
        return Buffer.AsSpan(y * Stride, Stride);
    }

    private byte[] Buffer => _buffer ?? throw new ObjectDisposedException(nameof(RgbImage));

    /// <summary>Allocates an image with uninitialised pixels.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A dimension is below 1, or the image exceeds <see cref="ImageLimits.AbsoluteMaxPixels"/>.</exception>
    public static RgbImage Allocate(int width, int height)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(width, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(height, 1);
        if ((long)width * height > ImageLimits.AbsoluteMaxPixels)
        {
            throw new ArgumentOutOfRangeException(nameof(width), $"{width}x{height} exceeds {ImageLimits.AbsoluteMaxPixels} pixels.");
        }
        return new RgbImage(width, height, ArrayPool<byte>.Shared.Rent(width * height * Channels));
    }

    /// <summary>Allocates an image and copies <paramref name="pixels"/> (RGB8, stride 3 × width) into it.</summary>
    public static RgbImage FromPixels(int width, int height, ReadOnlySpan<byte> pixels)
    {
        var image = Allocate(width, height);
        if (pixels.Length != image.Stride * height)
        {
            image.Dispose();
            throw new ArgumentException($"Expected {width * Channels * height} bytes for {width}x{height} RGB, got {pixels.Length}.", nameof(pixels));
        }
        pixels.CopyTo(image.Pixels);
        return image;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, null);
        if (buffer is not null)
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }
}
