using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace SynthVlm.Hallucination.Reports;

/// <summary>
/// How the captions a report scores were made: the prompt (preset id such as <c>detailed@1</c> and the exact text
/// sent), the sampling (greedy by default) and the length limit. The same settings on the same checkpoint and images
/// give the same captions (greedy; or sampled with a seed where the captioner honours one).
/// </summary>
/// <param name="PromptId">The prompt's id: a preset's <c>name@version</c>, or <c>custom@1</c>.</param>
/// <param name="PromptText">The text sent with each image (a word limit included).</param>
/// <param name="Temperature">Sampling temperature; 0 is greedy.</param>
/// <param name="TopP">Nucleus sampling in (0, 1]; 1 is off.</param>
/// <param name="Seed">The sampling seed sent with every request, or null.</param>
/// <param name="MaxTokens">The most tokens per caption.</param>
/// <param name="InFlight">Captions requested at once (an in-process model batches what is in flight).</param>
public sealed record CaptioningSettings(string PromptId, string PromptText, double Temperature = 0, double TopP = 1, int? Seed = null, int MaxTokens = 256, int InFlight = 8)
{
    /// <summary>Throws <see cref="ArgumentException"/> naming the first unusable setting.</summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(PromptId);
        ArgumentException.ThrowIfNullOrWhiteSpace(PromptText);
        if (!(Temperature >= 0) || !(TopP > 0 && TopP <= 1))
        {
            throw new ArgumentOutOfRangeException(nameof(Temperature), $"temperature must be at least 0 and top_p in (0, 1]; found {Temperature.ToString(CultureInfo.InvariantCulture)} and {TopP.ToString(CultureInfo.InvariantCulture)}.");
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTokens, 1, nameof(MaxTokens));
        ArgumentOutOfRangeException.ThrowIfLessThan(InFlight, 1, nameof(InFlight));
    }

    /// <summary>The settings as the report writes them.</summary>
    public JsonObject ToJson() => new()
    {
        ["prompt"] = PromptId,
        ["prompt_text"] = PromptText,
        ["decoding"] = Temperature == 0 ? "greedy" : "sampled",
        ["temperature"] = Temperature,
        ["top_p"] = TopP,
        ["seed"] = Seed,
        ["max_tokens"] = MaxTokens,
    };
}

/// <summary>What captioning the report's images gave.</summary>
/// <param name="Images">Images read from the source (unreadable ones included).</param>
/// <param name="Captioned">Images with a non-empty caption: the captions file's lines, what every metric scores.</param>
/// <param name="Empty">Images the captioner answered with an empty caption (not scored; counted here).</param>
/// <param name="Failed">Images the captioner failed on (not scored).</param>
/// <param name="Unreadable">Items the image source could not read (not captioned).</param>
/// <param name="Problems">The first problems, each naming its image and what went wrong.</param>
public sealed record CaptioningOutcome(int Images, int Captioned, int Empty, int Failed, int Unreadable, IReadOnlyList<string> Problems)
{
    /// <summary>The outcome as the report writes it.</summary>
    public JsonObject ToJson() => new()
    {
        ["count"] = Images,
        ["captioned"] = Captioned,
        ["empty_captions"] = Empty,
        ["captioner_failures"] = Failed,
        ["unreadable"] = Unreadable,
        ["problems"] = new JsonArray([.. Problems.Select(p => (JsonNode?)JsonValue.Create(p))]),
    };
}

/// <summary>
/// The hallucination report of one captioner checkpoint on one held-out image set: which checkpoint (path and content
/// hash, or endpoint and served model), how it captioned (prompt, sampling), how many images, the captions file every
/// metric scored, and each metric that was requested with its inputs and versions — CHAIR_s/CHAIR_i
/// (<see cref="Chair"/>), the judged non-hallucination rate with its Wilson 95 % interval and unjudged count
/// (<see cref="NonHallucination"/>), POPE accuracy/precision/recall/F1/yes-ratio per split (<see cref="Pope"/>).
/// A metric not requested is absent (null).
/// </summary>
/// <remarks>
/// JSON (<see cref="ToJson"/>): <c>format</c>, <c>format_version</c>, <c>created</c>, <c>checkpoint</c>,
/// <c>captioner</c> (model name and <see cref="CaptioningSettings"/>), <c>images</c> (source and
/// <see cref="CaptioningOutcome"/>), <c>captions_file</c>, <c>metrics</c> {<c>chair</c>, <c>non_hallucination_rate</c>,
/// <c>pope</c>} and <c>errors</c>. Markdown (<see cref="ToMarkdown"/>): one table row per number.
/// </remarks>
public sealed class HallucinationReport
{
    /// <summary>The report's <c>format</c> field.</summary>
    public const string Format = "synthvlm-hallucination-report";

