using System.Text.Json;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;

namespace SynthVlm.Dashboard;

/// <summary>A stage of a run as the run page shows it.</summary>
internal sealed record StageJson(string Stage, long Emitted, long Processed, long Dropped, long DeadLettered, bool Done, double Rate, double EtaSeconds, double Fraction);

/// <summary>A run as the runs list (without stages) and the run page (with them) show it.</summary>
internal sealed record RunJson(
    string Id, string State, string Reason, DateTimeOffset? Created, DateTimeOffset? Updated, string? Captions, string? Output,
    int? Variants, long Selected, string Dataset, string TraceId, double Progress,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<StageJson>? Stages)
{
    public static RunJson From(Run run, bool withStages)
    {
        var stages = run.Stages.Select(s => new StageJson(s.Stage, s.Emitted, s.Processed, s.Dropped, s.DeadLettered, s.Done, s.Rate, s.EtaSeconds, Fraction(s))).ToList();
        return new RunJson(
            run.Id, run.State.ToString().ToUpperInvariant(), run.Reason, run.Created?.ToDateTimeOffset(), run.Updated?.ToDateTimeOffset(),
            run.Config?.Captions, run.Config?.Output, run.Config?.Variants, run.Selected, run.Dataset, run.TraceId,
            stages.Count == 0 ? 0 : stages.Average(s => s.Fraction), withStages ? stages : null);
    }

    /// <summary>How much of a stage is finished: processed, dropped or dead-lettered of what was emitted.</summary>
    private static double Fraction(StageProgress s) =>
        s.Done ? 1.0 : s.Emitted == 0 ? 0.0 : Math.Min(1.0, (double)(s.Processed + s.Dropped + s.DeadLettered) / s.Emitted);
}

/// <summary>Why items of a run were dropped (its rejection records) and what was dead-lettered.</summary>
internal static class RunFailures
{
    private const int MaxRecordsRead = 20_000;
    private const int ExamplesPerReason = 3;
    private const int MaxDeadLetters = 50;

    public static object Read(FileBlobStore? blobs, string run)
    {
        if (blobs is null)
        {
            return new { unavailable = "the front end was not given the cluster's data folder (SYNTHVLM_DATA_DIR)" };
        }
        var reasons = new Dictionary<(string Stage, string Code), (long Count, List<object> Examples)>();
        var read = 0;
        var truncated = false;
        foreach (var key in SafeRejections(blobs, run))
        {
            if (++read > MaxRecordsRead)
            {
                truncated = true;
                break;
            }
            JsonElement record;
            try
            {
                record = JsonDocument.Parse(File.ReadAllBytes(key)).RootElement;
            }
            catch (Exception e) when (e is IOException or JsonException)
            {
                continue;
            }
            var stage = Text(record, "stage") ?? "?";
            var code = Text(record, "code") ?? "?";
            if (!reasons.TryGetValue((stage, code), out var entry))
            {
                entry = (0, []);
            }
            if (entry.Examples.Count < ExamplesPerReason)
            {
                entry.Examples.Add(new { id = Text(record, "id"), line = record.TryGetProperty("line", out var line) && line.ValueKind == JsonValueKind.Number ? line.GetInt64() : 0, reason = Text(record, "reason"), caption = Text(record, "caption") });
            }
            reasons[(stage, code)] = (entry.Count + 1, entry.Examples);
        }
        return new
        {
            truncated,
            reasons = reasons.OrderByDescending(p => p.Value.Count).Select(p => new { stage = p.Key.Stage, code = p.Key.Code, count = p.Value.Count, examples = p.Value.Examples }),
        };
    }

    public static async Task<object> DeadLettersAsync(WebViewsData data, string run, CancellationToken cancellationToken)
    {
        try
        {
            var redis = await data.RedisAsync(cancellationToken).ConfigureAwait(false);
            // Newest first, bounded: the dead-letter stream is shared by every run.
            var reply = await redis.StreamRangeAsync(KnownStreams.Dead, "-", "+", 2000, StackExchange.Redis.Order.Descending).WaitAsync(cancellationToken).ConfigureAwait(false);
            var entries = new List<object>();
            foreach (var entry in reply)
            {
                var map = new Dictionary<string, string>(StringComparer.Ordinal);
                foreach (var field in entry.Values)
                {
                    map[field.Name.ToString()] = field.Value.ToString();
                }
                if (map.GetValueOrDefault(KnownStreamFields.Run) != run)
                {
                    continue;
                }
                entries.Add(new
                {
                    id = entry.Id.ToString(),
                    stream = map.GetValueOrDefault(StreamDeadLetterFields.SourceStream),
                    group = map.GetValueOrDefault(StreamDeadLetterFields.Group),
                    reason = map.GetValueOrDefault(StreamDeadLetterFields.Reason),
                    deliveries = map.GetValueOrDefault(StreamDeadLetterFields.Deliveries),
                    kind = map.GetValueOrDefault(KnownStreamFields.Kind),
                });
                if (entries.Count >= MaxDeadLetters)
                {
                    break;
                }
            }
            return new { entries };
        }
        catch (Exception e) when (e is SourceUnavailableException or IOException || RedisConnections.IsRedisFailure(e) || (e is OperationCanceledException && cancellationToken.IsCancellationRequested))
        {
            return new { unavailable = WebViewsApi.Reason(e, "Redis") };
        }
    }

    private static IEnumerable<string> SafeRejections(FileBlobStore blobs, string run) =>
        RunConfigs.IsValidId(run) ? RunRecords.EnumerateRejections(blobs, run) : [];

    private static string? Text(JsonElement record, string name) =>
        record.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}
