using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using SynthVlm.Vlm.Model;

namespace SynthVlm.Vlm.Training;

/// <summary>Where a training job is.</summary>
public enum TrainingJobState
{
    /// <summary>Waiting for the job ahead of it.</summary>
    Queued,

    /// <summary>Loading its base model or training.</summary>
    Running,

    /// <summary>Finished; its model folder is written.</summary>
    Succeeded,

    /// <summary>Stopped by an error; the message says which.</summary>
    Failed,

    /// <summary>Cancelled; the last checkpoint stays, so the same output folder resumes.</summary>
    Cancelled,
}

/// <summary>
/// The model a job starts from: a LLaVA folder (either layout), or its parts (a CLIP vision
/// folder and a LLaMA folder, with an optional stage-1 projector).
/// </summary>
/// <param name="ModelDirectory">A LLaVA model folder.</param>
/// <param name="VisionDirectory">A CLIP vision folder, with <paramref name="LanguageModelDirectory"/>.</param>
/// <param name="LanguageModelDirectory">A LLaMA folder, with <paramref name="VisionDirectory"/>.</param>
/// <param name="ProjectorPath">mm_projector.bin, or the folder holding it (parts only).</param>
public sealed record TrainingBaseModel(string? ModelDirectory = null, string? VisionDirectory = null, string? LanguageModelDirectory = null, string? ProjectorPath = null)
{
    /// <summary>Checks the combination and that the folders exist; throws <see cref="ArgumentException"/> whose ParamName is the field.</summary>
    public void Validate()
    {
        static void Require(bool ok, string field, string problem)
        {
            if (!ok)
            {
                throw new ArgumentException($"{field}: {problem}", field);
            }
        }
        if (ModelDirectory is { Length: > 0 })
        {
            Require(VisionDirectory is not { Length: > 0 } && LanguageModelDirectory is not { Length: > 0 } && ProjectorPath is not { Length: > 0 },
                nameof(ModelDirectory), "give either a model folder, or a vision folder and an LLM folder (with an optional projector), not both.");
            Require(Directory.Exists(ModelDirectory), nameof(ModelDirectory), $"folder {ModelDirectory} not found.");
            return;
        }
        Require(VisionDirectory is { Length: > 0 } || LanguageModelDirectory is { Length: > 0 }, nameof(ModelDirectory), "the base model is missing: give a model folder, or a vision folder and an LLM folder.");
        Require(VisionDirectory is { Length: > 0 }, nameof(VisionDirectory), "a vision folder is needed with the LLM folder.");
        Require(LanguageModelDirectory is { Length: > 0 }, nameof(LanguageModelDirectory), "an LLM folder is needed with the vision folder.");
        Require(Directory.Exists(VisionDirectory), nameof(VisionDirectory), $"folder {VisionDirectory} not found.");
        Require(Directory.Exists(LanguageModelDirectory), nameof(LanguageModelDirectory), $"folder {LanguageModelDirectory} not found.");
        Require(ProjectorPath is not { Length: > 0 } || File.Exists(ProjectorPath) || File.Exists(Path.Combine(ProjectorPath, "mm_projector.bin")),
            nameof(ProjectorPath), $"{ProjectorPath} is neither a projector file nor a folder holding mm_projector.bin.");
    }

    /// <summary>Loads the model.</summary>
    /// <exception cref="VlmModelException">The folders do not hold a usable model (named).</exception>
    public LlavaPipeline Open(LlavaLoadOptions options, int seed)
    {
        if (ModelDirectory is { Length: > 0 })
        {
            return LlavaPipeline.Open(ModelDirectory, options);
        }
        var projector = ProjectorPath is { Length: > 0 } p && Directory.Exists(p) ? Path.Combine(p, "mm_projector.bin") : ProjectorPath is { Length: > 0 } ? ProjectorPath : null;
        return LlavaPipeline.Assemble(VisionDirectory!, LanguageModelDirectory!, projector, options, seed);
    }
}

/// <summary>A job to queue.</summary>
/// <param name="Settings">What to train on and how (validated on submit).</param>
/// <param name="BaseModel">The model to start from (validated on submit).</param>
/// <param name="Run">The pipeline run whose dataset this is, if any.</param>
/// <param name="TraceParent">
/// The W3C id of the span the job's "train job" span continues (the run's trace, or the Submit
/// call's); null takes <see cref="Activity.Current"/> at submission.
/// </param>
/// <param name="Dpo">For a DPO job (<see cref="TrainingStage.Dpo"/>): the pairs and the DPO settings; the job then trains
/// with <see cref="DpoPairsTrainer"/> and only <see cref="TrainingSettings.OutputDirectory"/> and
/// <see cref="TrainingSettings.Stage"/> of <paramref name="Settings"/> are used.</param>
/// <param name="Note">What the submitter did to the data before (e.g. a caption pool's conversion and what it
/// skipped); appended to the queued and the succeeded message.</param>
public sealed record TrainingJobRequest(TrainingSettings Settings, TrainingBaseModel BaseModel, string? Run = null, string? TraceParent = null, DpoJob? Dpo = null, string? Note = null);

