using Grpc.Core;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;
using SynthVlm.Vlm.Training;

namespace SynthVlm.TrainingService;

/// <summary>The Training gRPC service over the process's <see cref="TrainingJobManager"/>.</summary>
public sealed class TrainingRpcService(TrainingJobManager jobs, DataPaths paths) : Training.TrainingBase
{
    /// <summary>Validates and queues a job: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION when the output folder is busy.</summary>
    public override Task<TrainingJob> Submit(SubmitTrainingRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var status = SubmitJob(request, jobs, paths, context.CancellationToken, out var converted);
        var job = TrainingRequests.ToJob(status);
        job.CaptionPools.AddRange(converted.Select(c => CaptionPoolDatasets.ToWire(c, status.OutputDirectory)));
        return Task.FromResult(job);
    }

    /// <summary>Streams the job's progress from its latest state until it ends; NOT_FOUND when unknown.</summary>
    public override async Task Watch(WatchTrainingRequest request, IServerStreamWriter<TrainingProgress> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        IAsyncEnumerable<TrainingJobStatus> updates;
        try
        {
            updates = jobs.WatchAsync(request.JobId, context.CancellationToken);
        }
        catch (KeyNotFoundException)
        {
            throw NotFound(request.JobId);
        }
        await foreach (var status in updates.ConfigureAwait(false))
        {
            await responseStream.WriteAsync(TrainingRequests.ToProgress(status), context.CancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the job (a running one stops at its next step); NOT_FOUND when unknown.</summary>
    public override Task<TrainingJob> Cancel(CancelTrainingRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        var status = jobs.Cancel(request.JobId) ?? throw NotFound(request.JobId);
        return Task.FromResult(TrainingRequests.ToJob(status));
    }

    /// <summary>Every job this process knows, oldest first.</summary>
    public override Task<ListTrainingResponse> List(ListTrainingRequest request, ServerCallContext context)
    {
        var response = new ListTrainingResponse();
        response.Jobs.AddRange(jobs.List().Select(TrainingRequests.ToJob));
        return Task.FromResult(response);
    }

    /// <summary>
    /// Converts, validates and queues; every refusal is an <see cref="RpcException"/> naming the field. Caption-pool
    /// datasets are converted here (after everything else validated and the output folder was found free), into temporary
    /// files that are moved into the output folder just before the job is queued.
    /// </summary>
    internal static TrainingJobStatus SubmitJob(SubmitTrainingRequest request, TrainingJobManager jobs, DataPaths paths, CancellationToken cancellationToken = default) =>
        SubmitJob(request, jobs, paths, cancellationToken, out _);

    /// <summary>As <see cref="SubmitJob(SubmitTrainingRequest, TrainingJobManager, DataPaths, CancellationToken)"/>, with the caption pools it converted.</summary>
    internal static TrainingJobStatus SubmitJob(SubmitTrainingRequest request, TrainingJobManager jobs, DataPaths paths, CancellationToken cancellationToken, out IReadOnlyList<ConvertedCaptionPool> convertedPools)
    {
        convertedPools = [];
        try
        {
            var job = TrainingRequests.ToJobRequest(request, paths.DataDirectory, () => Path.Combine(paths.DataDirectory, "training", $"job-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}"), out var pools);
            if (pools.Count == 0)
            {
                return jobs.Submit(job);
            }
            // Everything but the pools' data first, so a wrong setting is refused before a long conversion.
            job.Settings.Validate();
            job.BaseModel.Validate();
            var output = Path.GetFullPath(job.Settings.OutputDirectory);
            ThrowIfBusy(jobs, output);
            var converted = CaptionPoolDatasets.Convert(pools, output, cancellationToken);
            try
            {
                // The converted files replace those of an earlier job on the same folder only while no job uses it.
                lock (CommitLock)
                {
                    ThrowIfBusy(jobs, output);
                    var status = jobs.Submit(CaptionPoolDatasets.Commit(job, converted));
                    convertedPools = converted;
                    return status;
                }
            }
            finally
            {
                CaptionPoolDatasets.Discard(converted);
            }
        }
        catch (TrainingRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
        }
        catch (CaptionPoolDatasetException e)
        {
            throw new RpcException(new Status(e.StatusCode, e.Message));
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw new RpcException(new Status(StatusCode.Cancelled, "the call was cancelled while its caption pools were converted; nothing was queued."));
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{TrainingRequests.FieldOf(e.ParamName)}: {ArgumentMessages.Plain(e)}"));
        }
        catch (ObjectDisposedException)
        {
            throw new RpcException(new Status(StatusCode.Unavailable, "the service is stopping; submit again to another replica or after it restarts."));
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"output_dir: {e.Message}"));
        }
    }

    private static readonly object CommitLock = new();

    private static void ThrowIfBusy(TrainingJobManager jobs, string output)
    {
        if (jobs.List().FirstOrDefault(j => !j.IsFinal && string.Equals(j.OutputDirectory, output, StringComparison.Ordinal)) is { } busy)
        {
            throw new InvalidOperationException($"output folder {output} is in use by job {busy.Id} ({busy.State}); wait for it or cancel it.");
        }
    }

    private static RpcException NotFound(string id) => new(new Status(StatusCode.NotFound, $"job_id: no training job '{id}' in this process (jobs are kept until it restarts)."));
}
