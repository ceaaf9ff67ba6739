using Grpc.Core;
using SynthVlm.Core.Concurrency;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// The gRPC side of a <see cref="SequentialJobManager{TRequest, TStatus}"/> (EvalService, RecaptionService):
/// refusals become the right status codes and a job's status changes become a server stream.
/// </summary>
/// <typeparam name="TRequest">What the manager queues.</typeparam>
/// <typeparam name="TStatus">The manager's job status.</typeparam>
/// <typeparam name="TInfo">The proto message a status is sent as.</typeparam>
/// <param name="jobs">The process's job manager.</param>
/// <param name="noun">What a job is called in messages ("evaluation").</param>
/// <param name="toInfo">Converts a status to its message.</param>
public sealed class JobRpc<TRequest, TStatus, TInfo>(SequentialJobManager<TRequest, TStatus> jobs, string noun, Func<TStatus, TInfo> toInfo)
    where TRequest : class
    where TStatus : class, IQueuedJobStatus
{
    /// <summary>Queues <paramref name="request"/>: INVALID_ARGUMENT naming the field it is wrong in, FAILED_PRECONDITION when the output folder is busy.</summary>
    /// <param name="request">Builds the job request; an <see cref="ArgumentException"/> from it names the proto field in ParamName.</param>
    public TStatus Submit(Func<TRequest> request)
    {
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            return jobs.Submit(request());
        }
        catch (ArgumentException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"{e.ParamName ?? "request"}: {ArgumentMessages.Plain(e)}"));
        }
        catch (InvalidOperationException e)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, $"output_dir: {e.Message}"));
        }
    }

    /// <summary>Writes the job's status now and each change until it ends; NOT_FOUND when unknown.</summary>
    public async Task WatchAsync(string jobId, IServerStreamWriter<TInfo> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        IAsyncEnumerable<TStatus> updates;
        try
        {
            updates = jobs.WatchAsync(jobId, context.CancellationToken);
        }
        catch (KeyNotFoundException)
        {
            throw NotFound(jobId);
        }
        await foreach (var status in updates.ConfigureAwait(false))
        {
            await responseStream.WriteAsync(toInfo(status), context.CancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the job; NOT_FOUND when unknown.</summary>
    public TInfo Cancel(string jobId) => toInfo(jobs.Cancel(jobId) ?? throw NotFound(jobId));

    /// <summary>Every job this process knows, oldest first.</summary>
    public IEnumerable<TInfo> List() => jobs.List().Select(toInfo);

    /// <summary>NOT_FOUND naming the job id.</summary>
    public RpcException NotFound(string jobId) =>
        new(new Status(StatusCode.NotFound, $"job_id: no {noun} job '{jobId}' in this process (jobs are kept until it restarts)."));
}
