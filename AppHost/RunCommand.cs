using System.Globalization;
using System.Security.Cryptography;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;
using RunsClient = SynthVlm.Protos.V1.Runs.RunsClient;

namespace SynthVlm.AppHost;

/// <summary>
/// The run verb: find the cluster running on the data folder or start one (service output to log
/// files), submit the run, follow it with per-stage progress until it ends, print the summary,
/// follow its training job when it asked for one (--train), and stop whatever it started. Ctrl+C
/// cancels the run (or the training job) first; a second one stops waiting.
/// </summary>
internal static class RunCommand
{
    private const uint WatchIntervalMs = 500;
    private const int ReportTableLines = 8;
    private static readonly TimeSpan CallDeadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ServingWait = TimeSpan.FromSeconds(30);
    // A curation replica killed mid-run is restarted by the AppHost's supervisor with backoff of up to 30 s.
    private static readonly TimeSpan ReconnectFor = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan CancelWait = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan SubmitRetryFor = TimeSpan.FromSeconds(30);
    private static readonly string[] RunStages = [KnownServices.Curation.Name, KnownServices.Diffusion.Name, KnownServices.Scoring.Name, KnownServices.Selection.Name];

    /// <summary>Runs the verb; the exit code is 0 when the run completed (and its training, if asked for, succeeded), 1 when it did not, 2 when it was refused.</summary>
    public static async Task<int> RunAsync(AppHostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var config = settings.Run ?? throw new ArgumentException("The run verb needs a run config.", nameof(settings));
        if (config.Id.Length == 0)
        {
            // Chosen here rather than by the server, so a submit that is retried, or interrupted
            // before its answer arrives, still names the run to watch or cancel.
            config.Id = string.Create(CultureInfo.InvariantCulture, $"run-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(3))}");
        }

        var output = new ClusterConsole();
        using var interrupt = new CancellationTokenSource();
        using var abandon = new CancellationTokenSource();
        var presses = 0;
        using var signals = new StopSignals(() =>
        {
            if (Interlocked.Increment(ref presses) > 1)
            {
                abandon.Cancel();
            }
            interrupt.Cancel();
        });

        RunningCluster? running;
        try
        {
            running = RunningCluster.Find(settings.DataDirectory);
        }
        catch (InvalidDataException e)
        {
            output.Error(e.Message);
            return 1;
        }

        SynthVlmCluster? cluster = null;
        try
        {
            Uri endpoint;
            Uri? training;
            Uri? evaluation;
            if (running is not null)
            {
                if (!await WaitServingAsync(running, interrupt.Token).ConfigureAwait(false))
                {
                    output.Error(interrupt.IsCancellationRequested
                        ? "Interrupted before the run was submitted."
                        : $"The AppHost (pid {running.Pid}) running on {settings.DataDirectory} has a curation service at {running.CurationGrpc} that does not answer SERVING; " +
                          "wait for it to recover, or stop that AppHost and try again.");
                    return 1;
                }
                output.Info($"Using the cluster of the AppHost running on {settings.DataDirectory} (pid {running.Pid}); it keeps running afterwards.");
                if (settings.ClusterOptionsGiven.Count > 0)
                {
                    output.Warn($"{string.Join(", ", settings.ClusterOptionsGiven.Distinct())} only shape a cluster this command starts; the running one is used as it is.");
                }
                endpoint = running.CurationGrpc;
                training = running.TrainingGrpc;
                evaluation = running.EvalGrpc;
            }
            else
            {
                try
                {
                    cluster = SynthVlmCluster.Create(settings, runVerb: true);
                }
                catch (AppHostStartException e)
                {
                    output.Error(e.Message);
                    return 2;
                }
                output.Info($"Starting SynthVlm: {ClusterCommand.Describe(cluster)}; Redis is {cluster.Resources.RedisDescription} (service output in {settings.LogDirectory})");
                if (cluster.DashboardLogin is { } login)
                {
                    output.Info($"Login to the dashboard at {login}");
                }
                IReadOnlyList<string> unhealthy;
                try
                {
                    await cluster.App.StartAsync(interrupt.Token).ConfigureAwait(false);
                    unhealthy = await cluster.WaitForHealthyAsync(settings.StartTimeout, interrupt.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    output.Info("Stopping (interrupted during start)...");
                    return 130;
                }
                var needed = RunStages
                    .Concat(config.Train is { Enabled: true } ? [KnownServices.Training.Name] : [])
                    .Concat(config.Eval is { Enabled: true } ? [KnownServices.Eval.Name] : []);
                var blocking = unhealthy.Intersect(needed).ToList();
                if (blocking.Count > 0)
                {
                    output.Error($"{string.Join(", ", blocking)} did not become healthy, so a run cannot go through; their output is in {settings.LogDirectory}.");
                    return 1;
                }
                output.Info(unhealthy.Count == 0
                    ? $"All {cluster.ExpectedReplicas} resources healthy."
                    : $"Running without {string.Join(", ", unhealthy)} (not needed for a run).");
                endpoint = cluster.CurationGrpc;
                training = cluster.TrainingGrpc;
                evaluation = cluster.EvalGrpc;
            }

            using var channel = GrpcChannel.ForAddress(endpoint);
            var (code, run) = await SubmitAndFollowAsync(new RunsClient(channel), config, output, interrupt.Token, abandon.Token).ConfigureAwait(false);
            if (code != 0 || run is null || config.Train is not { Enabled: true })
            {
                return code;
            }
            if (training is null || (config.Eval is { Enabled: true } && evaluation is null))
            {
                output.Error($"The AppHost running on {settings.DataDirectory} did not publish the training and eval services' addresses (it predates --train/--eval); restart it to follow them.");
                return 1;
            }
            var job = await RunTrainingFollower.FollowAsync(training, run.Id, output, settings.LogDirectory, interrupt.Token).ConfigureAwait(false);
            if (job is not null)
            {
                output.WriteLine(string.Empty);
                foreach (var line in RunTrainingFollower.Summary(job))
                {
                    output.WriteLine(line);
                }
            }
            if (job?.State != TrainingState.Succeeded)
            {
                return 1;
            }
            if (config.Eval is not { Enabled: true })
            {
                return 0;
            }
            var evaluated = await RunEvalFollower.FollowAsync(evaluation!, run.Id, output, settings.LogDirectory, interrupt.Token).ConfigureAwait(false);
            if (evaluated is not null)
            {
                output.WriteLine(string.Empty);
                foreach (var line in RunEvalFollower.Summary(evaluated))
                {
                    output.WriteLine(line);
                }
            }
            // A benchmark that could not run is printed above; the command fails only when none was scored.
            return evaluated?.State == EvalState.Succeeded && evaluated.Results.Any(r => r.Error.Length == 0) ? 0 : 1;
        }
        finally
        {
            if (cluster is not null)
            {
                output.Info("Stopping...");
                await cluster.DisposeAsync().ConfigureAwait(false);
                output.Info($"Stopped {cluster.Supervisor.Replicas.Count} processes.");
            }
        }
    }

    private static async Task<bool> WaitServingAsync(RunningCluster running, CancellationToken interrupt)
    {
        var deadline = DateTime.UtcNow + ServingWait;
        while (!interrupt.IsCancellationRequested)
        {
            if (await running.IsServingAsync(interrupt).ConfigureAwait(false))
            {
                return true;
            }
            if (DateTime.UtcNow > deadline)
            {
                return false;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), interrupt).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        return false;
    }

    /// <summary>Submits the run and follows it; the exit code, and the run once it has ended (null when it was not submitted).</summary>
    private static async Task<(int Code, Run? Run)> SubmitAndFollowAsync(RunsClient client, RunConfig config, ClusterConsole output, CancellationToken interrupt, CancellationToken abandon)
    {
        Run run;
        try
        {
            run = await SubmitAsync(client, config, output, interrupt).ConfigureAwait(false);
        }
        catch (RpcException) when (interrupt.IsCancellationRequested)
        {
            output.Info($"Interrupted while submitting; cancelling run {config.Id} in case it was recorded.");
            await TryCancelAsync(client, config.Id, output, abandon).ConfigureAwait(false);
            return (1, null);
        }
        catch (RpcException e)
        {
            output.Error($"The curation service refused the run ({e.StatusCode}): {e.Status.Detail}");
            return (2, null);
        }
        output.Info($"Submitted run {run.Id}: {(run.Config.Recaption is { Images.Length: > 0 } r ? $"images {r.Images} (recaptioned first)" : run.Config.Captions)} -> {run.Config.Output}");

        var view = new RunProgressView(output, ClusterConsole.IsInteractive, TimeProvider.System);
        view.Update(run);
        run = await FollowAsync(client, run, view, output, interrupt, abandon).ConfigureAwait(false);
        view.Finish(run);
        PrintSummary(run, output);
        return (run.State == RunState.Completed ? 0 : 1, run);
    }

    /// <summary>Watches the run until it has finished, reconnecting through restarts of the curation service.</summary>
    /// <summary>
    /// Submits, retrying UNAVAILABLE for a while: DCP's proxy can drop the first connections of a
    /// replica that has only just become healthy. Submitting again is safe: the same id and config
    /// are the same run.
    /// </summary>
    private static async Task<Run> SubmitAsync(RunsClient client, RunConfig config, ClusterConsole output, CancellationToken interrupt)
    {
        var giveUpAt = DateTime.UtcNow + SubmitRetryFor;
        while (true)
        {
            try
            {
                return await client.SubmitAsync(new SubmitRunRequest { Config = config }, Deadline(interrupt)).ConfigureAwait(false);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.Unavailable && !interrupt.IsCancellationRequested && DateTime.UtcNow < giveUpAt)
            {
                output.Warn($"The curation service is not reachable yet ({e.Status.Detail}); trying again...");
                await Task.Delay(TimeSpan.FromSeconds(1), interrupt).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private static async Task<Run> FollowAsync(RunsClient client, Run run, RunProgressView view, ClusterConsole output, CancellationToken interrupt, CancellationToken abandon)
    {
        CancellationTokenSource? waiting = null;
        DateTime? failingSince = null;
        try
        {
            while (!IsFinished(run.State))
            {
                if (interrupt.IsCancellationRequested && waiting is null)
                {
                    waiting = CancellationTokenSource.CreateLinkedTokenSource(abandon);
                    waiting.CancelAfter(CancelWait);
                    output.Info($"Ctrl+C: cancelling run {run.Id} (Ctrl+C again to stop waiting for it)...");
                    run = await TryCancelAsync(client, run.Id, output, waiting.Token).ConfigureAwait(false) ?? run;
                    view.Update(run);
                    continue;
                }
                var token = waiting?.Token ?? interrupt;
                if (waiting is { IsCancellationRequested: true })
                {
                    output.Warn($"Stopped waiting for run {run.Id} to end; it is {RunProgressView.Describe(run.State)}.");
                    return run;
                }
                try
                {
                    using var call = client.Watch(new WatchRunRequest { Id = run.Id, IntervalMs = WatchIntervalMs }, new CallOptions(cancellationToken: token));
                    await foreach (var update in call.ResponseStream.ReadAllAsync(token).ConfigureAwait(false))
                    {
                        run = update;
                        failingSince = null;
                        view.Update(run);
                    }
                    if (!IsFinished(run.State))
                    {
                        // The stream ended without the end of the run: the replica is going away.
                        await Task.Delay(TimeSpan.FromSeconds(1), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    }
                }
                catch (Exception e) when (e is RpcException or OperationCanceledException && token.IsCancellationRequested)
                {
                    // Ctrl+C (or the end of waiting): handled at the top of the loop.
                }
                catch (RpcException e) when (e.StatusCode is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded or StatusCode.Cancelled)
                {
                    failingSince ??= DateTime.UtcNow;
                    if (DateTime.UtcNow - failingSince > ReconnectFor)
                    {
                        output.Error($"Lost the curation service for {ReconnectFor.TotalMinutes:0} minutes ({e.StatusCode}: {e.Status.Detail}); giving up on run {run.Id}.");
                        return run;
                    }
                    output.Warn($"Watching run {run.Id} was interrupted ({e.StatusCode}: {e.Status.Detail}); reconnecting...");
                    await Task.Delay(TimeSpan.FromSeconds(1), token).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                }
                catch (RpcException e)
                {
                    output.Error($"Watching run {run.Id} failed ({e.StatusCode}): {e.Status.Detail}");
                    return run;
                }
            }
            return run;
        }
        finally
        {
            waiting?.Dispose();
        }
    }

    private static async Task<Run?> TryCancelAsync(RunsClient client, string id, ClusterConsole output, CancellationToken cancellationToken)
    {
        try
        {
            return await client.CancelAsync(new CancelRunRequest { Id = id, Reason = "Ctrl+C in the AppHost" }, Deadline(cancellationToken)).ConfigureAwait(false);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            return null;
        }
        catch (RpcException e)
        {
            output.Error($"Could not cancel run {id} ({e.StatusCode}): {e.Status.Detail}");
            return null;
        }
    }

    private static void PrintSummary(Run run, ClusterConsole output)
    {
        var took = run.Created is not null && run.Updated is not null
            ? $" in {RunProgressView.Duration((run.Updated.ToDateTimeOffset() - run.Created.ToDateTimeOffset()).TotalSeconds)}"
            : string.Empty;
        output.WriteLine(string.Empty);
        output.WriteLine($"Run {run.Id}: {RunProgressView.Describe(run.State)}{took}");
        if (run.Reason.Length > 0)
        {
            output.WriteLine($"  reason:   {run.Reason}");
        }
        var dataset = run.Dataset.Length > 0 ? run.Dataset : run.Config?.Output ?? string.Empty;
        output.WriteLine($"  dataset:  {(dataset.Length > 0 ? dataset : "-")}{(run.State == RunState.Completed || Directory.Exists(dataset) ? string.Empty : " (not written)")}");
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  selected: {run.Selected} pairs"));
        var report = Path.Combine(dataset, "report.md");
        if (dataset.Length > 0 && File.Exists(report))
        {
            output.WriteLine($"  report:   {report}");
            foreach (var line in ReportTable(report))
            {
                output.WriteLine("    " + line);
            }
        }
    }

    /// <summary>The first lines of the first Markdown table in the report.</summary>
    private static IEnumerable<string> ReportTable(string path)
    {
        try
        {
            return File.ReadLines(path)
                .SkipWhile(l => !l.TrimStart().StartsWith('|'))
                .TakeWhile(l => l.TrimStart().StartsWith('|'))
                .Take(ReportTableLines)
                .ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [$"(could not read it: {e.Message})"];
        }
    }

    private static bool IsFinished(RunState state) => state is RunState.Completed or RunState.Failed or RunState.Cancelled;

    private static CallOptions Deadline(CancellationToken cancellationToken) =>
        new(deadline: DateTime.UtcNow + CallDeadline, cancellationToken: cancellationToken);
}
