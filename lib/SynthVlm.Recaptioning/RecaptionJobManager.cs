using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
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
    long Captioned, long Rejected, long Resumed, string Message, RecaptionSummary? Summary) : IJobStatus
{
    /// <summary>Whether the job has ended.</summary>
    public bool IsFinal => State is RecaptionJobState.Succeeded or RecaptionJobState.Failed or RecaptionJobState.Cancelled;
}

/// <summary>
/// Runs recaption jobs one at a time (one captioner in memory) and queues the rest, as the
/// evaluation jobs are run. Watchers see the latest status and every change after it (changes in
/// quick succession may be coalesced into the latest). Jobs are remembered for the life of the
/// manager; their pools are what survives, and the same output folder again resumes.
/// </summary>
public sealed class RecaptionJobManager : IAsyncDisposable
{
    private readonly Func<RecaptionJobRequest, IChatModel> openCaptioner;
    private readonly Channel<Job> queue = Channel.CreateUnbounded<Job>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, Job> jobs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly Task worker;
    private readonly Lock submitLock = new();
    private long order;

    /// <summary>Creates the manager; <paramref name="openCaptioner"/> loads a job's captioner on the worker (disposed after the job when it is <see cref="IDisposable"/>).</summary>
    public RecaptionJobManager(Func<RecaptionJobRequest, IChatModel> openCaptioner)
    {
        ArgumentNullException.ThrowIfNull(openCaptioner);
        this.openCaptioner = openCaptioner;
        worker = Task.Run(WorkAsync);
    }

    /// <summary>Hears every job that ends.</summary>
    public event Action<RecaptionJobStatus>? JobEnded;

    /// <summary>Validates and queues a job.</summary>
    /// <exception cref="ArgumentException">A field is wrong; ParamName names it (captioner, model_dir, endpoint, images, and the options' names).</exception>
    /// <exception cref="InvalidOperationException">A queued or running job writes to the same output folder.</exception>
    public RecaptionJobStatus Submit(RecaptionJobRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Validate(request);
        var output = Path.GetFullPath(request.Options.OutputDirectory!);
        lock (submitLock)
        {
            if (jobs.Values.FirstOrDefault(j => !j.Status.IsFinal && j.Status.OutputDirectory == output) is { } busy)
            {
                throw new InvalidOperationException($"output folder {output} is in use by job {busy.Status.Id} ({busy.Status.State}); wait for it or cancel it.");
            }
            var id = $"recap-{Guid.NewGuid():N}"[..18];
            var job = new Job(
                request with { Options = request.Options with { OutputDirectory = output }, TraceParent = request.TraceParent ?? Activity.Current?.Id },
                Interlocked.Increment(ref order),
                new RecaptionJobStatus(id, RecaptionJobState.Queued, output, request.Run, DateTimeOffset.UtcNow, null, 0, 0, 0, "queued", null));
            jobs[id] = job;
            queue.Writer.TryWrite(job);
            return job.Status;
        }
    }

    /// <summary>The job with <paramref name="id"/>, or null.</summary>
    public RecaptionJobStatus? Get(string id) => jobs.TryGetValue(id ?? "", out var job) ? job.Status : null;

    /// <summary>Every job, oldest first.</summary>
    public IReadOnlyList<RecaptionJobStatus> List() => [.. jobs.Values.OrderBy(j => j.Order).Select(j => j.Status)];

    /// <summary>Cancels a queued job at once and a running one between images; null when unknown.</summary>
    public RecaptionJobStatus? Cancel(string id)
    {
        if (!jobs.TryGetValue(id ?? "", out var job))
        {
            return null;
        }
        job.Cancellation.Cancel();
        if (job.Status.State == RecaptionJobState.Queued && job.TryEnd(job.Status with { State = RecaptionJobState.Cancelled, Message = "cancelled before it started" }))
        {
            Ended(job.Status, 0);
        }
        return job.Status;
    }

    /// <summary>The job's status now, then its changes, until it ends (the last item is final).</summary>
    /// <exception cref="KeyNotFoundException">No job has <paramref name="id"/>.</exception>
    public IAsyncEnumerable<RecaptionJobStatus> WatchAsync(string id, CancellationToken cancellationToken = default) =>
        jobs.TryGetValue(id ?? "", out var job) ? job.WatchAsync(cancellationToken) : throw new KeyNotFoundException($"no recaption job '{id}'.");

    /// <summary>Cancels every job and stops the worker.</summary>
    public async ValueTask DisposeAsync()
    {
        queue.Writer.TryComplete();
        foreach (var job in jobs.Values)
        {
            Cancel(job.Status.Id);
        }
        await stopping.CancelAsync().ConfigureAwait(false);
        await worker.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        stopping.Dispose();
    }

    private static void Validate(RecaptionJobRequest request)
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

    private async Task WorkAsync()
    {
        try
        {
            await foreach (var job in queue.Reader.ReadAllAsync(stopping.Token).ConfigureAwait(false))
            {
                await RunAsync(job).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private async Task RunAsync(Job job)
    {
        if (job.Status.IsFinal)
        {
            return;
        }
        var started = Stopwatch.GetTimestamp();
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
        if (job.TryEnd(final))
        {
            Ended(final, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private void Ended(RecaptionJobStatus status, double seconds)
    {
        var state = new KeyValuePair<string, object?>(RecaptionTelemetry.StateTag, status.State.ToString());
        RecaptionTelemetry.Jobs.Add(1, state);
        RecaptionTelemetry.JobDuration.Record(seconds, state);
        JobEnded?.Invoke(status);
    }
}
