using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Datasets;

/// <summary>How <see cref="DatasetWriter"/> lays out a dataset. Values are checked by <see cref="Validate"/>.</summary>
public sealed record DatasetOptions
{
    /// <summary>The shared default options.</summary>
    public static DatasetOptions Default { get; } = new();

    /// <summary>
    /// The format of the dataset's images. Sources already in this format are copied byte for byte;
    /// others are decoded and re-encoded. Default <see cref="ImageFormat.Png"/>.
    /// </summary>
    public ImageFormat Format { get; init; } = ImageFormat.Png;

    /// <summary>Encoder quality for JPEG and lossy WebP, 1 to 100. Default 95.</summary>
    public int Quality { get; init; } = 95;

    /// <summary>Images per <c>images/{folder:D5}</c> folder (folder = rank / this). Default 1000.</summary>
    public int ImagesPerFolder { get; init; } = 1000;

    /// <summary>Samples per WebDataset tar shard. Default 1000.</summary>
    public int ItemsPerTarShard { get; init; } = 1000;

    /// <summary>Histogram bins per score; must match the <see cref="ScoreStatistics.Bins"/> of the statistics passed in. Default 20.</summary>
    public int HistogramBins { get; init; } = 20;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> naming the first option out of range.</summary>
    public void Validate()
    {
        if (Format is not (ImageFormat.Png or ImageFormat.Jpeg or ImageFormat.WebP))
        {
            throw new ArgumentOutOfRangeException(nameof(Format), Format, $"DatasetOptions.Format must be Png, Jpeg or WebP, got {Format}.");
        }
        Check(Quality, 1, 100, nameof(Quality));
        Check(ImagesPerFolder, 1, int.MaxValue, nameof(ImagesPerFolder));
        Check(ItemsPerTarShard, 1, int.MaxValue, nameof(ItemsPerTarShard));
        Check(HistogramBins, 1, ScoreStatistics.MaxBins, nameof(HistogramBins));
    }

    private static void Check(int value, int min, int max, string name)
    {
        if (value < min || value > max)
        {
            throw new ArgumentOutOfRangeException(name, value, $"DatasetOptions.{name} must be {min}..{max}, got {value}.");
        }
    }
}
