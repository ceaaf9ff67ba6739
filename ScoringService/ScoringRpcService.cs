using Google.Protobuf;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using Grpc.Core;
using SynthVlm.Scoring;

namespace SynthVlm.ScoringService;

/// <summary>The Scoring gRPC service: one pair (Score) or many (ScoreBatch, results streamed in order).</summary>
public sealed class ScoringRpcService(PairScorer scorer, FileBlobStore blobs) : Protos.V1.Scoring.ScoringBase
{
    /// <summary>Most items one ScoreBatch call may carry.</summary>
    public const int MaxBatchItems = 4096;

    /// <summary>Scores one pair; bad input is INVALID_ARGUMENT, a missing image key NOT_FOUND.</summary>
    public override async Task<ScoreResult> Score(ScoreRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        try
        {
            return await ScoreOneAsync(request, context.CancellationToken).ConfigureAwait(false);
        }
        catch (ScoringInputException e)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, Describe(request, e.Message)));
        }
        catch (FileNotFoundException)
        {
            throw new RpcException(new Status(StatusCode.NotFound, Describe(request, $"no image with key '{request.ImageKey}' in the blob store")));
        }
        catch (DirectoryNotFoundException)
        {
            throw new RpcException(new Status(StatusCode.NotFound, Describe(request, $"no image with key '{request.ImageKey}' in the blob store")));
        }
    }

    /// <summary>Scores every item; per-item problems become results with <c>error</c> set.</summary>
    public override async Task ScoreBatch(ScoreBatchRequest request, IServerStreamWriter<ScoreResult> responses, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(responses);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Items.Count > MaxBatchItems)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, $"items: {request.Items.Count} items; at most {MaxBatchItems} per call (split the batch)."));
        }
        var ct = context.CancellationToken;
        // All items start at once so the scorer can batch them; results go out in request order.
        var tasks = request.Items.Select(item => ScoreOrErrorAsync(item, ct)).ToArray();
        foreach (var task in tasks)
        {
            await responses.WriteAsync(await task.ConfigureAwait(false), ct).ConfigureAwait(false);
        }
    }

    private async Task<ScoreResult> ScoreOrErrorAsync(ScoreRequest item, CancellationToken cancellationToken)
    {
        try
        {
            return await ScoreOneAsync(item, cancellationToken).ConfigureAwait(false);
        }
        catch (ScoringInputException e)
        {
            return new ScoreResult { Id = item.Id, Error = Describe(item, e.Message) };
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return new ScoreResult { Id = item.Id, Error = Describe(item, $"no image with key '{item.ImageKey}' in the blob store") };
        }
    }

    private async Task<ScoreResult> ScoreOneAsync(ScoreRequest request, CancellationToken cancellationToken)
    {
        ReadOnlyMemory<byte> image;
        string source;
        switch (request.ImageCase)
        {
            case ScoreRequest.ImageOneofCase.ImageData:
                if (request.ImageData.IsEmpty)
                {
                    throw new ScoringInputException("image_data is empty.");
                }
                image = request.ImageData.Memory;
                source = "image_data";
                break;
            case ScoreRequest.ImageOneofCase.ImageKey:
                if (!BlobKey.IsValid(request.ImageKey))
                {
                    throw new ScoringInputException(BlobKeyProblem(request.ImageKey));
                }
                image = await blobs.ReadAsync(request.ImageKey, cancellationToken).ConfigureAwait(false);
                source = request.ImageKey;
                break;
            default:
                throw new ScoringInputException("one of image_key or image_data is required.");
        }
        var score = await scorer.ScoreAsync(image, request.Caption, source, request.HasLambda ? request.Lambda : null, cancellationToken).ConfigureAwait(false);
        return ToResult(request.Id, score);
    }

    /// <summary>The wire form of a <see cref="PairScore"/>.</summary>
    public static ScoreResult ToResult(string id, PairScore score)
    {
        ArgumentNullException.ThrowIfNull(score);
        return new ScoreResult
        {
            Id = id ?? "",
            Clip = score.Clip,
            Ssim = score.Ssim,
            Weighted = score.Weighted,
            Cosine = score.Cosine,
            Lambda = score.Lambda,
            CaptionTruncated = score.CaptionTruncated,
            CaptionTokens = score.CaptionTokens,
            Width = score.Width,
            Height = score.Height,
            Timings = new ScoreTimings
            {
                DecodeMs = score.Timings.DecodeMs,
                SsimMs = score.Timings.SsimMs,
                PreprocessMs = score.Timings.PreprocessMs,
                InferenceMs = score.Timings.InferenceMs,
                BatchSize = score.Timings.BatchSize,
            },
        };
    }

    private static string BlobKeyProblem(string key)
    {
        try
        {
            BlobKey.Check(key, "image_key");
            return $"image_key '{key}' is invalid.";
        }
        catch (ArgumentException e)
        {
            return $"image_key: {e.Message.Split(" (Parameter", 2)[0]}";
        }
    }

    private static string Describe(ScoreRequest request, string problem) =>
        request.Id is { Length: > 0 } id ? $"item '{id}': {problem}" : problem;
}