/// <summary>A DPO job's input and settings.</summary>
/// <param name="PairsPath">The preference pairs (JSONL as PreferencePairBuilder writes it).</param>
/// <param name="Options">How to train (its output folder is the job's).</param>
public sealed record DpoJob(string PairsPath, DpoPairsTrainingOptions Options);

/// <summary>A job as it is now.</summary>
/// <param name="Id">The job's id.</param>
/// <param name="State">Where it is.</param>
/// <param name="Stage">Its stage.</param>
/// <param name="OutputDirectory">Its output folder.</param>
/// <param name="Run">The run whose dataset it trains on, if any.</param>
/// <param name="Submitted">When it was queued.</param>
/// <param name="LastStep">Its latest optimizer step, if any ran in this process.</param>
/// <param name="Message">What is happening or what went wrong.</param>
/// <param name="ModelDirectory">The trained model folder once it succeeded.</param>
public sealed record TrainingJobStatus(
    string Id, TrainingJobState State, TrainingStage Stage, string OutputDirectory, string? Run, DateTimeOffset Submitted,
    TrainingStepMetrics? LastStep, string Message, string? ModelDirectory)
{
    /// <summary>Whether the job has ended (succeeded, failed or cancelled).</summary>
    public bool IsFinal => State is TrainingJobState.Succeeded or TrainingJobState.Failed or TrainingJobState.Cancelled;
}

/// <summary>
/// Runs training jobs one at a time on a thread of its own (one model in memory per process) and
/// queues the rest. Progress is observable per step (<see cref="WatchAsync"/>); a cancelled job
/// keeps its last checkpoint, and a new job with the same output folder resumes from it. Jobs are
/// remembered for the life of the manager only; checkpoints are what survives a restart.
/// </summary>
public sealed class TrainingJobManager : IDisposable
{
    private readonly BlockingCollection<Job> queue = [];
    private readonly ConcurrentDictionary<string, Job> jobs = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource stopping = new();
    private readonly LlavaLoadOptions loadOptions;
    private readonly Thread worker;
    private readonly object submitLock = new();
    private long order;
    private bool disposed;

    /// <summary>Creates the manager and starts its worker thread.</summary>
    /// <param name="loadOptions">How base models are loaded (device, dtype).</param>
    public TrainingJobManager(LlavaLoadOptions? loadOptions = null)
    {
        this.loadOptions = loadOptions ?? new LlavaLoadOptions();
        worker = new Thread(Work) { IsBackground = true, Name = "training jobs" };
        worker.Start();
    }

    /// <summary>Hears every job that ends (succeeded, failed or cancelled), on the worker thread.</summary>
    public event Action<TrainingJobStatus>? JobEnded;

    /// <summary>Validates and queues a job.</summary>
    /// <exception cref="ArgumentException">A setting or the base model is wrong; ParamName is the field (a <see cref="TrainingSettings"/> or <see cref="TrainingBaseModel"/> property).</exception>
    /// <exception cref="InvalidOperationException">A queued or running job already writes to the output folder.</exception>
    public TrainingJobStatus Submit(TrainingJobRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(disposed, this);
        if (request.Dpo is { } dpo)
        {
            if (request.Settings.Stage != TrainingStage.Dpo)
            {
                throw new ArgumentException($"a DPO job's stage must be {TrainingStage.Dpo}; found {request.Settings.Stage}.", nameof(TrainingSettings.Stage));
            }
            (dpo.Options with { OutputDirectory = request.Settings.OutputDirectory }).Validate();
            if (!File.Exists(dpo.PairsPath))
            {
                throw new ArgumentException($"the preference pairs {dpo.PairsPath} do not exist.", nameof(DpoJob.PairsPath));
            }
        }
        else
        {
            request.Settings.Validate();
        }
        request.BaseModel.Validate();
        var output = Path.GetFullPath(request.Settings.OutputDirectory);
        var settings = request.Settings with { OutputDirectory = output };
        lock (submitLock)
        {
            if (jobs.Values.FirstOrDefault(j => !j.Status.IsFinal && string.Equals(j.Status.OutputDirectory, output, StringComparison.Ordinal)) is { } busy)
            {
                throw new InvalidOperationException($"output folder {output} is in use by job {busy.Id} ({busy.Status.State}); wait for it or cancel it.");
            }
            var id = $"train-{Guid.NewGuid():N}"[..18];
            // The job runs later on the worker thread, where the submitter's span is no longer current.
            var job = new Job(id, request with { Settings = settings, TraceParent = request.TraceParent ?? Activity.Current?.Id }, Interlocked.Increment(ref order),
                new TrainingJobStatus(id, TrainingJobState.Queued, settings.Stage, output, request.Run, DateTimeOffset.UtcNow, null, WithNote("queued", request.Note), null));
            jobs[id] = job;
            queue.Add(job);
            return job.Status;
        }
    }

