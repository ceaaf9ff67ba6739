using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;

namespace SynthVlm.AppHost;

/// <summary>
/// The run verb's <c>--train</c>: once the run's dataset is written, TrainingService queues a
/// stage-1 job for it (synthvlm:datasets); this finds that job by the run's id, shows its steps
/// (loss, learning rate, samples/s, ETA) until it ends, and cancels it on Ctrl+C (its checkpoints
/// stay, so the same job submitted again resumes).
/// </summary>
internal static class RunTrainingFollower
{
    // The dataset is announced when the run completes; the service takes it within a second or two.
    // Under load, or when the service is restarting, it can take longer: a bound, not an expectation.
    internal static readonly TimeSpan JobAppearsWithin = TimeSpan.FromMinutes(2);
    internal static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan PrintEvery = TimeSpan.FromSeconds(2);

    /// <summary>Follows the run's training job to its end; null (with the reason printed) when there is none to follow.</summary>
    public static async Task<TrainingJob?> FollowAsync(Uri endpoint, string runId, ClusterConsole output, string logDirectory, CancellationToken interrupt)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var channel = GrpcChannel.ForAddress(endpoint);
        var client = new Training.TrainingClient(channel);
        output.Info($"Run {runId} asked for training (--train); waiting for TrainingService to queue its stage-1 job...");
        var job = await FindJobAsync(client, runId, interrupt).ConfigureAwait(false);
        if (job is null)
        {
            output.Error(interrupt.IsCancellationRequested
                ? "Interrupted before the training job was queued."
                : $"TrainingService at {endpoint} has no job for run {runId} after {JobAppearsWithin.TotalMinutes:0} minutes; its output is in {logDirectory} " +
                  "(a run that had completed before is not announced again, so it is not trained again).");
            return null;
        }
        output.Info($"Training job {job.Id} ({Describe(job.Stage)}) -> {job.OutputDir}");
        var last = job;
        var lastPrinted = DateTime.MinValue;
        var lastMessage = string.Empty;
        var lastStep = 0;
        try
        {
            using var call = client.Watch(new WatchTrainingRequest { JobId = job.Id }, cancellationToken: interrupt);
            await foreach (var progress in call.ResponseStream.ReadAllAsync(interrupt).ConfigureAwait(false))
            {
                last = new TrainingJob(last) { State = progress.State, Progress = progress };
                var final = IsFinal(progress.State);
                if (progress.Message != lastMessage && progress.Step == 0)
                {
                    output.Info($"training: {progress.Message}");
                }
                else if (progress.Step > lastStep && (lastStep == 0 || final || DateTime.UtcNow - lastPrinted >= PrintEvery))
                {
                    // The first step, then one line every few seconds, and the last: the loss's course without a line per step.
                    output.WriteLine(StepLine(progress));
                    lastPrinted = DateTime.UtcNow;
                    lastStep = progress.Step;
                }
                lastMessage = progress.Message;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException && interrupt.IsCancellationRequested)
        {
            output.Info($"Ctrl+C: cancelling training job {job.Id} (its checkpoints in {job.OutputDir} stay)...");
            try
            {
                last = await client.CancelAsync(new CancelTrainingRequest { JobId = job.Id }, deadline: DateTime.UtcNow + CallDeadline).ConfigureAwait(false);
            }
            catch (RpcException cancel)
            {
                output.Error($"Could not cancel training job {job.Id} ({cancel.StatusCode}): {cancel.Status.Detail}");
            }
        }
        catch (RpcException e)
        {
            output.Error($"Watching training job {job.Id} failed ({e.StatusCode}): {e.Status.Detail}; its output is in {logDirectory}.");
        }
        return last;
    }

    /// <summary>The summary lines of a followed job.</summary>
    public static IEnumerable<string> Summary(TrainingJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        var progress = job.Progress ?? new TrainingProgress();
        yield return string.Create(CultureInfo.InvariantCulture,
            $"  training: {Describe(job.Stage)} {job.State.ToString().ToUpperInvariant()}, {progress.Step} steps, last loss {progress.Loss:0.####}");
        if (progress.Message.Length > 0 && job.State != TrainingState.Succeeded)
        {
            yield return $"            {progress.Message}";
        }
        if (progress.ModelDir.Length > 0)
        {
            yield return $"  model:    {progress.ModelDir}";
        }
        if (LossCourse(Path.Combine(job.OutputDir, "report.json")) is { } course)
        {
            yield return course;
        }
        foreach (var file in new[] { "report.json", "loss.svg" }.Select(f => Path.Combine(job.OutputDir, f)).Where(File.Exists))
        {
            yield return $"  report:   {file}";
        }
    }

    /// <summary>"  losses:   first → last (lowest x) over N steps" from the job's report.json, or null when it has none.</summary>
    private static string? LossCourse(string report)
    {
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(report));
            if (!document.RootElement.TryGetProperty("losses", out var losses) || losses.ValueKind != System.Text.Json.JsonValueKind.Array)
            {
                return null;
            }
            var values = losses.EnumerateArray().Where(l => l.ValueKind == System.Text.Json.JsonValueKind.Number).Select(l => l.GetDouble()).Where(double.IsFinite).ToList();
            return values.Count == 0
                ? null
                : string.Create(CultureInfo.InvariantCulture, $"  losses:   {values[0]:0.0000} → {values[^1]:0.0000} (lowest {values.Min():0.0000}) over {values.Count} steps");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            return null;
        }
    }

    private static Task<TrainingJob?> FindJobAsync(Training.TrainingClient client, string runId, CancellationToken interrupt) =>
        WaitForJobAsync(async token => (await client.ListAsync(new ListTrainingRequest(), deadline: DateTime.UtcNow + CallDeadline, cancellationToken: token).ConfigureAwait(false)).Jobs.LastOrDefault(j => j.Run == runId), interrupt);

    /// <summary>
    /// Polls <paramref name="find"/> once a second until it returns a job, for at most
    /// <see cref="JobAppearsWithin"/>; a service that is restarting (UNAVAILABLE) is polled again.
    /// Null when the bound passed or Ctrl+C was pressed.
    /// </summary>
    internal static async Task<T?> WaitForJobAsync<T>(Func<CancellationToken, Task<T?>> find, CancellationToken interrupt)
        where T : class
    {
        var giveUpAt = DateTime.UtcNow + JobAppearsWithin;
        while (!interrupt.IsCancellationRequested)
        {
            try
            {
                if (await find(interrupt).ConfigureAwait(false) is { } job)
                {
                    return job;
                }
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled)
            {
                // Restarting, or Ctrl+C: checked below.
            }
            if (DateTime.UtcNow > giveUpAt)
            {
                return null;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), interrupt).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        return null;
    }

    private static string StepLine(TrainingProgress p) => string.Create(CultureInfo.InvariantCulture,
        $"[train] step {p.Step}/{p.TotalSteps}  loss {p.Loss:0.0000}  lr {p.LearningRate:0.00e+00}  {p.SamplesPerS:0.0} samples/s  {p.TokensPerS:0} tokens/s  ETA {RunProgressView.Duration(p.EtaSeconds)}");

    private static string Describe(TrainingStage stage) => stage == TrainingStage.Finetune ? "stage 2" : "stage 1";

    /// <summary>Whether the job has ended.</summary>
    public static bool IsFinal(TrainingState state) => state is TrainingState.Succeeded or TrainingState.Failed or TrainingState.Cancelled;
}
