using System.Diagnostics;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;

using Job = SynthVlm.Core.Concurrency.TrackedJob<SynthVlm.Evaluation.EvaluationJobRequest, SynthVlm.Evaluation.EvaluationJobStatus>;

namespace SynthVlm.Evaluation;

/// <summary>Where an evaluation job is.</summary>
public enum EvaluationJobState
{
    /// <summary>Waiting for the job ahead of it.</summary>
    Queued,

    /// <summary>Answering and scoring.</summary>
    Running,

    /// <summary>Ended with a summary (some benchmarks may have errors of their own).</summary>
    Succeeded,

    /// <summary>Ended without a summary (the model could not be loaded, ...).</summary>
    Failed,

    /// <summary>Cancelled; the answers written so far stay for a resume.</summary>
    Cancelled,
}

/// <summary>The model an evaluation job asks: a checkpoint folder or an endpoint (exactly one).</summary>
/// <param name="ModelDirectory">A LLaVA checkpoint folder, or null.</param>
/// <param name="Endpoint">An OpenAI-compatible base URL, or null.</param>
/// <param name="EndpointModel">The endpoint's model name.</param>
/// <param name="BatchSize">In-process micro-batch.</param>
/// <param name="Concurrency">An endpoint's requests on the wire at most.</param>
/// <param name="Name">The name answers and reports give a checkpoint (default: its folder's name).</param>
public sealed record EvaluationModel(string? ModelDirectory, Uri? Endpoint, string? EndpointModel, int BatchSize = 8, int Concurrency = 16, string? Name = null);

/// <summary>A job to queue.</summary>
/// <param name="Model">The model under test.</param>
/// <param name="Request">Benchmarks, output folder, concurrency.</param>
/// <param name="Judge">The grader's endpoint and model (MM-Vet), or null.</param>
/// <param name="Run">The pipeline run whose model this is, if any.</param>
/// <param name="TraceParent">The W3C id of the span the job's span continues; null takes <see cref="Activity.Current"/> at submission.</param>
public sealed record EvaluationJobRequest(EvaluationModel Model, EvaluationRequest Request, EvaluationModel? Judge = null, string? Run = null, string? TraceParent = null);

/// <summary>A job as it is now.</summary>
/// <param name="Id">The job's id.</param>
/// <param name="State">Where it is.</param>
/// <param name="OutputDirectory">Its output folder.</param>
/// <param name="Run">The run, if any.</param>
/// <param name="Submitted">When it was queued.</param>
/// <param name="Model">The model's name once loaded.</param>
/// <param name="Benchmark">The benchmark being answered.</param>
/// <param name="Answered">Its answers so far.</param>
/// <param name="BenchmarksDone">Benchmarks finished.</param>
/// <param name="BenchmarksTotal">Benchmarks asked for (or found).</param>
/// <param name="Message">What is happening or what went wrong.</param>
/// <param name="Outcomes">The benchmarks' outcomes once it ended.</param>
public sealed record EvaluationJobStatus(
    string Id, EvaluationJobState State, string OutputDirectory, string? Run, DateTimeOffset Submitted, string? Model,
    string? Benchmark, int Answered, int BenchmarksDone, int BenchmarksTotal, string Message, IReadOnlyList<BenchmarkOutcome> Outcomes) : IQueuedJobStatus
{
    /// <summary>Whether the job has ended.</summary>
    public bool IsFinal => State is EvaluationJobState.Succeeded or EvaluationJobState.Failed or EvaluationJobState.Cancelled;

    /// <summary>Whether the job waits for the one ahead of it.</summary>
    public bool IsQueued => State == EvaluationJobState.Queued;

    /// <summary>summary.json of the job's output folder.</summary>
    public string SummaryPath => Path.Combine(OutputDirectory, EvaluationJob.SummaryFileName);
}

/// <summary>
/// Runs evaluation jobs one at a time (one model in memory) and queues the rest (see
/// <see cref="SequentialJobManager{TRequest, TStatus}"/>); their answers files are what survives.
/// </summary>
public sealed class EvaluationJobManager : SequentialJobManager<EvaluationJobRequest, EvaluationJobStatus>
{
    private readonly Func<EvaluationModel, IChatModel> openModel;

    /// <summary>Creates the manager; <paramref name="openModel"/> loads a job's model (and its judge) on the worker.</summary>
    public EvaluationJobManager(Func<EvaluationModel, IChatModel> openModel)
        : base("eval", "evaluation")
    {
        ArgumentNullException.ThrowIfNull(openModel);
        this.openModel = openModel;
    }

    /// <inheritdoc />
    protected override string OutputDirectoryOf(EvaluationJobRequest request) => request.Request.OutputDirectory;

    /// <inheritdoc />
    protected override EvaluationJobRequest Prepare(EvaluationJobRequest request, string outputDirectory, string? currentTraceParent) =>
        request with { Request = request.Request with { OutputDirectory = outputDirectory }, TraceParent = request.TraceParent ?? currentTraceParent };

