using SynthVlm.Curation;
using SynthVlm.Protos.V1;
using Grpc.Core;

namespace SynthVlm.CurationService;

/// <summary>The Curation gRPC service: the rule filters over texts sent directly (ad-hoc checks).</summary>
public sealed class CurationRpcService : Protos.V1.Curation.CurationBase
{
    /// <summary>Most texts per call.</summary>
    public const int MaxTexts = 1000;

    /// <summary>Longest text, in UTF-16 units.</summary>
    public const int MaxTextLength = 1 << 20;

    /// <summary>Every statistic and verdict for each text, in order.</summary>
    public override Task<CurateTextResponse> CurateText(CurateTextRequest request, ServerCallContext context)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(context);
        if (request.Texts.Count > MaxTexts)
        {
            throw Invalid($"texts: {request.Texts.Count} texts; at most {MaxTexts} per call.");
        }
        for (var i = 0; i < request.Texts.Count; i++)
        {
            if (request.Texts[i].Length > MaxTextLength)
            {
                throw Invalid($"texts[{i}]: {request.Texts[i].Length} characters; at most {MaxTextLength}.");
            }
        }
        foreach (var (key, value) in request.Thresholds)
        {
            if (CurationFilters.CheckThreshold(key, value) is { } problem)
            {
                throw Invalid($"thresholds[{key}]: {problem}");
            }
        }
        CaptionCurator curator;
        try
        {
            curator = new CaptionCurator(CurationFilters.Settings(request.Thresholds, request.FlaggedWords));
        }
        catch (Exception e) when (e is ArgumentException or IOException or InvalidDataException)
        {
            throw Invalid($"flagged_words: {e.Message}");
        }
        var response = new CurateTextResponse();
        foreach (var text in request.Texts)
        {
            context.CancellationToken.ThrowIfCancellationRequested();
            var result = curator.Evaluate(text);
            var item = new CuratedText
            {
                Kept = result.Kept,
                Reason = result.RejectReason ?? "",
                CodePoints = result.Statistics.CodePoints,
                Words = result.Statistics.Words,
            };
            foreach (var v in result.Verdicts)
            {
                var verdict = new Protos.V1.FilterVerdict
                {
                    Filter = v.Filter,
                    Statistic = v.Statistic,
                    Outcome = v.Outcome.ToString().ToLowerInvariant(),
                    Min = v.Min,
                    Max = v.Max,
                    Reason = v.Reason ?? "",
                };
                if (v.Value is { } value)
                {
                    verdict.Value = value;
                    item.Stats[v.Statistic] = value;
                }
                item.Filters.Add(verdict);
            }
            response.Results.Add(item);
        }
        return Task.FromResult(response);
    }

    private static RpcException Invalid(string message) => new(new Status(StatusCode.InvalidArgument, message));
}
