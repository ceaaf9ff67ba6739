using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;

namespace SynthVlm.Scoring;

/// <summary>
/// Scores image-caption pairs: decoding, SSIMScore and CLIP preprocessing run on the thread pool
/// (at most <see cref="PairScorerOptions.PreprocessConcurrency"/> at once) while a single batch
/// loop feeds the CLIP model micro-batches of up to <see cref="PairScorerOptions.BatchSize"/>
/// pairs, waiting at most <see cref="PairScorerOptions.MaxBatchWait"/> to fill one — so an
/// accelerator stays busy and the CPU work overlaps inference. Thread-safe; dispose to drain.
/// </summary>
public sealed partial class PairScorer : IAsyncDisposable
{
    private static readonly KeyValuePair<string, object?> OutcomeOk = new("outcome", "ok");
    private static readonly KeyValuePair<string, object?> OutcomeInvalid = new("outcome", "invalid");
    private static readonly KeyValuePair<string, object?> OutcomeFailed = new("outcome", "failed");

    private readonly ClipModel _model;
    private readonly PairScorerOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<Pending> _queue;
    private readonly SemaphoreSlim _preprocessSlots;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _batchLoop;
    private readonly int _perImage;

    /// <summary>Starts a scorer over a loaded model (not owned: the caller disposes it after this).</summary>
    /// <exception cref="ArgumentException">An option is out of range.</exception>
    public PairScorer(ClipModel model, PairScorerOptions? options = null, ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        _options = options ?? new PairScorerOptions();
        _options.Validate();
        _model = model;
        _logger = logger ?? NullLogger.Instance;
        _perImage = model.ImageProcessor.TensorLength;
        // Room for two batches: one being filled while one runs; writers wait beyond that.
        _queue = Channel.CreateBounded<Pending>(new BoundedChannelOptions(_options.BatchSize * 2) { SingleReader = true });
        var slots = _options.PreprocessConcurrency > 0 ? _options.PreprocessConcurrency : Environment.ProcessorCount;
        _preprocessSlots = new SemaphoreSlim(slots, slots);
        _batchLoop = Task.Run(RunBatchesAsync);
    }

    /// <summary>The settings in use.</summary>
    public PairScorerOptions Options => _options;

    /// <summary>The CLIP model.</summary>
    public ClipModel Model => _model;

    /// <summary>Scores an encoded image (PNG, JPEG or WebP) against <paramref name="caption"/>.</summary>
    /// <param name="encodedImage">The image file's bytes.</param>
    /// <param name="caption">The caption (the configured prefix is added).</param>
    /// <param name="source">What to call the image in errors (a path or key).</param>
    /// <param name="lambda">Overrides <see cref="PairScorerOptions.Lambda"/> for this pair.</param>
    /// <param name="cancellationToken">Cancels waiting; a pair already in a model call is still computed.</param>
    /// <exception cref="ScoringInputException">The caption is empty, the image does not decode or is too large.</exception>
    public async Task<PairScore> ScoreAsync(ReadOnlyMemory<byte> encodedImage, string caption, string? source = null, double? lambda = null, CancellationToken cancellationToken = default)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = ScoringTelemetry.ActivitySource.StartActivity("score pair");
        activity?.SetTag("synthvlm.image", source);
        try
        {
            var prefixed = CheckInputs(caption, lambda);
            var prepared = await PrepareAsync(encodedImage, null, source, cancellationToken).ConfigureAwait(false);
            return await FinishAsync(prepared, prefixed, lambda ?? _options.Lambda, started, activity, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Record(e, activity);
            throw;
        }
    }

