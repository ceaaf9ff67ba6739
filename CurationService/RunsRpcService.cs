using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using Grpc.Core;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.ServiceDefaults;

namespace SynthVlm.CurationService;

/// <summary>
/// The Runs gRPC service. Run state lives in Redis, so any replica answers for any run. Submit
/// validates and normalises the config, records the run in Redis and its config in the blob
/// store (the durable record a Redis loss is reconciled from), and leaves ingestion to whichever
/// curation replica takes the run's ingest lease.
/// </summary>
public sealed class RunsRpcService(RunAccess runs, FileBlobStore blobs, DataPaths paths, TimeProvider time, CaptionImageMatcher matcher) : Protos.V1.Runs.RunsBase
{
    /// <summary>Records and starts a run (idempotent for the same id and config).</summary>
    public override async Task<Run> Submit(SubmitRunRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var ct = context.CancellationToken;
        RunConfig config;
        try
        {
            config = RunConfigs.Normalize(request.Config ?? new RunConfig(), paths.DataDirectory, time.GetUtcNow(), CurationFilters.CheckThreshold);
        }
        catch (RunConfigException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, "config." + e.Message));
        }
        if (config.Curation.ImageTextMatching is not null && !matcher.IsConfigured)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "config.curation.image_text_matching: this curation service has no BLIP image–text matching model; start it with SynthVlm:Curation:BlipModel (AppHost: --blip-model DIR), or leave the filter off."));
        }
        var store = await StoreAsync(ct).ConfigureAwait(false);
        var existing = await store.GetConfigAsync(config.Id, ct).ConfigureAwait(false);
        if (existing is null && Directory.Exists(config.Output) && Directory.EnumerateFileSystemEntries(config.Output).Any())
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"config.output: '{config.Output}' already exists and is not empty; the dataset is written to a new folder."));
        }
        try
        {
            var (run, created) = await store.SubmitAsync(config, ct).ConfigureAwait(false);
            if (created)
            {
                // The run's trace root: every stage's spans of this run are recorded under it.
                using var submitted = RunTelemetry.Start($"run {run.Id}", run.Id, traceParent: null);
                if (submitted?.Id is { } traceParent)
                {
                    await store.SetTraceParentAsync(run.Id, traceParent, ct).ConfigureAwait(false);
                    run.TraceId = RunTelemetry.TraceIdOf(traceParent);
                }
                if (RunStore.WaitsForRecaption(config))
                {
                    // Starts from images: RecaptionService writes the pool, then ingestion starts.
                    var recaption = new RecaptionRequest { Run = run.Id, Recaption = config.Recaption };
                    await runs.AnnounceAsync(run.Id, KnownStreams.Images, "RecaptionRequest", Google.Protobuf.MessageExtensions.ToByteArray(recaption), "announce recaption", ct).ConfigureAwait(false);
                }
            }
            var record = RunRecords.Config(run.Id);
            if (created || !blobs.Exists(record))
            {
                await blobs.WriteAsync(record, Google.Protobuf.MessageExtensions.ToByteArray(config), CancellationToken.None).ConfigureAwait(false);
            }
            return run;
        }
        catch (RunAlreadyExistsException e)
        {
            throw new RpcException(new Status(StatusCode.AlreadyExists, e.Message));
        }
    }

    /// <summary>The run with its per-stage progress.</summary>
    public override async Task<Run> Get(GetRunRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        var store = await StoreAsync(context.CancellationToken).ConfigureAwait(false);
        return await store.GetAsync(request.Id, context.CancellationToken).ConfigureAwait(false) ?? throw NotFound(request.Id);
    }

    /// <summary>The run now and on every change until it finishes.</summary>
    public override async Task Watch(WatchRunRequest request, IServerStreamWriter<Run> responses, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        if (request.IntervalMs != 0 && request.IntervalMs is < 50 or > 60_000)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"interval_ms: {request.IntervalMs} must be between 50 and 60000 (0 = 500)."));
        }
        var interval = TimeSpan.FromMilliseconds(request.IntervalMs == 0 ? 500 : request.IntervalMs);
        var ct = context.CancellationToken;
        var rates = new ProgressRates();
        Run? previous = null;
        var lastSent = DateTimeOffset.MinValue;
        while (true)
        {
            var store = await StoreAsync(ct).ConfigureAwait(false);
            var run = await store.GetAsync(request.Id, ct).ConfigureAwait(false) ?? throw NotFound(request.Id);
            var now = time.GetUtcNow();
            rates.Update(run, now);
            // Counts or state changed, or a heartbeat every 10 intervals so rates stay current.
            if (previous is null || Changed(previous, run) || now - lastSent > interval * 10)
            {
                await responses.WriteAsync(run, ct).ConfigureAwait(false);
                lastSent = now;
            }
            previous = run;
            if (RunStore.IsFinished(run.State))
            {
                return;
            }
            await Task.Delay(interval, time, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Cancels the run.</summary>
    public override async Task<Run> Cancel(CancelRunRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (!RunConfigs.IsValidId(request.Id))
        {
            throw NotFound(request.Id);
        }
        var store = await StoreAsync(context.CancellationToken).ConfigureAwait(false);
        try
        {
            return await store.CancelAsync(request.Id, request.Reason.Length > 0 ? $"cancelled: {request.Reason}" : "cancelled", context.CancellationToken).ConfigureAwait(false);
        }
        catch (KeyNotFoundException)
        {
            throw NotFound(request.Id);
        }
    }

    /// <summary>The newest runs.</summary>
    public override async Task<ListRunsResponse> List(ListRunsRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Limit is < 0 or > 1000)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"limit: {request.Limit} must be between 1 and 1000 (0 = 100)."));
        }
        var store = await StoreAsync(context.CancellationToken).ConfigureAwait(false);
        var response = new ListRunsResponse();
        foreach (var id in await store.ListAsync(request.Limit == 0 ? 100 : request.Limit, context.CancellationToken).ConfigureAwait(false))
        {
            if (await store.GetAsync(id, context.CancellationToken).ConfigureAwait(false) is { } run)
            {
                response.Runs.Add(run);
            }
        }
        return response;
    }

    private async Task<RunStore> StoreAsync(CancellationToken cancellationToken)
    {
        try
        {
            return await runs.StoreAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (RedisConnections.IsRedisFailure(e))
        {
            throw new RpcException(new Status(StatusCode.Unavailable, $"Redis is unavailable: {e.Message}"));
        }
    }

    private static bool Changed(Run a, Run b) =>
        a.State != b.State || a.Reason != b.Reason || !a.Stages.Select(Counts).SequenceEqual(b.Stages.Select(Counts));

    private static (long, long, long, long, bool) Counts(StageProgress s) => (s.Emitted, s.Processed, s.Dropped, s.DeadLettered, s.Done);

    private static RpcException NotFound(string id) => new(new Status(StatusCode.NotFound, $"id: no run '{id}'."));
}
