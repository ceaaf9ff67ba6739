using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using SynthVlm.Evaluation;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Streams;

namespace SynthVlm.EvalService;

/// <summary>
/// The stream worker: a synthvlm:checkpoints entry (ModelReady) of a run whose config opts in
/// (<c>eval.enabled</c>) queues an evaluation of the model on the run's benchmarks (its
/// <c>eval.bench_dir</c>, else SynthVlm:Eval:BenchDir), output in {OutputRoot}/{run}; when the
/// job ends with a summary, an EvaluationReady goes to synthvlm:evaluations with the run's trace.
/// The entry is acknowledged once the job is queued; answers on disk make a redelivery resume.
/// </summary>
public sealed partial class CheckpointReadyHandler : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "ModelReady";

    /// <summary>The entry kind it emits.</summary>
    public const string OutputKind = "EvaluationReady";

    private readonly EvaluationJobManager jobs;
    private readonly DataPaths paths;
    private readonly EvalSettings settings;
    private readonly RunAccess runs;
    private readonly ILogger<CheckpointReadyHandler> logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> models = new(StringComparer.Ordinal);

    /// <summary>Creates the handler and listens for the jobs it queued to end.</summary>
    public CheckpointReadyHandler(EvaluationJobManager jobs, DataPaths paths, EvalSettings settings, RunAccess runs, ILogger<CheckpointReadyHandler> logger)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        (this.jobs, this.paths, this.settings, this.runs, this.logger) = (jobs, paths, settings, runs, logger);
        jobs.JobEnded += OnJobEnded;
    }

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var ready = StreamPayloads.Parse(entry, InputKind, ModelReady.Parser);
        var run = ready.Run.Length > 0 ? ready.Run : entry.Run;
        var store = await runs.StoreAsync(cancellationToken).ConfigureAwait(false);
        if ((await store.GetConfigAsync(run, cancellationToken).ConfigureAwait(false))?.Eval is not { Enabled: true } eval)
        {
            LogNotOptedIn(logger, run);
            return;
        }
        var bench = eval.BenchDir.Length > 0 ? eval.BenchDir : settings.BenchDirectory
            ?? throw new PermanentStreamFailureException($"run '{run}': eval.enabled is set but neither eval.bench_dir nor {EvalSetup.Section}:BenchDir names the benchmarks folder.");
        // Rows of reports name the run's model by the run, not by its folder ("model").
        var request = new SubmitEvalRequest { ModelDir = ready.ModelDir, BenchDir = bench, OutputDir = Path.Combine(settings.OutputRoot, run), Run = run, ModelName = $"{run} stage {(ready.Stage == TrainingStage.Finetune ? 2 : 1)}" };
        request.Only.AddRange(eval.Only);
        if (jobs.List().FirstOrDefault(j => !j.IsFinal && j.OutputDirectory == Path.GetFullPath(request.OutputDir)) is { } running)
        {
            LogAlreadyQueued(logger, run, running.Id);
            return;
        }
        EvaluationJobStatus status;
        try
        {
            status = EvalRpcService.SubmitJob(request, jobs, paths);
        }
        catch (RpcException e)
        {
            throw new PermanentStreamFailureException($"run '{run}': evaluation refused: {e.Status.Detail}");
        }
        models[status.Id] = ready.ModelDir;
        LogQueued(logger, run, status.Id, ready.ModelDir, status.OutputDirectory);
    }

    private void OnJobEnded(EvaluationJobStatus status)
    {
        if (!models.TryRemove(status.Id, out var model) || status.Run is not { } run)
        {
            return;
        }
        if (status.State != EvaluationJobState.Succeeded)
        {
            LogEnded(logger, run, status.Id, status.State.ToString(), status.Message);
            return;
        }
        _ = Task.Run(() => AnnounceAsync(run, model, status));
    }

    private async Task AnnounceAsync(string run, string model, EvaluationJobStatus status)
    {
        try
        {
            var message = new EvaluationReady { Run = run, ModelDir = model, SummaryPath = status.SummaryPath, JobId = status.Id };
            message.Results.AddRange(status.Outcomes.Select(EvalRpcService.ToResult));
            await runs.AnnounceAsync(run, KnownStreams.Evaluations, OutputKind, message.ToByteArray(), "announce evaluation", CancellationToken.None).ConfigureAwait(false);
            LogAnnounced(logger, run, status.SummaryPath);
        }
#pragma warning disable CA1031 // Logged: the summary is on disk whatever happens to the announcement.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogAnnounceFailed(logger, run, status.SummaryPath, e.Message);
        }
    }

    [LoggerMessage(EventId = 671, Level = LogLevel.Information, Message = "run {Run}: model trained; the run does not ask for evaluation (eval.enabled)")]
    private static partial void LogNotOptedIn(ILogger logger, string run);

    [LoggerMessage(EventId = 672, Level = LogLevel.Information, Message = "run {Run}: evaluation job {Job} queued for {Model}, output {Output}")]
    private static partial void LogQueued(ILogger logger, string run, string job, string model, string output);

    [LoggerMessage(EventId = 673, Level = LogLevel.Information, Message = "run {Run}: evaluation job {Job} is already queued or running")]
    private static partial void LogAlreadyQueued(ILogger logger, string run, string job);

    [LoggerMessage(EventId = 674, Level = LogLevel.Information, Message = "run {Run}: evaluation {Summary} announced on synthvlm:evaluations")]
    private static partial void LogAnnounced(ILogger logger, string run, string summary);

    [LoggerMessage(EventId = 675, Level = LogLevel.Error, Message = "run {Run}: evaluation {Summary} is written but could not be announced: {Reason}")]
    private static partial void LogAnnounceFailed(ILogger logger, string run, string summary, string reason);

    [LoggerMessage(EventId = 676, Level = LogLevel.Warning, Message = "run {Run}: evaluation job {Job} ended {State}: {Reason}")]
    private static partial void LogEnded(ILogger logger, string run, string job, string state, string reason);
}
