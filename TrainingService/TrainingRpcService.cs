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
        return Task.FromResult(TrainingRequests.ToJob(SubmitJob(request, jobs, paths)));
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

    /// <summary>Converts, validates and queues; every refusal is an <see cref="RpcException"/> naming the field.</summary>
    internal static TrainingJobStatus SubmitJob(SubmitTrainingRequest request, TrainingJobManager jobs, DataPaths paths)
    {
        try
        {
            var job = TrainingRequests.ToJobRequest(request, paths.DataDirectory, () => Path.Combine(paths.DataDirectory, "training", $"job-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}"));
            return jobs.Submit(job);
        }
        catch (TrainingRequestException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, e.Message));
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

    private static RpcException NotFound(string id) => new(new Status(StatusCode.NotFound, $"job_id: no training job '{id}' in this process (jobs are kept until it restarts)."));
}