    /// <summary>The report's <c>format_version</c>; bumped when a field changes meaning.</summary>
    public const int FormatVersion = 1;

    /// <summary>The CHAIR section's key under <c>metrics</c>.</summary>
    public const string ChairKey = "chair";

    /// <summary>The judged rate's key under <c>metrics</c>.</summary>
    public const string NonHallucinationKey = Claims.NonHallucinationRate.MetricName;

    /// <summary>The POPE section's key under <c>metrics</c>.</summary>
    public const string PopeKey = "pope";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>The checkpoint measured.</summary>
    public required CaptionerIdentity Checkpoint { get; init; }

    /// <summary>The captioner's model name as it reports it (an endpoint's served model, a checkpoint's folder name).</summary>
    public required string CaptionerModel { get; init; }

    /// <summary>How the captions were made.</summary>
    public required CaptioningSettings Settings { get; init; }

    /// <summary>Where the images came from (a folder, shards ...), as the caller names it; null when not known.</summary>
    public string? ImagesSource { get; init; }

    /// <summary>What captioning gave.</summary>
    public required CaptioningOutcome Captioning { get; init; }

    /// <summary>The captions file every metric scored (JSONL: image_id, image, caption).</summary>
    public required string CaptionsFile { get; init; }

    /// <summary>CHAIR: chair_s, chair_i, counts, the annotation folder and the reference it follows; null when not requested.</summary>
    public JsonObject? Chair { get; init; }

    /// <summary>The judged non-hallucination rate (<see cref="Claims.NonHallucinationRate.ToJson"/>) with its inputs; null when not requested.</summary>
    public JsonObject? NonHallucination { get; init; }

    /// <summary>POPE: metrics per split as the POPE benchmark scores them, with the benchmark folder and answers file; null when not requested.</summary>
    public JsonObject? Pope { get; init; }

    /// <summary>Metrics that could not be computed, each naming the metric and why (the others are still reported).</summary>
    public IReadOnlyList<string> Errors { get; init; } = [];

    /// <summary>When the report was made.</summary>
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;