    /// <inheritdoc />
    protected override EvaluationJobStatus Queued(string id, EvaluationJobRequest request, string outputDirectory) =>
        new(id, EvaluationJobState.Queued, outputDirectory, request.Run, DateTimeOffset.UtcNow, null, null, 0, 0, 0, "queued", []);

    /// <inheritdoc />
    protected override EvaluationJobStatus CancelledBeforeStart(EvaluationJobStatus status) =>
        status with { State = EvaluationJobState.Cancelled, Message = "cancelled before it started" };

    /// <inheritdoc />
    protected override void Validate(EvaluationJobRequest request)
    {
        var model = request.Model;
        if ((model.ModelDirectory is { Length: > 0 }) == (model.Endpoint is not null))
        {
            throw new ArgumentException("give either a model folder or an endpoint, not both and not neither.", "model");
        }
        if (model.ModelDirectory is { Length: > 0 } dir && !Directory.Exists(dir))
        {
            throw new ArgumentException($"{dir} does not exist.", "model_dir");
        }
        if (model.Endpoint is { } endpoint && (endpoint.Scheme is not ("http" or "https") || model.EndpointModel is not { Length: > 0 }))
        {
            throw new ArgumentException($"{endpoint} must be an http(s) URL, with endpoint_model naming the model it serves.", "endpoint");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(model.BatchSize, 1, "batch_size");
        (request.Request.Options ?? new BenchmarkRunOptions()).Validate();
        if (!Directory.Exists(request.Request.BenchmarkRoot))
        {
            throw new ArgumentException($"{request.Request.BenchmarkRoot} does not exist.", "bench_dir");
        }
        foreach (var name in request.Request.Only ?? [])
        {
            try
            {
                BenchmarkRegistry.Get(name);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException(e.Message, "only", e);
            }
        }
    }

    /// <inheritdoc />
    protected override async Task<EvaluationJobStatus> RunAsync(Job job)
    {
        ArgumentNullException.ThrowIfNull(job);
        job.Publish(job.Status with { State = EvaluationJobState.Running, Message = "loading the model" });
        using var span = EvaluationTelemetry.ActivitySource.StartActivity("eval job", ActivityKind.Internal, job.Request.TraceParent);
        span?.SetTag("synthvlm.eval.job", job.Status.Id);
        span?.SetTag("synthvlm.run", job.Request.Run);
        EvaluationJobStatus final;
        IChatModel? model = null;
        IChatModel? judge = null;
        try
        {
            var token = job.Cancellation.Token;
            model = await Task.Run(() => openModel(job.Request.Model), token).ConfigureAwait(false);
            judge = job.Request.Judge is { } j ? openModel(j) : null;
            var root = Path.GetFullPath(job.Request.Request.BenchmarkRoot);
            var total = job.Request.Request.Only is { Count: > 0 } only ? only.Count : BenchmarkRegistry.All.Count(b => Directory.Exists(EvaluationJob.FolderOf(root, b.Name)));
            job.Publish(job.Status with { Model = model.ModelName, BenchmarksTotal = total, Message = "answering" });
            var progress = new SynchronousProgress<BenchmarkProgress>(p => job.Publish(job.Status with
            {
                Benchmark = p.Benchmark,
                Answered = p.Answered,
                BenchmarksDone = job.Status.Benchmark is { } current && current != p.Benchmark ? job.Status.BenchmarksDone + 1 : job.Status.BenchmarksDone,
            }));
            var outcomes = await EvaluationJob.RunAsync(model, job.Request.Request, judge, progress, token).ConfigureAwait(false);
            var errors = outcomes.Count(o => o.Error is not null);
            final = job.Status with
            {
                State = EvaluationJobState.Succeeded,
                BenchmarksDone = outcomes.Count,
                Outcomes = outcomes,
                Message = errors == 0 ? $"{outcomes.Count} benchmarks scored" : $"{outcomes.Count - errors} of {outcomes.Count} benchmarks scored; {errors} with errors",
            };
        }
        catch (OperationCanceledException)
        {
            final = job.Status with { State = EvaluationJobState.Cancelled, Message = $"cancelled; the answers in {job.Status.OutputDirectory} stay, submit again with the same output folder to resume" };
        }
#pragma warning disable CA1031 // A job's failure of any kind is its state and message; the worker goes on with the next job.
        catch (Exception e)
#pragma warning restore CA1031
        {
            final = job.Status with { State = EvaluationJobState.Failed, Message = e.Message };
            span?.SetStatus(ActivityStatusCode.Error, e.Message);
        }
        finally
        {
            (model as IDisposable)?.Dispose();
            (judge as IDisposable)?.Dispose();
        }
        span?.SetTag("synthvlm.eval.state", final.State.ToString());
        return final;
    }
}