    /// <summary>The job with <paramref name="id"/>, or null.</summary>
    public TrainingJobStatus? Get(string id) => jobs.TryGetValue(id ?? "", out var job) ? job.Status : null;

    /// <summary>Every job, oldest first.</summary>
    public IReadOnlyList<TrainingJobStatus> List() => [.. jobs.Values.OrderBy(j => j.Order).Select(j => j.Status)];

    /// <summary>
    /// Cancels a queued job at once and a running one at its next optimizer step (returned still
    /// running; <see cref="WatchAsync"/> sees it end). An ended job is returned as it is; null
    /// when unknown.
    /// </summary>
    public TrainingJobStatus? Cancel(string id)
    {
        if (!jobs.TryGetValue(id ?? "", out var job))
        {
            return null;
        }
        job.Cancellation.Cancel();
        var ended = false;
        lock (job)
        {
            if (job.Status.State == TrainingJobState.Queued)
            {
                job.Publish(job.Status with { State = TrainingJobState.Cancelled, Message = "cancelled before it started" });
                ended = true;
            }
            else if (job.Status.State == TrainingJobState.Running)
            {
                job.Publish(job.Status with { Message = "cancelling at the next optimizer step" });
            }
        }
        if (ended)
        {
            JobEnded?.Invoke(job.Status);
        }
        return job.Status;
    }

    /// <summary>The job's status now, then every change, until it ends (the last item is final).</summary>
    /// <exception cref="KeyNotFoundException">No job has <paramref name="id"/>.</exception>
    public IAsyncEnumerable<TrainingJobStatus> WatchAsync(string id, CancellationToken cancellationToken = default)
    {
        if (!jobs.TryGetValue(id ?? "", out var job))
        {
            throw new KeyNotFoundException($"no training job '{id}'.");
        }
        return Watch(job, cancellationToken);
    }

    /// <summary>Waits until the job ends.</summary>
    /// <exception cref="KeyNotFoundException">No job has <paramref name="id"/>.</exception>
    public async Task<TrainingJobStatus> WaitAsync(string id, CancellationToken cancellationToken = default)
    {
        TrainingJobStatus? last = null;
        await foreach (var status in WatchAsync(id, cancellationToken).ConfigureAwait(false))
        {
            last = status;
        }
        return last!;
    }

    /// <summary>Cancels every job and stops the worker (a running job stops at its next step).</summary>
    public void Dispose()
    {
        if (disposed)
        {
            return;
        }
        disposed = true;
        queue.CompleteAdding();
        foreach (var job in jobs.Values)
        {
            Cancel(job.Id);
        }
        stopping.Cancel();
        worker.Join(TimeSpan.FromSeconds(30));
        stopping.Dispose();
        queue.Dispose();
    }

    private static async IAsyncEnumerable<TrainingJobStatus> Watch(Job job, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<TrainingJobStatus>(new UnboundedChannelOptions { SingleReader = true });
        lock (job)
        {
            channel.Writer.TryWrite(job.Status);
            if (job.Status.IsFinal)
            {
                channel.Writer.TryComplete();
            }
            else
            {
                job.Watchers.Add(channel.Writer);
            }
        }
        try
        {
            await foreach (var status in channel.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return status;
            }
        }
        finally
        {
            lock (job)
            {
                job.Watchers.Remove(channel.Writer);
            }
        }
    }

    private void Work()
    {
        try
        {
            foreach (var job in queue.GetConsumingEnumerable(stopping.Token))
            {
                Run(job);
            }
        }
        catch (OperationCanceledException)
        {
            // Disposed.
        }
    }

