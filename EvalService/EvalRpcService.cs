using Grpc.Core;
using SynthVlm.Evaluation;
using SynthVlm.Protos.V1;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.EvalService;

/// <summary>The Eval gRPC service over the process's <see cref="EvaluationJobManager"/>.</summary>
public sealed class EvalRpcService(EvaluationJobManager jobs, DataPaths paths) : Eval.EvalBase
{
    private const int DefaultConcurrency = 16;
    private const int DefaultBatchSize = 8;

    /// <summary>Validates and queues a job: INVALID_ARGUMENT naming the field, FAILED_PRECONDITION when the output folder is busy.</summary>
    public override Task<EvalJob> Submit(SubmitEvalRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(ToJob(SubmitJob(request, jobs, paths)));
    }

    /// <summary>Streams the job's status until it ends; NOT_FOUND when unknown.</summary>
    public override async Task Watch(WatchEvalRequest request, IServerStreamWriter<EvalJob> responseStream, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responseStream);
        ArgumentNullException.ThrowIfNull(context);
        await Rpc(jobs).WatchAsync(request.JobId, responseStream, context).ConfigureAwait(false);
    }

    /// <summary>Cancels the job; NOT_FOUND when unknown.</summary>
    public override Task<EvalJob> Cancel(CancelEvalRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Task.FromResult(Rpc(jobs).Cancel(request.JobId));
    }

    /// <summary>Every job this process knows, oldest first.</summary>
    public override Task<ListEvalResponse> List(ListEvalRequest request, ServerCallContext context)
    {
        var response = new ListEvalResponse();
        response.Jobs.AddRange(Rpc(jobs).List());
        return Task.FromResult(response);
    }

    /// <summary>Converts, validates and queues; every refusal is an <see cref="RpcException"/> naming the field.</summary>
    internal static EvaluationJobStatus SubmitJob(SubmitEvalRequest request, EvaluationJobManager jobs, DataPaths paths)
    {
        return Rpc(jobs).Submit(() => ToJobRequest(request, paths.DataDirectory));
    }

    /// <summary>The job request of <paramref name="request"/>, paths resolved against the data folder.</summary>
    /// <exception cref="ArgumentException">A field is wrong; ParamName is the proto field.</exception>
    internal static EvaluationJobRequest ToJobRequest(SubmitEvalRequest request, string dataDirectory)
    {
        string Resolve(string path, string field) => DataPaths.ResolveUnder(path, dataDirectory, out var problem) ?? throw new ArgumentException(problem, field);
        if (request.BenchDir.Length == 0)
        {
            throw new ArgumentException("is required: the folder with one folder per benchmark.", "bench_dir");
        }
        if (request.HasConcurrency && request.Concurrency < 1 || request.HasBatchSize && request.BatchSize < 1)
        {
            throw new ArgumentException("must be at least 1.", request.HasConcurrency && request.Concurrency < 1 ? "concurrency" : "batch_size");
        }
        var batch = request.HasBatchSize ? request.BatchSize : DefaultBatchSize;
        var concurrency = request.HasConcurrency ? request.Concurrency : Math.Max(DefaultConcurrency, 2 * batch);
        var model = new EvaluationModel(
            request.ModelDir.Length > 0 ? Resolve(request.ModelDir, "model_dir") : null,
            request.Endpoint.Length > 0 ? Endpoint(request.Endpoint, "endpoint") : null,
            request.EndpointModel.Length > 0 ? request.EndpointModel : null,
            batch,
            concurrency,
            request.ModelName.Length > 0 ? request.ModelName : null);
        var judge = request.JudgeEndpoint.Length > 0
            ? new EvaluationModel(null, Endpoint(request.JudgeEndpoint, "judge_endpoint"), request.JudgeModel.Length > 0 ? request.JudgeModel : throw new ArgumentException("is required with judge_endpoint.", "judge_model"), Concurrency: concurrency)
            : null;
        var output = request.OutputDir.Length > 0
            ? Resolve(request.OutputDir, "output_dir")
            : Path.Combine(dataDirectory, "evaluations", $"job-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..6]}");
        var evaluation = new EvaluationRequest(Resolve(request.BenchDir, "bench_dir"), [.. request.Only], output,
            new BenchmarkRunOptions(concurrency));
        return new EvaluationJobRequest(model, evaluation, judge, request.Run.Length > 0 ? request.Run : null);
    }

    /// <summary>The wire form of a job's status.</summary>
    internal static EvalJob ToJob(EvaluationJobStatus status)
    {
        var job = new EvalJob
        {
            Id = status.Id,
            State = status.State switch
            {
                EvaluationJobState.Queued => EvalState.Queued,
                EvaluationJobState.Running => EvalState.Running,
                EvaluationJobState.Succeeded => EvalState.Succeeded,
                EvaluationJobState.Failed => EvalState.Failed,
                _ => EvalState.Cancelled,
            },
            OutputDir = status.OutputDirectory,
            Run = status.Run ?? "",
            SubmittedUnixMs = status.Submitted.ToUnixTimeMilliseconds(),
            Model = status.Model ?? "",
            Benchmark = status.Benchmark ?? "",
            Answered = status.Answered,
            BenchmarksDone = status.BenchmarksDone,
            BenchmarksTotal = status.BenchmarksTotal,
            Message = status.Message,
            SummaryPath = status.State == EvaluationJobState.Succeeded ? status.SummaryPath : "",
        };
        job.Results.AddRange(status.Outcomes.Select(ToResult));
        return job;
    }

    /// <summary>The wire form of a benchmark's outcome.</summary>
    internal static BenchmarkResult ToResult(BenchmarkOutcome outcome) => new()
    {
        Benchmark = outcome.Benchmark,
        MetricsJson = outcome.Result?.Metrics?.MetricsJson() ?? "",
        Scored = outcome.Result?.Metrics?.Scored ?? 0,
        Unanswered = outcome.Result?.Failures.Count ?? 0,
        Error = outcome.Error ?? "",
    };

    private static Uri Endpoint(string text, string field) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"'{text}' is not an http(s) URL.", field);

    private static JobRpc<EvaluationJobRequest, EvaluationJobStatus, EvalJob> Rpc(EvaluationJobManager jobs) => new(jobs, "evaluation", ToJob);
}
