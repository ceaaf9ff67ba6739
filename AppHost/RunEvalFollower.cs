using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Evaluation;
using SynthVlm.Protos.V1;

namespace SynthVlm.AppHost;

/// <summary>
/// The run verb's <c>--eval</c>: once the run's model is trained, EvalService queues its evaluation
/// (synthvlm:checkpoints); this finds that job by the run's id, shows which benchmark it answers,
/// and prints the benchmark table of its summary.json. Ctrl+C cancels it (its answers stay).
/// </summary>
internal static class RunEvalFollower
{
    private static readonly TimeSpan PrintEvery = TimeSpan.FromSeconds(2);

    /// <summary>Follows the run's evaluation job to its end; null (with the reason printed) when there is none.</summary>
    public static async Task<EvalJob?> FollowAsync(Uri endpoint, string runId, ClusterConsole output, string logDirectory, CancellationToken interrupt)
    {
        ArgumentNullException.ThrowIfNull(output);
        using var channel = GrpcChannel.ForAddress(endpoint);
        var client = new Eval.EvalClient(channel);
        output.Info($"Run {runId} asked for evaluation (--eval); waiting for EvalService to queue it...");
        var job = await RunTrainingFollower.WaitForJobAsync(
            async token => (await client.ListAsync(new ListEvalRequest(), deadline: DateTime.UtcNow + RunTrainingFollower.CallDeadline, cancellationToken: token).ConfigureAwait(false)).Jobs.LastOrDefault(j => j.Run == runId),
            interrupt).ConfigureAwait(false);
        if (job is null)
        {
            output.Error(interrupt.IsCancellationRequested
                ? "Interrupted before the evaluation was queued."
                : $"EvalService at {endpoint} has no job for run {runId} after {RunTrainingFollower.JobAppearsWithin.TotalMinutes:0} minutes; its output is in {logDirectory}.");
            return null;
        }
        output.Info($"Evaluation job {job.Id} -> {job.OutputDir}");
        var printed = DateTime.MinValue;
        try
        {
            using var call = client.Watch(new WatchEvalRequest { JobId = job.Id }, cancellationToken: interrupt);
            await foreach (var update in call.ResponseStream.ReadAllAsync(interrupt).ConfigureAwait(false))
            {
                if (update.Benchmark.Length > 0 && (DateTime.UtcNow - printed >= PrintEvery || update.Benchmark != job.Benchmark))
                {
                    output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"[eval] {update.Benchmark}: {update.Answered} answered ({update.BenchmarksDone}/{update.BenchmarksTotal} benchmarks done)"));
                    printed = DateTime.UtcNow;
                }
                job = update;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or RpcException && interrupt.IsCancellationRequested)
        {
            output.Info($"Ctrl+C: cancelling evaluation job {job.Id} (its answers in {job.OutputDir} stay)...");
            try
            {
                job = await client.CancelAsync(new CancelEvalRequest { JobId = job.Id }, deadline: DateTime.UtcNow + RunTrainingFollower.CallDeadline).ConfigureAwait(false);
            }
            catch (RpcException cancel)
            {
                output.Error($"Could not cancel evaluation job {job.Id} ({cancel.StatusCode}): {cancel.Status.Detail}");
            }
        }
        catch (RpcException e)
        {
            output.Error($"Watching evaluation job {job.Id} failed ({e.StatusCode}): {e.Status.Detail}; its output is in {logDirectory}.");
        }
        return job;
    }

    /// <summary>The summary lines of a followed job: its state, each benchmark's error, and the table.</summary>
    public static IEnumerable<string> Summary(EvalJob job)
    {
        ArgumentNullException.ThrowIfNull(job);
        yield return $"  eval:     {job.State.ToString().ToUpperInvariant()}, {job.Message}";
        foreach (var failed in job.Results.Where(r => r.Error.Length > 0))
        {
            yield return $"            {failed.Benchmark}: {failed.Error}";
        }
        if (job.SummaryPath.Length > 0 && File.Exists(job.SummaryPath))
        {
            yield return $"  summary:  {job.SummaryPath}";
            foreach (var line in EvaluationReport.Markdown([EvaluationReport.ReadSummary(job.SummaryPath)]).Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                yield return "    " + line;
            }
        }
    }
}
