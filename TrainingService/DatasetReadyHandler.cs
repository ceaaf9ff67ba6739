using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Streams;
using SynthVlm.Vlm.Training;

namespace SynthVlm.TrainingService;

/// <summary>
/// The stream worker: a synthvlm:datasets entry (DatasetReady) of a run whose config opts in
/// (<c>train.enabled</c>) queues a stage-1 job on the run's dataset, output in
/// {AutoTrain:OutputRoot}/{run}/stage1; when that job succeeds a ModelReady goes to
/// synthvlm:checkpoints with the run's trace. The base model is the run's (<c>train.model_dir</c>),
/// else the service's ({AutoTrain:ModelDir}), else the tiny LLaVA written to {models}/tiny/llava. The entry is acknowledged once the job is queued (a
/// job takes hours; holding the entry would have it claimed by another replica), so a process
/// that dies mid-job loses the announcement but not the checkpoints: redelivering the run's
/// DatasetReady (or submitting the same output folder) resumes.
/// </summary>
public sealed partial class DatasetReadyHandler : IStreamHandler
{
    /// <summary>The entry kind this handler consumes.</summary>
    public const string InputKind = "DatasetReady";

    /// <summary>The entry kind it emits.</summary>
    public const string OutputKind = "ModelReady";

    private readonly TrainingJobManager jobs;
    private readonly DataPaths paths;
    private readonly AutoTrainOptions auto;
    private readonly RunAccess runs;
    private readonly ILogger<DatasetReadyHandler> logger;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, string> datasets = new(StringComparer.Ordinal);

    /// <summary>Creates the handler and listens for the jobs it queued to end.</summary>
    public DatasetReadyHandler(TrainingJobManager jobs, DataPaths paths, AutoTrainOptions auto, RunAccess runs, ILogger<DatasetReadyHandler> logger)
    {
        ArgumentNullException.ThrowIfNull(jobs);
        this.jobs = jobs;
        this.paths = paths;
        this.auto = auto;
        this.runs = runs;
        this.logger = logger;
        jobs.JobEnded += OnJobEnded;
    }

    /// <inheritdoc />
    public async Task HandleAsync(StreamEntry entry, CancellationToken cancellationToken)
    {
        var ready = StreamPayloads.Parse(entry, InputKind, DatasetReady.Parser);
        var run = ready.Run.Length > 0 ? ready.Run : entry.Run;
        var store = await runs.StoreAsync(cancellationToken).ConfigureAwait(false);
        var config = await store.GetConfigAsync(run, cancellationToken).ConfigureAwait(false);
        if (config?.Train is not { Enabled: true } train)
        {
            LogNotOptedIn(logger, run);
            return;
        }
        var request = new SubmitTrainingRequest
        {
            Stage = Protos.V1.TrainingStage.Pretrain,
            Datasets = { new TrainingDataset { Path = ready.Folder } },
            OutputDir = Path.Combine(auto.OutputRoot, run, "stage1"),
            Hyperparameters = train.Hyperparameters ?? new TrainingHyperparameters(),
            Run = run,
        };
        if (train.ModelDir.Length > 0 || train.VisionDir.Length > 0 || train.LlmDir.Length > 0)
        {
            (request.ModelDir, request.VisionDir, request.LlmDir, request.ProjectorPath) = (train.ModelDir, train.VisionDir, train.LlmDir, train.ProjectorPath);
        }
        else if (auto.BaseModel != new TrainingBaseModel())
        {
            var b = auto.BaseModel;
            (request.ModelDir, request.VisionDir, request.LlmDir, request.ProjectorPath) = (b.ModelDirectory ?? "", b.VisionDirectory ?? "", b.LanguageModelDirectory ?? "", b.ProjectorPath ?? "");
        }
        else
        {
            // Nothing configured: the embedded tiny LLaVA, as the other stages default to their tiny models.
            request.ModelDir = Vlm.Tiny.TinyLlava.EnsureTiny(auto.TinyModelDirectory);
        }
        var output = Path.GetFullPath(request.OutputDir);
        if (jobs.List().FirstOrDefault(j => !j.IsFinal && j.OutputDirectory == output) is { } running)
        {
            // A redelivery while the job is queued or running: it is already under way.
            LogAlreadyQueued(logger, run, running.Id);
            return;
        }
        TrainingJobStatus status;
        try
        {
            status = TrainingRpcService.SubmitJob(request, jobs, paths);
        }
        catch (RpcException e)
        {
            throw new PermanentStreamFailureException($"run '{run}': training refused: {e.Status.Detail}");
        }
        datasets[status.Id] = ready.Folder;
        LogQueued(logger, run, status.Id, ready.Folder, status.OutputDirectory);
    }

    private void OnJobEnded(TrainingJobStatus status)
    {
        if (!datasets.TryRemove(status.Id, out var dataset))
        {
            // Not one of this worker's jobs (submitted by gRPC).
            return;
        }
        if (status.Run is not { } run || status.State != TrainingJobState.Succeeded || status.ModelDirectory is null)
        {
            if (status.Run is { } failedRun && status.State != TrainingJobState.Succeeded)
            {
                LogEnded(logger, failedRun, status.Id, status.State.ToString(), status.Message);
            }
            return;
        }
        // On the trainer's thread: announcing must not wait on it (and must not throw into it).
        _ = Task.Run(() => AnnounceAsync(run, dataset, status));
    }

    private async Task AnnounceAsync(string run, string dataset, TrainingJobStatus status)
    {
        try
        {
            var message = new ModelReady
            {
                Run = run,
                ModelDir = status.ModelDirectory!,
                JobId = status.Id,
                Stage = Protos.V1.TrainingStage.Pretrain,
                Dataset = dataset,
                Steps = status.LastStep?.Step ?? 0,
            };
            await runs.AnnounceAsync(run, KnownStreams.Checkpoints, OutputKind, message.ToByteArray(), "announce trained model", CancellationToken.None).ConfigureAwait(false);
            LogAnnounced(logger, run, status.ModelDirectory!);
        }
#pragma warning disable CA1031 // Logged: the model is on disk whatever happens to the announcement.
        catch (Exception e)
#pragma warning restore CA1031
        {
            LogAnnounceFailed(logger, run, status.ModelDirectory!, e.Message);
        }
    }

    [LoggerMessage(EventId = 661, Level = LogLevel.Information, Message = "run {Run}: dataset written; the run does not ask for training (train.enabled)")]
    private static partial void LogNotOptedIn(ILogger logger, string run);

    [LoggerMessage(EventId = 662, Level = LogLevel.Information, Message = "run {Run}: stage-1 job {Job} queued on {Dataset}, output {Output}")]
    private static partial void LogQueued(ILogger logger, string run, string job, string dataset, string output);

    [LoggerMessage(EventId = 663, Level = LogLevel.Information, Message = "run {Run}: job {Job} is already queued or running")]
    private static partial void LogAlreadyQueued(ILogger logger, string run, string job);

    [LoggerMessage(EventId = 664, Level = LogLevel.Information, Message = "run {Run}: model {Model} announced on synthvlm:checkpoints")]
    private static partial void LogAnnounced(ILogger logger, string run, string model);

    [LoggerMessage(EventId = 665, Level = LogLevel.Error, Message = "run {Run}: model {Model} is written but could not be announced: {Reason}")]
    private static partial void LogAnnounceFailed(ILogger logger, string run, string model, string reason);

    [LoggerMessage(EventId = 666, Level = LogLevel.Warning, Message = "run {Run}: training job {Job} ended {State}: {Reason}")]
    private static partial void LogEnded(ILogger logger, string run, string job, string state, string reason);
}