    /// <summary>The report as JSON (see the remarks of <see cref="HallucinationReport"/>).</summary>
    public JsonObject ToJson()
    {
        var captioner = Settings.ToJson();
        captioner.Insert(0, "model", CaptionerModel);
        var images = Captioning.ToJson();
        images.Insert(0, "source", ImagesSource);
        var metrics = new JsonObject();
        foreach (var (key, section) in new[] { (ChairKey, Chair), (NonHallucinationKey, NonHallucination), (PopeKey, Pope) })
        {
            if (section is not null)
            {
                metrics[key] = section.DeepClone();
            }
        }
        return new JsonObject
        {
            ["format"] = Format,
            ["format_version"] = FormatVersion,
            ["created"] = Created.ToUniversalTime().ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture),
            ["checkpoint"] = Checkpoint.ToJson(),
            ["captioner"] = captioner,
            ["images"] = images,
            ["captions_file"] = CaptionsFile,
            ["metrics"] = metrics,
            ["errors"] = new JsonArray([.. Errors.Select(e => (JsonNode?)JsonValue.Create(e))]),
        };
    }

    /// <summary>The JSON text (indented) as the report file holds it.</summary>
    public string ToJsonString() => ToJson().ToJsonString(Indented);

    /// <summary>A short Markdown table: one row per number, with what it was computed from.</summary>
    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.Append(CultureInfo.InvariantCulture, $"# Hallucination report: {Escape(Checkpoint.Describe())}\n\n");
        md.Append(CultureInfo.InvariantCulture, $"Captioner `{Escape(CaptionerModel)}`, prompt `{Settings.PromptId}`, ")
            .Append(Settings.Temperature == 0 ? "greedy" : string.Create(CultureInfo.InvariantCulture, $"temperature {Settings.Temperature}, top_p {Settings.TopP}, seed {Settings.Seed?.ToString(CultureInfo.InvariantCulture) ?? "none"}"))
            .Append(CultureInfo.InvariantCulture, $", at most {Settings.MaxTokens} tokens; ")
            .Append(CultureInfo.InvariantCulture, $"{Captioning.Captioned} of {Captioning.Images} images captioned")
            .Append(CultureInfo.InvariantCulture, $" ({Captioning.Empty} empty, {Captioning.Failed} failed, {Captioning.Unreadable} unreadable); captions: `{Escape(CaptionsFile)}`.\n\n");
        md.Append("| metric | value | detail | inputs |\n|---|---|---|---|\n");
        if (Chair is { } chair)
        {
            var inputs = $"annotations `{Escape(chair["annotations"]?.GetValue<string>() ?? string.Empty)}`";
            Row(md, "CHAIR_s", chair["chair_s"], string.Create(CultureInfo.InvariantCulture, $"{chair["captions_hallucinating"]} of {chair["captions_scored"]} captions hallucinate"), inputs);
            Row(md, "CHAIR_i", chair["chair_i"], string.Create(CultureInfo.InvariantCulture, $"{chair["hallucinated_mentions"]} of {chair["object_mentions"]} object mentions"), inputs);
        }
        if (NonHallucination is { } rate)
        {
            var interval = rate["wilson95"] is JsonArray { Count: 2 } w && rate["rate"] is JsonValue
                ? string.Create(CultureInfo.InvariantCulture, $"95 % CI {Number(w[0])}–{Number(w[1])}; ")
                : string.Empty;
            Row(md, "non-hallucination rate", rate["rate"],
                string.Create(CultureInfo.InvariantCulture, $"{interval}{rate["hallucination_free"]} of {rate["judged"]} judged; {rate["unjudged"]} unjudged"),
                $"judge `{Escape(rate["extractor_model"]?.GetValue<string>() ?? string.Empty)}` / `{Escape(rate["verifier_model"]?.GetValue<string>() ?? string.Empty)}`, prompts {rate["extraction_prompt"]}, {rate["verification_prompt"]}");
        }
        if (Pope is { } pope && pope["metrics"] is JsonObject splits)
        {
            foreach (var (split, values) in splits)
            {
                Row(md, $"POPE {Escape(split)} accuracy", values?["accuracy"],
                    $"precision {Number(values?["precision"])}, recall {Number(values?["recall"])}, F1 {Number(values?["f1"])}, yes-ratio {Number(values?["yes_ratio"])}",
                    $"`{Escape(pope["benchmark_folder"]?.GetValue<string>() ?? string.Empty)}`");
            }
        }
        foreach (var error in Errors)
        {
            md.Append(CultureInfo.InvariantCulture, $"\nError: {Escape(error)}\n");
        }
        return md.ToString();
    }

    /// <summary>
    /// Writes the JSON to <paramref name="jsonPath"/> and the Markdown next to it (same name, <c>.md</c>), each
    /// through a temporary file and a rename, so a reader never sees half a report. Returns the Markdown's path.
    /// </summary>
    public async Task<string> WriteAsync(string jsonPath, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jsonPath);
        var full = Path.GetFullPath(jsonPath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var markdown = MarkdownPathOf(full);
        await WriteAtomicallyAsync(full, ToJsonString() + "\n", cancellationToken).ConfigureAwait(false);
        await WriteAtomicallyAsync(markdown, ToMarkdown(), cancellationToken).ConfigureAwait(false);
        return markdown;
    }

    /// <summary>Where <see cref="WriteAsync"/> puts the Markdown for <paramref name="jsonPath"/>: the same name ending in <c>.md</c>.</summary>
    public static string MarkdownPathOf(string jsonPath) => Path.ChangeExtension(Path.GetFullPath(jsonPath), ".md");

    private static async Task WriteAtomicallyAsync(string path, string text, CancellationToken cancellationToken)
    {
        await File.WriteAllTextAsync(path + ".tmp", text, new UTF8Encoding(false), cancellationToken).ConfigureAwait(false);
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private static void Row(StringBuilder md, string metric, JsonNode? value, string detail, string inputs) =>
        md.Append(CultureInfo.InvariantCulture, $"| {metric} | {Number(value)} | {detail} | {inputs} |\n");

    private static string Number(JsonNode? value) =>
        value is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString("0.0000", CultureInfo.InvariantCulture) : "n/a";

    private static string Escape(string text) => text.Replace("|", "\\|", StringComparison.Ordinal).Replace("\n", " ", StringComparison.Ordinal);
}