    /// <summary>Scores a decoded image (the caller keeps ownership of it).</summary>
    /// <exception cref="ScoringInputException">The caption is empty or the image is smaller than the SSIM window.</exception>
    public async Task<PairScore> ScoreAsync(RgbImage image, string caption, double? lambda = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(image);
        var started = Stopwatch.GetTimestamp();
        using var activity = ScoringTelemetry.ActivitySource.StartActivity("score pair");
        try
        {
            var prefixed = CheckInputs(caption, lambda);
            var prepared = await PrepareAsync(default, image, null, cancellationToken).ConfigureAwait(false);
            return await FinishAsync(prepared, prefixed, lambda ?? _options.Lambda, started, activity, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Record(e, activity);
            throw;
        }
    }

    /// <summary>Stops accepting pairs, finishes those queued, and stops the batch loop.</summary>
    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        try
        {
            await _batchLoop.ConfigureAwait(false);
        }
        finally
        {
            _stop.Dispose();
            _preprocessSlots.Dispose();
        }
    }

    private string CheckInputs(string caption, double? lambda)
    {
        if (string.IsNullOrWhiteSpace(caption))
        {
            throw new ScoringInputException("The caption is empty.");
        }
        if (lambda is { } l && !(l is >= 0 and <= 10))
        {
            throw new ScoringInputException($"lambda must be between 0 and 10; got {l}.");
        }
        return _options.TextPrefix + caption;
    }

    private async Task<Prepared> PrepareAsync(ReadOnlyMemory<byte> encoded, RgbImage? decoded, string? source, CancellationToken cancellationToken)
    {
        await _preprocessSlots.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await Task.Run(() => Prepare(encoded, decoded, source), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _preprocessSlots.Release();
        }
    }

    private Prepared Prepare(ReadOnlyMemory<byte> encoded, RgbImage? decoded, string? source)
    {
        var t0 = Stopwatch.GetTimestamp();
        RgbImage? owned = null;
        if (decoded is null)
        {
            try
            {
                owned = ImageCodec.Decode(encoded.Span, new DecodeOptions { MaxPixels = _options.MaxPixels }, source);
            }
            catch (ImagingException e)
            {
                throw new ScoringInputException(e.Message, e);
            }
        }
        var image = decoded ?? owned!;
        var pixels = ArrayPool<float>.Shared.Rent(_perImage);
        try
        {
            var t1 = Stopwatch.GetTimestamp();
            double ssim;
            try
            {
                ssim = SsimScore.Compute(image, _options.SsimDown);
            }
            catch (ImageSizeException e)
            {
                throw new ScoringInputException($"{source ?? "image"}: {e.Reason}", e);
            }
            var t2 = Stopwatch.GetTimestamp();
            _model.ImageProcessor.Preprocess(image, pixels.AsSpan(0, _perImage));
            var t3 = Stopwatch.GetTimestamp();
            ScoringTelemetry.PreprocessDuration.Record(Stopwatch.GetElapsedTime(t0, t3).TotalSeconds);
            return new Prepared(pixels, ssim, image.Width, image.Height,
                Stopwatch.GetElapsedTime(t0, t1).TotalMilliseconds,
                Stopwatch.GetElapsedTime(t1, t2).TotalMilliseconds,
                Stopwatch.GetElapsedTime(t2, t3).TotalMilliseconds);
        }
        catch
        {
            ArrayPool<float>.Shared.Return(pixels);
            throw;
        }
        finally
        {
            owned?.Dispose();
        }
    }

