using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using SynthVlm.IO;

namespace SynthVlm.Datasets;

/// <summary>
/// Writes a run's selected image–caption pairs as a dataset folder (layout in <see cref="DatasetLayout"/>)
/// that appears complete or not at all: everything is written into a hidden staging folder beside
/// the output folder, flushed to disk, and the staging folder is then renamed into place, with the
/// completion marker <c>dataset.json</c> written last.
/// </summary>
public static class DatasetWriter
{
    /// <summary>
    /// Writes the dataset in one pass over <paramref name="selected"/>: each item's image is read,
    /// written (to its folder and its tar shard) and dropped, so memory is bounded by the options,
    /// not by the number of items. Everything but <c>report.md</c> and <c>timings.jsonl</c> is
    /// byte-identical for the same inputs.
    /// </summary>
    /// <param name="outputDirectory">The dataset folder to create. If it already holds a complete dataset of the same run, it is returned unchanged.</param>
    /// <param name="run">The run: id (stored in the marker), λ and what the report says.</param>
    /// <param name="selected">The selected items in rank order, best first.</param>
    /// <param name="allGenerated">Scores of every generated image, for the report; its λ and bins must match <paramref name="run"/> and <paramref name="options"/>.</param>
    /// <param name="readImage">Reads an image by its <see cref="DatasetItem.ImageKey"/>.</param>
    /// <param name="options">Layout and image format.</param>
    /// <param name="cancellationToken">Cancels the write; nothing is left behind.</param>
    /// <returns>The complete dataset.</returns>
    /// <exception cref="DatasetException">The output folder holds something else (another run's dataset or other files),
    /// or an item is unusable (its id, caption or scores), or its image cannot be read or converted.
    /// The output folder is then left as it was.</exception>
    public static async Task<DatasetResult> WriteAsync(
        string outputDirectory,
        DatasetRunInfo run,
        IAsyncEnumerable<DatasetItem> selected,
        ScoreStatistics allGenerated,
        Func<string, CancellationToken, ValueTask<byte[]>> readImage,
        DatasetOptions options,
        CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(outputDirectory);
        ArgumentNullException.ThrowIfNull(run);
        ArgumentNullException.ThrowIfNull(selected);
        ArgumentNullException.ThrowIfNull(allGenerated);
        ArgumentNullException.ThrowIfNull(readImage);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        CheckRun(run, allGenerated, options);
        cancellationToken.ThrowIfCancellationRequested();

        var target = Path.GetFullPath(outputDirectory);
        target = Path.TrimEndingDirectorySeparator(target);
        var name = Path.GetFileName(target);
        if (name.Length == 0)
        {
            throw new DatasetException($"Dataset folder '{outputDirectory}' names a file-system root; give a folder inside one.");
        }
        if (FindExisting(target, run.RunId) is { } existing)
        {
            return existing;
        }

        var parent = Path.GetDirectoryName(target)!;
        Directory.CreateDirectory(parent);
        var staging = Path.Combine(parent, $".{name}.staging-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(staging);
            var written = await DatasetBuilder.BuildAsync(staging, run, selected, allGenerated, readImage, options, cancellationToken).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            return Publish(staging, target, run.RunId, written);
        }
        finally
        {
            if (Directory.Exists(staging))
            {
                Directory.Delete(staging, recursive: true);
            }
        }
    }

    private static DatasetResult Publish(string staging, string target, string runId, DatasetResult written)
    {
        if (Directory.Exists(target))
        {
            // Someone may have finished the same run meanwhile (then theirs is as good as ours),
            // or put something else there (then it is theirs, and we refuse).
            if (FindExisting(target, runId) is { } raced)
            {
                return raced;
            }
            Directory.Delete(target); // empty: FindExisting refuses anything else
        }
        try
        {
            Directory.Move(staging, target);
        }
        catch (IOException) when (Directory.Exists(target) && FindExisting(target, runId) is not null)
        {
            return FindExisting(target, runId)!;
        }
        // The rename itself is durable only once the parent's entries are on disk.
        DirectorySync.Flush(Path.GetDirectoryName(target)!);
        return written with { Directory = target };
    }

    /// <summary>
    /// The complete dataset of <paramref name="runId"/> at <paramref name="directory"/>; null when
    /// there is no folder or it is empty; throws when it holds anything else.
    /// </summary>
    internal static DatasetResult? FindExisting(string directory, string runId)
    {
        if (!Directory.Exists(directory))
        {
            if (File.Exists(directory))
            {
                throw new DatasetException($"Dataset folder '{directory}' is a file; refusing to replace it.");
            }
            return null;
        }
        var markerPath = Path.Combine(directory, DatasetLayout.Marker);
        if (!File.Exists(markerPath))
        {
            if (!Directory.EnumerateFileSystemEntries(directory).Any())
            {
                return null;
            }
            throw new DatasetException(
                $"Dataset folder '{directory}' already exists and is not a complete SynthVlm dataset (it has no {DatasetLayout.Marker}); refusing to overwrite it.");
        }
        var marker = DatasetMarker.Read(markerPath);
        if (!string.Equals(marker.RunId, runId, StringComparison.Ordinal))
        {
            throw new DatasetException(
                $"Dataset folder '{directory}' already holds the dataset of run '{marker.RunId}', not of run '{runId}'; refusing to overwrite it.");
        }
        return new DatasetResult
        {
            Directory = directory,
            RunId = marker.RunId,
            Count = marker.Count,
            FilesWritten = marker.Files,
            Shards = marker.Shards,
            AlreadyExisted = true,
        };
    }

    private static void CheckRun(DatasetRunInfo run, ScoreStatistics allGenerated, DatasetOptions options)
    {
        if (string.IsNullOrEmpty(run.RunId))
        {
            throw new ArgumentException("DatasetRunInfo.RunId must not be empty.", nameof(run));
        }
        DatasetBuilder.CheckText(run.RunId, "run id", "the run");
        if (!double.IsFinite(run.Lambda) || run.Lambda < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(run), run.Lambda, $"DatasetRunInfo.Lambda must be finite and >= 0, got {run.Lambda}.");
        }
        if (allGenerated.Lambda.CompareTo(run.Lambda) != 0)
        {
            throw new ArgumentException(
                $"The statistics of all generated images use lambda {allGenerated.Lambda}, the run uses {run.Lambda}; the weighted histograms would not line up.",
                nameof(allGenerated));
        }
        if (allGenerated.Bins != options.HistogramBins)
        {
            throw new ArgumentException(
                $"The statistics of all generated images have {allGenerated.Bins} bins, DatasetOptions.HistogramBins is {options.HistogramBins}; they must match.",
                nameof(allGenerated));
        }
    }

    /// <summary>Options every JSON file of the dataset is written with: compact, non-ASCII text kept as UTF-8.</summary>
    internal static JsonWriterOptions JsonOptions { get; } = new()
    {
        // Relaxed escaping keeps captions readable (no \uXXXX for every accented letter); the files
        // are data, never embedded in HTML, which is what the stricter default guards against.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = false,
    };

    internal static readonly UTF8Encoding Utf8NoBom = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
}
