using Grpc.Core;
using SynthVlm.Protos.V1;
using SynthVlm.Recaptioning;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.RecaptionService;

/// <summary>The Recaption gRPC service over the process's <see cref="RecaptionJobManager"/>.</summary>
public sealed class RecaptionRpcService(RecaptionJobManager jobs, DataPaths paths, RecaptionSettings settings) : Recaption.RecaptionBase
{
    private const int DefaultEndpointConcurrency = 8;

    /// <summary>Validates and queues a job: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION when the output folder is busy.</summary>
    public override Task<RecaptionJobInfo> Submit(SubmitRecaptionRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(ToJob(SubmitJob(request, jobs, paths, settings)));
    }

    /// <summary>Streams the job's status until it ends; NOT_FOUND when unknown.</summary>
    public override async Task Watch(WatchRecaptionRequest request, IServerStreamWriter<RecaptionJobInfo> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        await Rpc(jobs).WatchAsync(request.JobId, responseStream, context).ConfigureAwait(false);
    }

    /// <summary>Cancels the job; NOT_FOUND when unknown.</summary>
    public override Task<RecaptionJobInfo> Cancel(CancelRecaptionRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(Rpc(jobs).Cancel(request.JobId));
    }

    /// <summary>Every job this process knows, oldest first.</summary>
    public override Task<ListRecaptionResponse> List(ListRecaptionRequest request, ServerCallContext context)
    {
        var response = new ListRecaptionResponse();
        response.Jobs.AddRange(Rpc(jobs).List());
        return Task.FromResult(response);
    }

    /// <summary>Converts, validates and queues; every refusal is an <see cref="RpcException"/> naming the field.</summary>
    internal static RecaptionJobStatus SubmitJob(SubmitRecaptionRequest request, RecaptionJobManager jobs, DataPaths paths, RecaptionSettings settings)
    {
        return Rpc(jobs).Submit(() => ToJobRequest(request, paths.DataDirectory, settings));
    }

