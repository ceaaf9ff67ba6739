using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Captions;
using SynthVlm.Protos.V1;
using SynthVlm.Recaptioning.ContinuousDpo;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm.Training;

namespace SynthVlm.TrainingService;

/// <summary>A TRAINING_DATASET_FORMAT_CAPTION_POOL dataset of a request, resolved and still to convert.</summary>
/// <param name="Index">Its index in the request's datasets (the field names and file names use it).</param>
/// <param name="PoolPath">The pool (file, or imagefolder with metadata.jsonl), absolute.</param>
/// <param name="Prompt">The question each caption answers.</param>
/// <param name="ImagesRoot">The folder relative image paths are relative to; null = the pool file's folder.</param>
/// <param name="Weight">The dataset's mixture weight.</param>
/// <param name="StandIn">The job's source until conversion: an existing file and folder, so the settings validate before the pool is read.</param>
public sealed record CaptionPoolDataset(int Index, string PoolPath, CaptionPrompt Prompt, string? ImagesRoot, double Weight, TrainingDataSource StandIn)
{
    /// <summary>The converted LLaVA JSON in <paramref name="outputDirectory"/>: caption-pool-{index}.llava.json.</summary>
    public string DataPath(string outputDirectory) => Path.Combine(outputDirectory, string.Create(CultureInfo.InvariantCulture, $"caption-pool-{Index}.llava.json"));

    /// <summary>The conversion's report in <paramref name="outputDirectory"/>: caption-pool-{index}.conversion.json.</summary>
    public string ReportPath(string outputDirectory) => Path.Combine(outputDirectory, string.Create(CultureInfo.InvariantCulture, $"caption-pool-{Index}.conversion.json"));
}

/// <summary>A caption pool converted into a temporary file of the output folder, not yet in place.</summary>
/// <param name="Dataset">The dataset.</param>
/// <param name="TemporaryPath">The LLaVA JSON written.</param>
/// <param name="Summary">What was written and left out.</param>
public sealed record ConvertedCaptionPool(CaptionPoolDataset Dataset, string TemporaryPath, PoolConversionSummary Summary);

/// <summary>A request whose caption pools cannot be trained on; <see cref="StatusCode"/> says which gRPC status fits.</summary>
public sealed class CaptionPoolDatasetException : Exception
{
    /// <summary>Creates the exception for <paramref name="field"/> (e.g. datasets[0].path).</summary>
    public CaptionPoolDatasetException(Grpc.Core.StatusCode statusCode, string field, string problem)
        : base($"{field}: {problem}")
    {
        StatusCode = statusCode;
    }

    /// <summary>Creates the exception.</summary>
    public CaptionPoolDatasetException()
    {
    }

    /// <summary>Creates the exception.</summary>
    public CaptionPoolDatasetException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    public CaptionPoolDatasetException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>INVALID_ARGUMENT (a pool that cannot be read) or FAILED_PRECONDITION (a pool without a usable record).</summary>
    public Grpc.Core.StatusCode StatusCode { get; } = Grpc.Core.StatusCode.InvalidArgument;
}

/// <summary>
/// Caption pools as training data (the knowledge-enriching SFT): each pool is converted with
/// <see cref="CaptionPoolConversations"/> (streamed record by record; memory bounded by the 100 skip reasons it keeps)
/// into caption-pool-{index}.llava.json of the job's output folder, what it left out written to
/// caption-pool-{index}.conversion.json and summed up in the job's messages. A pool without one usable record refuses the
/// job instead of queueing it.
/// </summary>
public static class CaptionPoolDatasets
{
    // An imagefolder pool's metadata (what CaptionPoolReader reads in a folder).
    private const string MetadataFile = "metadata.jsonl";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Resolves dataset <paramref name="index"/> of a request (format CAPTION_POOL): its pool, prompt and images root.</summary>
    /// <exception cref="TrainingRequestException">The pool or images root does not exist, or the prompt is wrong; the message names the field.</exception>
    public static CaptionPoolDataset Resolve(int index, TrainingDataset dataset, double weight, string dataDirectory)
    {
        ArgumentNullException.ThrowIfNull(dataset);
        var field = $"datasets[{index}]";
        var pool = TrainingRequests.ResolvePath(dataset.Path, dataDirectory, $"{field}.path");
        TrainingDataSource standIn;
        if (File.Exists(pool))
        {
            standIn = new TrainingDataSource(pool, Path.GetDirectoryName(pool)!, weight);
        }
        else if (Directory.Exists(pool))
        {
            var metadata = Path.Combine(pool, MetadataFile);
            if (!File.Exists(metadata))
            {
                throw new TrainingRequestException($"{field}.path", $"caption pool {pool} is a folder without {MetadataFile}; give the pool file or an imagefolder.");
            }
            standIn = new TrainingDataSource(metadata, pool, weight);
        }
        else
        {
            throw new TrainingRequestException($"{field}.path", $"caption pool {pool} does not exist.");
        }
        CaptionPrompt prompt;
        try
        {
            prompt = dataset.PromptText.Length > 0 ? CaptionPrompt.Custom(dataset.PromptText)
                : CaptionPrompt.Preset(dataset.Prompt.Length > 0 ? dataset.Prompt : CaptionPrompt.Detailed.Name);
        }
        catch (ArgumentException e)
        {
            throw new TrainingRequestException(dataset.PromptText.Length > 0 ? $"{field}.prompt_text" : $"{field}.prompt", ArgumentMessages.Plain(e));
        }
        if (prompt.Text.Contains("<image>", StringComparison.Ordinal))
        {
            throw new TrainingRequestException($"{field}.prompt_text", "must not contain <image>; the image is put before the prompt.");
        }
        string? root = null;
        if (dataset.ImagesRoot.Length > 0)
        {
            root = TrainingRequests.ResolvePath(dataset.ImagesRoot, dataDirectory, $"{field}.images_root");
            if (!Directory.Exists(root))
            {
                throw new TrainingRequestException($"{field}.images_root", $"folder {root} does not exist.");
            }
        }
        return new CaptionPoolDataset(index, pool, prompt, root, weight, standIn);
    }

