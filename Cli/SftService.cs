using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm sft --service URL`: the caption pool submitted to a TrainingService as a TRAINING_STAGE_FINETUNE job on a
/// TRAINING_DATASET_FORMAT_CAPTION_POOL dataset (the service converts the pool), watched to its end; the skipped pool
/// records go to stderr and the summary line has the in-process command's keys plus the job's id.
/// </summary>
internal static class SftService
{
    private const int Failed = 1;
    private const int UsageError = 2;

    /// <summary>The hyperparameters the options set (unset ones keep the service's stage-2 defaults).</summary>
    public static TrainingHyperparameters Hyperparameters(bool full, int? loraRank, double? loraAlpha, double? lr, int? epochs, int? maxSteps, int? batchSize, int? micro, int? seed)
    {
        var h = new TrainingHyperparameters { Full = full };
        if (loraRank is { } r)
        {
            h.LoraRank = r;
        }
        if (loraAlpha is { } a)
        {
            h.LoraAlpha = a;
        }
        if (lr is { } l)
        {
            h.LearningRate = l;
        }
        if (epochs is { } e)
        {
            h.Epochs = e;
        }
        if (maxSteps is { } m)
        {
            h.MaxSteps = m;
        }
        if (batchSize is { } b)
        {
            h.GlobalBatchSize = b;
        }
        if (micro is { } mb)
        {
            h.MicroBatchSize = mb;
        }
        if (seed is { } s)
        {
            h.Seed = s;
        }
        return h;
    }

    /// <summary>Submits, prints the skipped records, watches to the end and prints one JSON summary (exit 0 when it succeeded).</summary>
    public static async Task<int> RunAsync(string serviceUrl, SubmitTrainingRequest request, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(serviceUrl, UriKind.Absolute, out var address) || address.Scheme is not ("http" or "https"))
        {
            await Console.Error.WriteLineAsync($"sft: --service: '{serviceUrl}' is not an http:// or https:// URL.").ConfigureAwait(false);
            return UsageError;
        }
        using var channel = GrpcChannel.ForAddress(address);
        var client = new Training.TrainingClient(channel);
        try
        {
            var job = await client.SubmitAsync(request, cancellationToken: cancellationToken).ResponseAsync.ConfigureAwait(false);
            foreach (var pool in job.CaptionPools)
            {
                foreach (var reason in pool.SkippedReasons)
                {
                    await Console.Error.WriteLineAsync($"sft: {reason}; skipped.").ConfigureAwait(false);
                }
                if (pool.Skipped > pool.SkippedReasons.Count)
                {
                    await Console.Error.WriteLineAsync($"sft: ... {pool.Skipped - pool.SkippedReasons.Count} more skipped; see {pool.Report} on the service.").ConfigureAwait(false);
                }
            }
            await Console.Error.WriteLineAsync($"sft: job {job.Id} {job.Progress.Message}").ConfigureAwait(false);
            var final = job.Progress;
            using var call = client.Watch(new WatchTrainingRequest { JobId = job.Id }, cancellationToken: cancellationToken);
            await foreach (var progress in call.ResponseStream.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (progress.State == TrainingState.Running && progress.Step > 0 && progress.Step != final.Step)
                {
                    await Console.Error.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"sft: step {progress.Step}/{progress.TotalSteps}: loss {progress.Loss:F4}, lr {progress.LearningRate:G3}")).ConfigureAwait(false);
                }
                final = progress;
            }
            if (final.State != TrainingState.Succeeded)
            {
                await Console.Error.WriteLineAsync($"sft: job {job.Id} {final.State}: {final.Message}").ConfigureAwait(false);
                return Failed;
            }
            var pools = job.CaptionPools;
            Console.WriteLine(JsonLine.Of(w =>
            {
                w.WriteString("checkpoint", final.ModelDir);
                w.WriteNumber("steps", final.Step);
                w.WriteNumber("samples", pools.Sum(p => p.Samples));
                w.WriteNumber("pool_records_skipped", pools.Sum(p => p.Skipped));
                w.WriteString("prompt", pools.Count > 0 ? pools[0].Prompt : string.Empty);
                w.WriteString("report", Path.Combine(job.OutputDir, "report.json"));
                w.WriteString("job", job.Id);
                w.WriteString("message", final.Message);
            }));
            return 0;
        }
        catch (RpcException e) when (e.StatusCode != StatusCode.Cancelled || !cancellationToken.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"sft: {e.StatusCode}: {e.Status.Detail}").ConfigureAwait(false);
            return e.StatusCode == StatusCode.InvalidArgument ? UsageError : Failed;
        }
    }
}
