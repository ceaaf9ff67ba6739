using SynthVlm.Captions;

namespace SynthVlm.Recaptioning.Sources;

/// <summary>Opens an <see cref="IImageSource"/> from a path, detecting its kind.</summary>
public static class ImageSources
{
    /// <summary>
    /// The kind <paramref name="input"/> is: a folder holding <c>metadata.jsonl</c> is an
    /// <see cref="ImageSourceKind.ImageFolder"/>, any other folder a <see cref="ImageSourceKind.Folder"/>; a path ending
    /// in <c>.tar</c> or holding a wildcard or a brace range is <see cref="ImageSourceKind.WebDataset"/>; any other file
    /// is a <see cref="ImageSourceKind.CaptionPool"/>.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path names nothing that exists.</exception>
    public static ImageSourceKind Detect(string input)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        if (Directory.Exists(input))
        {
            return File.Exists(Path.Combine(input, "metadata.jsonl")) ? ImageSourceKind.ImageFolder : ImageSourceKind.Folder;
        }
        if (input.EndsWith(".tar", StringComparison.OrdinalIgnoreCase) || input.AsSpan().IndexOfAny("*?{") >= 0)
        {
            return ImageSourceKind.WebDataset;
        }
        return File.Exists(input)
            ? ImageSourceKind.CaptionPool
            : throw new FileNotFoundException($"image input {input} does not exist (expected a folder, an imagefolder with metadata.jsonl, .tar shards or a caption pool file).", input);
    }

    /// <summary>Opens <paramref name="input"/> as <paramref name="kind"/> (detected when <see cref="ImageSourceKind.Auto"/>).</summary>
    /// <param name="input">A folder, WebDataset shard path/pattern, or pool file.</param>
    /// <param name="kind">The kind, or Auto.</param>
    /// <param name="maxImageBytes">For WebDataset shards: the largest image member read into memory.</param>
    /// <exception cref="FileNotFoundException">The input does not exist.</exception>
    /// <exception cref="DirectoryNotFoundException">A folder kind was asked for a path that is no folder.</exception>
    /// <exception cref="CaptionPoolFormatException">A pool or imagefolder cannot be read.</exception>
    public static IImageSource Open(string input, ImageSourceKind kind = ImageSourceKind.Auto, long maxImageBytes = RecaptionJobOptions.DefaultMaxImageBytes)
    {
        ArgumentException.ThrowIfNullOrEmpty(input);
        if (kind == ImageSourceKind.Auto)
        {
            kind = Detect(input);
        }
        return kind switch
        {
            ImageSourceKind.Folder => new FolderImageSource(input),
            ImageSourceKind.ImageFolder => new PoolImageSource(input, new CaptionPoolOptions { Format = CaptionPoolFormat.ImageFolder }),
            ImageSourceKind.WebDataset => new WebDatasetSource(WebDatasetSource.Expand(input), maxImageBytes),
            ImageSourceKind.CaptionPool => new PoolImageSource(input),
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "unknown image source kind."),
        };
    }
}