    private async Task<PairScore> FinishAsync(Prepared prepared, string caption, double lambda, long started, Activity? activity, CancellationToken cancellationToken)
    {
        var pending = new Pending(caption, prepared.Pixels, activity?.Context ?? default);
        try
        {
            await _queue.Writer.WriteAsync(pending, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            // Not queued: the pixels never reached the batch loop, which would otherwise return them.
            ArrayPool<float>.Shared.Return(prepared.Pixels);
            throw;
        }
        var clip = await pending.Result.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        var clipScore = ClipScore.FromCosine(clip.Cosine, _options.ClipWeight);
        var score = new PairScore(
            clipScore, clip.Cosine, prepared.Ssim, clipScore + (lambda * prepared.Ssim), lambda,
            clip.Truncated, clip.Tokens, prepared.Width, prepared.Height,
            new PairTimings(prepared.DecodeMs, prepared.SsimMs, prepared.PreprocessMs, clip.InferenceMs, clip.BatchSize));
        ScoringTelemetry.Pairs.Add(1, OutcomeOk);
        ScoringTelemetry.PairDuration.Record(Stopwatch.GetElapsedTime(started).TotalSeconds);
        activity?.SetTag("synthvlm.clip", score.Clip);
        activity?.SetTag("synthvlm.ssim", score.Ssim);
        return score;
    }

    private static void Record(Exception e, Activity? activity)
    {
        if (e is OperationCanceledException)
        {
            return;
        }
        ScoringTelemetry.Pairs.Add(1, e is ScoringInputException ? OutcomeInvalid : OutcomeFailed);
        activity?.SetStatus(ActivityStatusCode.Error, e.Message);
    }

    private async Task RunBatchesAsync()
    {
        var reader = _queue.Reader;
        var batch = new List<Pending>(_options.BatchSize);
        var buffer = new float[_options.BatchSize * _perImage];
        var captions = new List<string>(_options.BatchSize);
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < _options.BatchSize && reader.TryRead(out var first))
            {
                batch.Add(first);
            }
            if (batch.Count < _options.BatchSize && _options.MaxBatchWait > TimeSpan.Zero)
            {
                await FillAsync(reader, batch).ConfigureAwait(false);
            }
            RunBatch(batch, buffer, captions);
        }
    }

    private async Task FillAsync(ChannelReader<Pending> reader, List<Pending> batch)
    {
        using var wait = new CancellationTokenSource(_options.MaxBatchWait);
        try
        {
            while (batch.Count < _options.BatchSize && await reader.WaitToReadAsync(wait.Token).ConfigureAwait(false))
            {
                while (batch.Count < _options.BatchSize && reader.TryRead(out var more))
                {
                    batch.Add(more);
                }
            }
        }
        catch (OperationCanceledException) when (wait.IsCancellationRequested)
        {
            // The wait is over: run what there is.
        }
    }

    private void RunBatch(List<Pending> batch, float[] buffer, List<string> captions)
    {
        captions.Clear();
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].Pixels.AsSpan(0, _perImage).CopyTo(buffer.AsSpan(i * _perImage, _perImage));
            ArrayPool<float>.Shared.Return(batch[i].Pixels);
            captions.Add(batch[i].Caption);
        }
        using var activity = ScoringTelemetry.ActivitySource.StartActivity(
            "clip batch", ActivityKind.Internal, parentContext: default,
            links: batch.Where(p => p.Context != default).Select(p => new ActivityLink(p.Context)));
        activity?.SetTag("synthvlm.batch.size", batch.Count);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var embeddings = _model.Encode(captions, buffer.AsMemory(0, batch.Count * _perImage), batch.Count);
            var elapsed = Stopwatch.GetElapsedTime(started);
            ScoringTelemetry.InferenceDuration.Record(elapsed.TotalSeconds);
            ScoringTelemetry.BatchSize.Record(batch.Count);
            for (var i = 0; i < batch.Count; i++)
            {
                batch[i].Result.TrySetResult(new ClipResult(embeddings.Cosine(i, i), embeddings.Truncated(i), embeddings.TokenCount(i), elapsed.TotalMilliseconds, batch.Count));
            }
        }
        catch (Exception e)
        {
            activity?.SetStatus(ActivityStatusCode.Error, e.Message);
            LogBatchFailed(_logger, batch.Count, e.Message);
            foreach (var pending in batch)
            {
                pending.Result.TrySetException(e);
            }
        }
    }

    [LoggerMessage(EventId = 600, Level = LogLevel.Error, Message = "CLIP call for {Count} pairs failed: {Reason}")]
    private static partial void LogBatchFailed(ILogger logger, int count, string reason);

    private sealed record Prepared(float[] Pixels, double Ssim, int Width, int Height, double DecodeMs, double SsimMs, double PreprocessMs);

    private sealed record ClipResult(double Cosine, bool Truncated, int Tokens, double InferenceMs, int BatchSize);

    private sealed class Pending(string caption, float[] pixels, ActivityContext context)
    {
        public string Caption { get; } = caption;

        public float[] Pixels { get; } = pixels;

        public ActivityContext Context { get; } = context;

        public TaskCompletionSource<ClipResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
