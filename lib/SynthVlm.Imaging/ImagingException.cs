namespace SynthVlm.Imaging;

/// <summary>Base of the imaging errors. <see cref="Exception.Message"/> names the source (file) and the reason.</summary>
public class ImagingException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="source">Where the image came from (a path, or a description); null when unknown.</param>
    /// <param name="reason">What is wrong.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public ImagingException(string? source, string reason, Exception? inner = null)
        : base(source is null ? reason : $"{source}: {reason}", inner)
    {
        ImageSource = source;
        Reason = reason;
    }

    /// <summary>Where the image came from, or null.</summary>
    public string? ImageSource { get; }

    /// <summary>What is wrong, without the source.</summary>
    public string Reason { get; }
}

/// <summary>The bytes are not a supported image, or are truncated or corrupt.</summary>
public sealed class ImageFormatException(string? source, string reason, Exception? inner = null) : ImagingException(source, reason, inner);

/// <summary>The image has more pixels than the configured cap (a decompression bomb), or no pixels at all.</summary>
public sealed class ImageSizeException(string? source, string reason) : ImagingException(source, reason);

/// <summary>Two images that must have the same size do not.</summary>
public sealed class ImageMismatchException(string? source, string reason) : ImagingException(source, reason);
