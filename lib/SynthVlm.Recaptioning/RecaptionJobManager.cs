using System.Diagnostics;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;
using SynthVlm.Recaptioning.Sources;

using Job = SynthVlm.Core.Concurrency.TrackedJob<SynthVlm.Recaptioning.RecaptionJobRequest, SynthVlm.Recaptioning.RecaptionJobStatus>;

namespace SynthVlm.Recaptioning;

/// <summary>Where a recaption job is.</summary>
public enum RecaptionJobState
{
    /// <summary>Waiting for the job ahead of it.</summary>
    Queued,

    /// <summary>Captioning.</summary>
    Running,

    /// <summary>Ended with a summary (some images may be recorded as rejected).</summary>
    Succeeded,

    /// <summary>Ended without a summary (the captioner could not be loaded, the input cannot be read, ...).</summary>
    Failed,

    /// <summary>Cancelled; the pool written so far stays for a resume.</summary>
    Cancelled,
}

/// <summary>The captioner a job asks: a checkpoint folder run in-process or an endpoint (exactly one).</summary>
/// <param name="ModelDirectory">A LLaVA checkpoint folder, or null.</param>
/// <param name="Endpoint">An OpenAI-compatible base URL, or null.</param>
/// <param name="EndpointModel">The endpoint's model name.</param>
public sealed record RecaptionCaptioner(string? ModelDirectory, Uri? Endpoint, string? EndpointModel);

/// <summary>A job to queue.</summary>
/// <param name="Images">The input path (folder, imagefolder, WebDataset shards, pool).</param>
/// <param name="Kind">The input's kind, or <see cref="ImageSourceKind.Auto"/>.</param>
/// <param name="Captioner">The captioner.</param>
/// <param name="Options">Output folder, prompt, length, sampling, concurrency, shards.</param>
/// <param name="Run">The pipeline run whose images these are, if any.</param>
/// <param name="TraceParent">The W3C id of the span the job's span continues; null takes <see cref="Activity.Current"/> at submission.</param>
public sealed record RecaptionJobRequest(string Images, ImageSourceKind Kind, RecaptionCaptioner Captioner, RecaptionJobOptions Options, string? Run = null, string? TraceParent = null);

/// <summary>A job as it is now.</summary>
/// <param name="Id">The job's id.</param>
/// <param name="State">Where it is.</param>
/// <param name="OutputDirectory">Its output folder (absolute).</param>
/// <param name="Run">The run, if any.</param>
/// <param name="Submitted">When it was queued.</param>
/// <param name="Captioner">The captioner's model name once loaded.</param>
/// <param name="Captioned">Captions this job wrote.</param>
/// <param name="Rejected">Rejects this job wrote.</param>
/// <param name="Resumed">Items an earlier job had settled (skipped).</param>
/// <param name="Message">What is happening or what went wrong.</param>
/// <param name="Summary">The summary once it succeeded.</param>
public sealed record RecaptionJobStatus(
    string Id, RecaptionJobState State, string OutputDirectory, string? Run, DateTimeOffset Submitted, string? Captioner,
    long Captioned, long Rejected, long Resumed, string Message, RecaptionSummary? Summary) : IQueuedJobStatus
{
    /// <summary>Whether the job has ended.</summary>
    public bool IsFinal => State is RecaptionJobState.Succeeded or RecaptionJobState.Failed or RecaptionJobState.Cancelled;

    /// <summary>Whether the job waits for the one ahead of it.</summary>
    public bool IsQueued => State == RecaptionJobState.Queued;
}

/// <summary>
/// Runs recaption jobs one at a time (one captioner in memory) and queues the rest, as the
/// evaluation jobs are run (see <see cref="SequentialJobManager{TRequest, TStatus}"/>); the same
/// output folder again resumes a job's pool.
/// </summary>
public sealed class RecaptionJobManager : SequentialJobManager<RecaptionJobRequest, RecaptionJobStatus>
{
    private readonly Func<RecaptionJobRequest, IChatModel> openCaptioner;

    /// <summary>Creates the manager; <paramref name="openCaptioner"/> loads a job's captioner on the worker (disposed after the job when it is <see cref="IDisposable"/>).</summary>
    public RecaptionJobManager(Func<RecaptionJobRequest, IChatModel> openCaptioner)
        : base("recap", "recaption")
    {
        ArgumentNullException.ThrowIfNull(openCaptioner);
        this.openCaptioner = openCaptioner;
    }

    /// <inheritdoc />
    protected override string OutputDirectoryOf(RecaptionJobRequest request) => request.Options.OutputDirectory!;

    /// <inheritdoc />
    protected override RecaptionJobRequest Prepare(RecaptionJobRequest request, string outputDirectory, string? currentTraceParent) =>
        request with { Options = request.Options with { OutputDirectory = outputDirectory }, TraceParent = request.TraceParent ?? currentTraceParent };