    /// <summary>The job request of <paramref name="request"/>, paths resolved against the data folder, the service's captioner where it names none.</summary>
    /// <exception cref="ArgumentException">A field is wrong; ParamName is the proto field.</exception>
    internal static RecaptionJobRequest ToJobRequest(SubmitRecaptionRequest request, string dataDirectory, RecaptionSettings settings)
    {
        string Resolve(string path, string field) => DataPaths.ResolveUnder(path, dataDirectory, out var problem) ?? throw new ArgumentException(problem, field);
        if (request.Images.Length == 0)
        {
            throw new ArgumentException("is required: a folder, an imagefolder with metadata.jsonl, WebDataset .tar shards or a caption pool.", "images");
        }
        var kind = ParseKind(request.SourceKind) ?? throw new ArgumentException($"'{request.SourceKind}' is not one of auto, folder, imagefolder, webdataset, pool.", "source_kind");
        var c = request.Captioner ?? new CaptionerSettings();
        if (c.ModelDir.Length > 0 && c.Endpoint.Length > 0)
        {
            throw new ArgumentException("give either model_dir or endpoint, not both.", "captioner");
        }
        RecaptionCaptioner captioner;
        if (c.Endpoint.Length > 0)
        {
            var endpoint = Uri.TryCreate(c.Endpoint, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"'{c.Endpoint}' is not an http(s) URL.", "captioner.endpoint");
            captioner = new RecaptionCaptioner(null, endpoint, c.EndpointModel.Length > 0 ? c.EndpointModel : throw new ArgumentException("is required with endpoint.", "captioner.endpoint_model"));
        }
        else
        {
            captioner = c.ModelDir.Length > 0 ? new RecaptionCaptioner(Resolve(c.ModelDir, "captioner.model_dir"), null, null) : settings.DefaultCaptioner();
        }
        CaptionPrompt prompt;
        try
        {
            prompt = c.PromptText.Length > 0 ? CaptionPrompt.Custom(c.PromptText) : CaptionPrompt.Preset(c.Prompt.Length > 0 ? c.Prompt : CaptionPrompt.Detailed.Name);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException(ArgumentMessages.Plain(e), c.PromptText.Length > 0 ? "captioner.prompt_text" : "captioner.prompt", e);
        }
        if (c.HasMaxWords && c.MaxWords < 1 || c.HasMaxTokens && c.MaxTokens < 1)
        {
            throw new ArgumentException("must be at least 1.", c.HasMaxWords && c.MaxWords < 1 ? "captioner.max_words" : "captioner.max_tokens");
        }
        if (c.HasTemperature && (!double.IsFinite(c.Temperature) || c.Temperature < 0))
        {
            throw new ArgumentException($"{c.Temperature} must be a finite number of at least 0.", "captioner.temperature");
        }
        if (request.HasConcurrency && request.Concurrency < 1)
        {
            throw new ArgumentException("must be at least 1.", "concurrency");
        }
        if (request.HasShardSize && request.ShardSize < 0)
        {
            throw new ArgumentException("must be 0 (one file) or more.", "shard_size");
        }
        var output = request.OutputDir.Length > 0
            ? Resolve(request.OutputDir, "output_dir")
            : Path.Combine(dataDirectory, "recaptions", $"job-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        var length = new LengthControl(c.HasMaxTokens ? c.MaxTokens : new LengthControl().MaxTokens, c.HasMaxWords ? c.MaxWords : null);
        var options = new RecaptionJobOptions
        {
            OutputDirectory = output,
            ShardSize = request.HasShardSize ? request.ShardSize : RecaptionJobOptions.DefaultShardSize,
            Concurrency = request.HasConcurrency ? request.Concurrency : captioner.Endpoint is null ? 2 * settings.BatchSize : DefaultEndpointConcurrency,
            Prompt = prompt,
            Length = length,
            Temperature = c.HasTemperature ? c.Temperature : 0,
            Seed = c.HasSeed ? c.Seed : null,
        };
        return new RecaptionJobRequest(Resolve(request.Images, "images"), kind, captioner, options, request.Run.Length > 0 ? request.Run : null);
    }

    /// <summary>The source kind a request names (empty = auto), or null when it names none.</summary>
    internal static ImageSourceKind? ParseKind(string kind) => kind.ToLowerInvariant() switch
    {
        "" or "auto" => ImageSourceKind.Auto,
        "folder" => ImageSourceKind.Folder,
        "imagefolder" => ImageSourceKind.ImageFolder,
        "webdataset" or "wds" => ImageSourceKind.WebDataset,
        "pool" or "caption-pool" => ImageSourceKind.CaptionPool,
        _ => null,
    };

    /// <summary>The wire form of a job's status.</summary>
    internal static RecaptionJobInfo ToJob(RecaptionJobStatus status)
    {
        var job = new RecaptionJobInfo
        {
            Id = status.Id,
            State = status.State switch
            {
                RecaptionJobState.Queued => RecaptionState.Queued,
                RecaptionJobState.Running => RecaptionState.Running,
                RecaptionJobState.Succeeded => RecaptionState.Succeeded,
                RecaptionJobState.Failed => RecaptionState.Failed,
                _ => RecaptionState.Cancelled,
            },
            OutputDir = status.OutputDirectory,
            Run = status.Run ?? "",
            SubmittedUnixMs = status.Submitted.ToUnixTimeMilliseconds(),
            Captioner = status.Captioner ?? "",
            Captioned = status.Captioned,
            Rejected = status.Rejected,
            Resumed = status.Resumed,
            Message = status.Message,
        };
        if (status.Summary is { } summary)
        {
            job.SummaryPath = Path.Combine(status.OutputDirectory, "pool.summary.json");
            job.Shards.AddRange(summary.Shards);
        }
        return job;
    }

    private static JobRpc<RecaptionJobRequest, RecaptionJobStatus, RecaptionJobInfo> Rpc(RecaptionJobManager jobs) => new(jobs, "recaption", ToJob);
}
