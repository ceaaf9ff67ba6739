using System.Text.Json.Nodes;

namespace SynthVlm.Recaptioning;

/// <summary>What a recaption run did; also written as <c>{prefix}.summary.json</c> (<see cref="ToJson"/>).</summary>
/// <param name="Input">The source's description.</param>
/// <param name="SourceKind">The source's kind (folder, imagefolder, webdataset, caption-pool).</param>
/// <param name="Captioner">The captioner's model name.</param>
/// <param name="Prompt">The prompt preset's name and version, e.g. <c>detailed@1</c>.</param>
/// <param name="Captioned">Captions written by this run.</param>
/// <param name="Rejected">Rejects written by this run, by kind (every kind present, zeros included).</param>
/// <param name="Resumed">Items skipped because an earlier run had settled them.</param>
/// <param name="PoolRecords">Captions in the whole output (earlier runs included).</param>
/// <param name="Shards">The pool files, in order.</param>
/// <param name="RejectsFile">The rejects log.</param>
/// <param name="TornBytesCut">Bytes of unfinished last lines cut from the output when this run started.</param>
/// <param name="Seconds">This run's wall time.</param>
public sealed record RecaptionSummary(
    string Input,
    string SourceKind,
    string Captioner,
    string Prompt,
    long Captioned,
    IReadOnlyDictionary<string, long> Rejected,
    long Resumed,
    long PoolRecords,
    IReadOnlyList<string> Shards,
    string RejectsFile,
    long TornBytesCut,
    double Seconds)
{
    /// <summary>Captions written per second of this run (0 for a run that wrote none).</summary>
    public double CaptionsPerSecond => Seconds > 0 ? Captioned / Seconds : 0;

    /// <summary>All rejects of this run.</summary>
    public long RejectedTotal => Rejected.Values.Sum();

    /// <summary>The summary as JSON, keys in snake case.</summary>
    public JsonObject ToJson()
    {
        var rejected = new JsonObject();
        foreach (var (kind, count) in Rejected)
        {
            rejected[kind] = count;
        }
        return new JsonObject
        {
            ["input"] = Input,
            ["source_kind"] = SourceKind,
            ["captioner"] = Captioner,
            ["prompt"] = Prompt,
            ["captioned"] = Captioned,
            ["rejected"] = rejected,
            ["rejected_total"] = RejectedTotal,
            ["resumed"] = Resumed,
            ["pool_records"] = PoolRecords,
            ["shards"] = new JsonArray([.. Shards.Select(s => JsonValue.Create(s))]),
            ["rejects_file"] = RejectsFile,
            ["torn_bytes_cut"] = TornBytesCut,
            ["seconds"] = Math.Round(Seconds, 3),
            ["captions_per_second"] = Math.Round(CaptionsPerSecond, 3),
        };
    }
}