    /// <summary>
    /// Converts each pool into a temporary file of <paramref name="outputDirectory"/> (created if needed). On any failure the
    /// temporary files written so far are deleted.
    /// </summary>
    /// <exception cref="CaptionPoolDatasetException">A pool cannot be read (INVALID_ARGUMENT) or has no usable record (FAILED_PRECONDITION, with the count skipped and the first reasons).</exception>
    public static IReadOnlyList<ConvertedCaptionPool> Convert(IReadOnlyList<CaptionPoolDataset> pools, string outputDirectory, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(pools);
        Directory.CreateDirectory(outputDirectory);
        var converted = new List<ConvertedCaptionPool>();
        try
        {
            foreach (var pool in pools)
            {
                var temporary = pool.DataPath(outputDirectory) + $".{Guid.NewGuid():N}.tmp";
                PoolConversionSummary summary;
                try
                {
                    summary = CaptionPoolConversations.Write(pool.PoolPath, pool.Prompt.Text, temporary, pool.ImagesRoot, cancellationToken);
                }
                catch (CaptionPoolFormatException e)
                {
                    Delete(temporary);
                    throw new CaptionPoolDatasetException(Grpc.Core.StatusCode.InvalidArgument, $"datasets[{pool.Index}].path", e.Message);
                }
                catch
                {
                    Delete(temporary);
                    throw;
                }
                converted.Add(new ConvertedCaptionPool(pool, temporary, summary));
                if (summary.Written == 0)
                {
                    var first = string.Join("; ", summary.Skipped.Take(3));
                    throw new CaptionPoolDatasetException(Grpc.Core.StatusCode.FailedPrecondition, $"datasets[{pool.Index}].path",
                        $"caption pool {pool.PoolPath} has no usable record: {summary.SkippedCount} records skipped{(first.Length > 0 ? $" (first: {first})" : string.Empty)}.");
                }
            }
            return converted;
        }
        catch
        {
            Discard(converted);
            throw;
        }
    }

    /// <summary>
    /// Moves each converted file into place (caption-pool-{index}.llava.json, replacing an earlier one) with its
    /// conversion report, and returns <paramref name="job"/> training on them with a note of what was skipped.
    /// </summary>
    public static TrainingJobRequest Commit(TrainingJobRequest job, IReadOnlyList<ConvertedCaptionPool> converted)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(converted);
        var output = Path.GetFullPath(job.Settings.OutputDirectory);
        var sources = job.Settings.Sources.ToList();
        var notes = new List<string>();
        foreach (var (pool, temporary, summary) in converted)
        {
            var data = pool.DataPath(output);
            File.Move(temporary, data, overwrite: true);
            var report = new JsonObject
            {
                ["dataset"] = pool.Index,
                ["pool"] = pool.PoolPath,
                ["images_root"] = pool.ImagesRoot,
                ["prompt"] = $"{pool.Prompt.Name}@{pool.Prompt.Version.ToString(CultureInfo.InvariantCulture)}",
                ["prompt_text"] = pool.Prompt.Text,
                ["data"] = data,
                ["samples"] = summary.Written,
                ["skipped_count"] = summary.SkippedCount,
                ["skipped"] = new JsonArray([.. summary.Skipped.Select(s => JsonValue.Create(s))]),
            };
            File.WriteAllText(pool.ReportPath(output), report.ToJsonString(Indented));
            // Image paths in the converted file are absolute; the folder only has to exist.
            sources[pool.Index] = new TrainingDataSource(data, output, pool.Weight);
            var first = summary.Skipped.Count > 0 ? $" (first: {summary.Skipped[0]})" : string.Empty;
            notes.Add($"caption pool datasets[{pool.Index}] {pool.PoolPath}: {summary.Written} samples, {summary.SkippedCount} records skipped{first}; see {pool.ReportPath(output)}");
        }
        return job with { Settings = job.Settings with { Sources = sources }, Note = string.Join("; ", notes) };
    }

    /// <summary>The wire form of a committed conversion into <paramref name="outputDirectory"/>.</summary>
    public static CaptionPoolConversion ToWire(ConvertedCaptionPool converted, string outputDirectory)
    {
        ArgumentNullException.ThrowIfNull(converted);
        var wire = new CaptionPoolConversion
        {
            Dataset = converted.Dataset.Index,
            Data = converted.Dataset.DataPath(outputDirectory),
            Report = converted.Dataset.ReportPath(outputDirectory),
            Samples = converted.Summary.Written,
            Skipped = converted.Summary.SkippedCount,
            Prompt = $"{converted.Dataset.Prompt.Name}@{converted.Dataset.Prompt.Version.ToString(CultureInfo.InvariantCulture)}",
        };
        wire.SkippedReasons.AddRange(converted.Summary.Skipped);
        return wire;
    }

    /// <summary>Deletes the temporary files of conversions that were not committed.</summary>
    public static void Discard(IEnumerable<ConvertedCaptionPool> converted)
    {
        ArgumentNullException.ThrowIfNull(converted);
        foreach (var c in converted)
        {
            Delete(c.TemporaryPath);
        }
    }

    private static void Delete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // Left behind; a later conversion writes a new name.
        }
        catch (UnauthorizedAccessException)
        {
            // As above.
        }
    }
}