    /// <inheritdoc />
    protected override RecaptionJobStatus Queued(string id, RecaptionJobRequest request, string outputDirectory) =>
        new(id, RecaptionJobState.Queued, outputDirectory, request.Run, DateTimeOffset.UtcNow, null, 0, 0, 0, "queued", null);

    /// <inheritdoc />
    protected override RecaptionJobStatus CancelledBeforeStart(RecaptionJobStatus status) =>
        status with { State = RecaptionJobState.Cancelled, Message = "cancelled before it started" };

    /// <inheritdoc />
    protected override void OnEnded(RecaptionJobStatus status, double seconds)
    {
        var state = new KeyValuePair<string, object?>(RecaptionTelemetry.StateTag, status.State.ToString());
        RecaptionTelemetry.Jobs.Add(1, state);
        RecaptionTelemetry.JobDuration.Record(seconds, state);
    }

    /// <inheritdoc />
    protected override void Validate(RecaptionJobRequest request)
    {
        var captioner = request.Captioner;
        if ((captioner.ModelDirectory is { Length: > 0 }) == (captioner.Endpoint is not null))
        {
            throw new ArgumentException("give either a model folder or an endpoint, not both and not neither.", "captioner");
        }
        if (captioner.ModelDirectory is { Length: > 0 } dir && !Directory.Exists(dir))
        {
            throw new ArgumentException($"{dir} does not exist.", "captioner.model_dir");
        }
        if (captioner.Endpoint is { } endpoint && (endpoint.Scheme is not ("http" or "https") || captioner.EndpointModel is not { Length: > 0 }))
        {
            throw new ArgumentException($"{endpoint} must be an http(s) URL, with endpoint_model naming the model it serves.", "captioner.endpoint");
        }
        if (string.IsNullOrWhiteSpace(request.Images))
        {
            throw new ArgumentException("is required: a folder, an imagefolder, WebDataset shards or a caption pool.", "images");
        }
        try
        {
            var kind = request.Kind == ImageSourceKind.Auto ? ImageSources.Detect(request.Images) : request.Kind;
            if (kind is ImageSourceKind.Folder or ImageSourceKind.ImageFolder && !Directory.Exists(request.Images))
            {
                throw new ArgumentException($"{request.Images} is not a folder (source kind {RecaptionJob.KindName(kind)}).", "images");
            }
        }
        catch (FileNotFoundException e)
        {
            throw new ArgumentException(e.Message, "images", e);
        }
        request.Options.Validate();
    }

    /// <inheritdoc />
    protected override async Task<RecaptionJobStatus> RunAsync(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        job.Publish(job.Status with { State = RecaptionJobState.Running, Message = "loading the captioner" });
        using var span = RecaptionTelemetry.ActivitySource.StartActivity("recaption job", ActivityKind.Internal, job.Request.TraceParent);
        span?.SetTag("synthvlm.recaption.job", job.Status.Id);
        span?.SetTag("synthvlm.run", job.Request.Run);
        RecaptionJobStatus final;
        IChatModel? captioner = null;
        try
        {
            var token = job.Cancellation.Token;
            captioner = await Task.Run(() => openCaptioner(job.Request), token).ConfigureAwait(false);
            var source = ImageSources.Open(job.Request.Images, job.Request.Kind, job.Request.Options.MaxImageBytes);
            job.Publish(job.Status with { Captioner = captioner.ModelName, Message = $"captioning {source.Description}" });
            var recaption = new RecaptionJob(captioner, job.Request.Options);
            var progress = new SynchronousProgress<RecaptionProgress>(p =>
            {
                var before = job.Status;
                RecaptionTelemetry.Captioned.Add(Math.Max(0, p.Captioned - before.Captioned));
                RecaptionTelemetry.Rejected.Add(Math.Max(0, p.Rejected - before.Rejected));
                job.Publish(before with { Captioned = p.Captioned, Rejected = p.Rejected, Resumed = p.Resumed });
            });
            var summary = await recaption.RunAsync(source, progress, token).ConfigureAwait(false);
            final = job.Status with
            {
                State = RecaptionJobState.Succeeded,
                Captioned = summary.Captioned,
                Rejected = summary.RejectedTotal,
                Resumed = summary.Resumed,
                Summary = summary,
                Message = $"{summary.Captioned} captioned, {summary.RejectedTotal} rejected, {summary.Resumed} resumed; the pool holds {summary.PoolRecords} captions",
            };
        }
        catch (OperationCanceledException)
        {
            final = job.Status with { State = RecaptionJobState.Cancelled, Message = $"cancelled; the pool in {job.Status.OutputDirectory} stays, submit again with the same output folder to resume" };
        }
#pragma warning disable CA1031 // A job's failure of any kind is its state and message; the worker goes on with the next job.
        catch (Exception e)
#pragma warning restore CA1031
        {
            final = job.Status with { State = RecaptionJobState.Failed, Message = e.Message };
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
        }
        finally
        {
            (captioner as IDisposable)?.Dispose();
        }
        span?.SetTag(RecaptionTelemetry.StateTag, final.State.ToString());
        return final;
    }
}
