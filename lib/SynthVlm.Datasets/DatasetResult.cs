namespace SynthVlm.Datasets;

/// <summary>A complete dataset folder, as <see cref="DatasetWriter.WriteAsync"/> wrote or found it.</summary>
public sealed record DatasetResult
{
    /// <summary>The dataset folder (full path).</summary>
    public required string Directory { get; init; }

    /// <summary>The run the dataset belongs to.</summary>
    public required string RunId { get; init; }

    /// <summary>How many selected items it holds.</summary>
    public required long Count { get; init; }

    /// <summary>How many files it holds, the completion marker included.</summary>
    public required long FilesWritten { get; init; }

    /// <summary>How many WebDataset tar shards it holds.</summary>
    public required int Shards { get; init; }

    /// <summary>Whether the folder was already complete for this run, so nothing was written.</summary>
    public required bool AlreadyExisted { get; init; }

    /// <summary>Full path of <c>llava.json</c>.</summary>
    public string LlavaJsonPath => Path.Combine(Directory, DatasetLayout.LlavaJson);

    /// <summary>Full path of <c>manifest.jsonl</c>.</summary>
    public string ManifestPath => Path.Combine(Directory, DatasetLayout.Manifest);

    /// <summary>Full path of <c>timings.jsonl</c>.</summary>
    public string TimingsPath => Path.Combine(Directory, DatasetLayout.Timings);

    /// <summary>Full path of <c>report.md</c>.</summary>
    public string ReportPath => Path.Combine(Directory, DatasetLayout.Report);

    /// <summary>Full path of the completion marker <c>dataset.json</c>.</summary>
    public string MarkerPath => Path.Combine(Directory, DatasetLayout.Marker);
}