    private void Run(Job job)
    {
        lock (job)
        {
            if (job.Status.IsFinal)
            {
                return;
            }
            job.Publish(job.Status with { State = TrainingJobState.Running, Message = "loading the base model" });
        }
        var settings = job.Request.Settings;
        using var span = TrainingTelemetry.ActivitySource.StartActivity("train job", ActivityKind.Internal, job.Request.TraceParent);
        span?.SetTag("synthvlm.training.job", job.Id);
        span?.SetTag("synthvlm.training.stage", settings.Stage.ToString());
        span?.SetTag("synthvlm.run", job.Request.Run);
        TrainingJobStatus final;
        try
        {
            job.Cancellation.Token.ThrowIfCancellationRequested();
            using var pipeline = job.Request.BaseModel.Open(loadOptions, settings.Seed);
            Update(job, s => s with { Message = "training" });
            if (job.Request.Dpo is { } dpo)
            {
                var result = new DpoPairsTrainer(pipeline, dpo.Options with { OutputDirectory = settings.OutputDirectory }).Run(dpo.PairsPath, step => Update(job, s => s with
                {
                    // Progress in the shape every stage reports: the DPO loss, and pairs as the samples.
                    LastStep = new TrainingStepMetrics(step.Step, dpo.Options.MaxSteps ?? 0, step.Metrics.Loss, step.LearningRate, step.GradientNorm, step.Pairs, 0, 0, 0, TimeSpan.Zero, step.SkippedUpdate, step.PairsWithoutAnswer),
                    Message = string.Create(CultureInfo.InvariantCulture, $"DPO: rewards/margins {step.Metrics.RewardsMargins:F4}, rewards/accuracies {step.Metrics.RewardsAccuracies:F2}"),
                }), job.Cancellation.Token);
                final = job.Status with { State = TrainingJobState.Succeeded, ModelDirectory = result.ModelDirectory, Message = $"DPO: {result.Steps.Count} steps on {result.PairsRead - result.PairsSkipped} pairs ({result.PairsSkipped} skipped{WithoutAnswer(result.PairsWithoutAnswer, "pairs")}); model {result.ModelDirectory}" };
            }
            else
            {
                var trainer = new LlavaTrainer(pipeline, settings);
                var result = trainer.Run(step => Update(job, s => s with { LastStep = step, Message = "training" }), job.Cancellation.Token);
                final = job.Status with { State = TrainingJobState.Succeeded, ModelDirectory = result.ModelDirectory, Message = WithNote($"trained {result.Steps} steps ({result.SkippedSamples.Count} samples or steps skipped{WithoutAnswer(result.SamplesWithoutAnswer, "samples")}); model {result.ModelDirectory}", job.Request.Note) };
            }
        }
        catch (OperationCanceledException)
        {
            final = job.Status with { State = TrainingJobState.Cancelled, Message = $"cancelled at step {job.Status.LastStep?.Step ?? 0}; checkpoints in {Path.Combine(settings.OutputDirectory, "checkpoints")} stay, submit again with the same output folder to resume" };
        }
#pragma warning disable CA1031 // A job's failure of any kind is its state and message; the worker goes on with the next job.
        catch (Exception e)
#pragma warning restore CA1031
        {
            final = job.Status with { State = TrainingJobState.Failed, Message = e.Message };
        }
        span?.SetTag("synthvlm.training.state", final.State.ToString());
        if (final.State == TrainingJobState.Failed)
        {
            span?.SetStatus(ActivityStatusCode.Error, final.Message);
        }
        Update(job, _ => final);
        JobEnded?.Invoke(final);
    }

    private static string WithoutAnswer(int count, string what) =>
        count > 0 ? string.Create(CultureInfo.InvariantCulture, $", of them {count} {what} without an answer token after truncation to the context") : "";

    private static string WithNote(string message, string? note) => note is { Length: > 0 } ? $"{message}; {note}" : message;

    private static void Update(Job job, Func<TrainingJobStatus, TrainingJobStatus> change)
    {
        lock (job)
        {
            job.Publish(change(job.Status));
        }
    }

    private sealed class Job(string id, TrainingJobRequest request, long order, TrainingJobStatus status)
    {
        public string Id { get; } = id;

        public TrainingJobRequest Request { get; } = request;

        public long Order { get; } = order;

        public CancellationTokenSource Cancellation { get; } = new();

        public List<ChannelWriter<TrainingJobStatus>> Watchers { get; } = [];

        public TrainingJobStatus Status { get; private set; } = status;

        /// <summary>Sets the status and tells every watcher; the caller holds the job's lock.</summary>
        public void Publish(TrainingJobStatus next)
        {
            Status = next;
            foreach (var watcher in Watchers)
            {
                watcher.TryWrite(next);
                if (next.IsFinal)
                {
                    watcher.TryComplete();
                }
            }
            if (next.IsFinal)
            {
                Watchers.Clear();
            }
        }
    }
}
