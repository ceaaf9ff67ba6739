using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Hallucination.Reports;
using SynthVlm.Recaptioning.Preferences;

namespace SynthVlm.Recaptioning.ContinuousDpo;

/// <summary>
/// Continuous DPO of a captioner (Hunyuan-Recap's "continuous DPO", RLAIF-V's iterative DPO): round 0 measures the
/// starting checkpoint's non-hallucination rate on held-out images; then for k = 1..K, N captions per training image
/// are sampled from the current policy (<see cref="PreferenceSampler"/>), judged claim by claim
/// (<see cref="CaptionHallucinationJudge"/>), paired (<see cref="PreferencePairBuilder"/>), the policy is trained by DPO
/// on the pairs (<see cref="IPreferenceTrainer"/>, the policy being its own reference), and the result — the next
/// round's policy and reference — captions the held-out images greedily and is measured again.
/// </summary>
/// <remarks>
/// <para>
/// Layout of <see cref="ContinuousDpoOptions.OutputDirectory"/>: <c>round-k/</c> holds <c>pairs.jsonl</c> (with both
/// judgements per pair), <c>dpo/</c> (the trainer's output, the new checkpoint inside), <c>heldout-captions.jsonl</c>
/// (image_id, image, caption: what <c>synthvlm hallucination --captions</c> reads), <c>heldout-judgements.jsonl</c>,
/// <c>report.json</c> and <c>report.md</c> (the round's checkpoint's <see cref="HallucinationReport"/>: the judged rate
/// on the held-out captions, as <c>synthvlm hallucination report</c> writes it; the checkpoint is named by path, not
/// hashed) and <c>round.json</c>, written last; <c>rounds.json</c> (every round so far) and <c>rate.svg</c> (the rate per round
/// with its Wilson 95 % interval; round 0 = the starting checkpoint) are rewritten after each round.
/// </para>
/// <para>
/// A round whose pairs have no valid pair (every candidate a tie, …) records <c>no_valid_pair</c> with the reasons
/// counted and the run stops there without training. Resume: a round whose <c>round.json</c> says it trained (or
/// round 0's measurement) is reused as it is on a rerun of the same folder; any other round is run again (its
/// sampling seeds are fixed, so a cached judge answers again for free).
/// </para>
/// <para>
/// Memory: the images are streamed from their sources each round; sampling holds
/// <see cref="PreferenceSamplingOptions.MaxImagesInFlight"/> images, held-out captioning
/// <see cref="ContinuousDpoOptions.HeldOutInFlight"/> captions; only counts are kept across images.
/// </para>
/// </remarks>
public sealed class ContinuousDpoRunner
{
    /// <summary>The status of a round that trained.</summary>
    public const string Trained = "trained";

    /// <summary>The status of a round that found no valid pair (and did not train).</summary>
    public const string NoValidPair = "no_valid_pair";

    /// <summary>The status of round 0 (the starting checkpoint measured).</summary>
    public const string Measured = "measured";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
    private static readonly JsonSerializerOptions OneLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly ICaptionerFactory _captioners;
    private readonly IPreferenceTrainer _trainer;
    private readonly CaptionHallucinationJudge _judge;
    private readonly ContinuousDpoOptions _options;
    private readonly TextWriter? _log;

    /// <summary>Creates a runner; <paramref name="log"/> hears one line per stage.</summary>
    /// <exception cref="ArgumentException">An option is unusable; the message names it.</exception>
    public ContinuousDpoRunner(ICaptionerFactory captioners, IPreferenceTrainer trainer, CaptionHallucinationJudge judge, ContinuousDpoOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(captioners);
        ArgumentNullException.ThrowIfNull(trainer);
        ArgumentNullException.ThrowIfNull(judge);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _captioners = captioners;
        _trainer = trainer;
        _judge = judge;
        _options = options;
        _log = log;
    }

    /// <summary>The folder of round <paramref name="round"/>.</summary>
    public string RoundDirectory(int round) => Path.Combine(_options.OutputDirectory, string.Create(CultureInfo.InvariantCulture, $"round-{round}"));

    /// <summary>
    /// Runs (or resumes) the rounds from <paramref name="checkpoint"/>. <paramref name="trainingImages"/> and
    /// <paramref name="heldOutImages"/> are enumerated once per round. Returns rounds.json's content.
    /// </summary>
    /// <exception cref="OperationCanceledException">Cancelled; finished rounds stay and are reused on a rerun.</exception>
    public async Task<JsonObject> RunAsync(
        string checkpoint,
        Func<IAsyncEnumerable<PreferenceImageSource>> trainingImages,
        Func<IAsyncEnumerable<PreferenceImageSource>> heldOutImages,
        CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(checkpoint);
        ArgumentNullException.ThrowIfNull(trainingImages);
        ArgumentNullException.ThrowIfNull(heldOutImages);
        Directory.CreateDirectory(_options.OutputDirectory);
        var rounds = new List<JsonObject>();
        var policy = checkpoint;
        string? stopped = null;
        Captioner? captioner = null;
        try
        {
            var zero = ReadFinished(0, Measured, checkpoint);
            if (zero is null)
            {
                InvalidateAfter(0);
                captioner = Open(policy);
                var rate = await MeasureAsync(captioner.Model, policy, heldOutImages(), RoundDirectory(0), cancellationToken).ConfigureAwait(false);
                zero = new JsonObject
                {
                    ["round"] = 0,
                    ["status"] = Measured,
                    ["settings"] = Settings(),
                    ["policy"] = policy,
                    ["checkpoint"] = policy,
                    ["heldout"] = rate.ToJson(),
                    ["report"] = Path.Combine(RoundDirectory(0), ReportFileName),
                };
                WriteRound(0, zero);
            }
            else
            {
                Log("round 0: reused " + Path.Combine(RoundDirectory(0), "round.json"));
            }
            rounds.Add(zero);
            WriteSummary(rounds, checkpoint, policy, stopped);

            for (var k = 1; k <= _options.Rounds; k++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                if (ReadFinished(k, Trained, policy) is { } done)
                {
                    Log($"round {k}: reused {Path.Combine(RoundDirectory(k), "round.json")}");
                    rounds.Add(done);
                    policy = done["checkpoint"]!.GetValue<string>();
                    WriteSummary(rounds, checkpoint, policy, stopped);
                    continue;
                }
                // Later rounds started from this round's checkpoint as it was: they are stale once it is redone.
                InvalidateAfter(k);
                var directory = RoundDirectory(k);
                Directory.CreateDirectory(directory);
                if (captioner is null || captioner.Checkpoint != policy)
                {
                    captioner?.Dispose();
                    captioner = Open(policy);
                }
                var sampling = _options.Sampling with { BaseSeed = unchecked(_options.Sampling.BaseSeed + (k * _options.RoundSeedStride)) };
                var sampler = new PreferenceSampler(captioner.Model, _judge, sampling);
                var builder = new PreferencePairBuilder(_options.Pairs);
                var pairsPath = Path.Combine(directory, "pairs.jsonl");
                Log($"round {k}: sampling {sampling.SamplesPerImage} captions per image at temperature {sampling.Temperature.ToString(CultureInfo.InvariantCulture)} with {captioner.Checkpoint}");
                PreferencePairStatistics statistics;
                await using (var pairs = new StreamWriter(pairsPath, append: false, new UTF8Encoding(false)))
                {
                    statistics = await builder.WriteAsync(sampler.SampleManyAsync(trainingImages(), _options.Prompt, cancellationToken), pairs, cancellationToken).ConfigureAwait(false);
                }
                Log($"round {k}: {statistics.Describe()}");
                var round = new JsonObject
                {
                    ["round"] = k,
                    ["settings"] = Settings(),
                    ["policy"] = policy,
                    ["seeds"] = new JsonArray(sampling.BaseSeed, sampling.BaseSeed + sampling.SamplesPerImage - 1),
                    ["pairs_file"] = pairsPath,
                    ["pairs"] = statistics.ToJson(),
                };
                if (!statistics.HasValidPair)
                {
                    stopped = string.Create(CultureInfo.InvariantCulture, $"round {k}: {statistics.Describe()}; no training, the run stops here");
                    round.Insert(1, "status", NoValidPair);
                    round["reason"] = statistics.Describe();
                    round["checkpoint"] = null;
                    WriteRound(k, round);
                    rounds.Add(round);
                    Log(stopped);
                    break;
                }
                // The trainer needs the memory the captioner holds.
                captioner.Dispose();
                captioner = null;
                Log($"round {k}: DPO of {policy} on {statistics.Pairs} pairs");
                var trained = await _trainer.TrainAsync(policy, pairsPath, Path.Combine(directory, "dpo"), cancellationToken).ConfigureAwait(false);
                policy = trained.Checkpoint;
                captioner = Open(policy);
                var measured = await MeasureAsync(captioner.Model, policy, heldOutImages(), directory, cancellationToken).ConfigureAwait(false);
                round.Insert(1, "status", Trained);
                round["checkpoint"] = policy;
                round["dpo"] = trained.Summary.DeepClone();
                round["heldout"] = measured.ToJson();
                round["report"] = Path.Combine(directory, ReportFileName);
                WriteRound(k, round);
                rounds.Add(round);
                WriteSummary(rounds, checkpoint, policy, stopped);
            }
        }
        finally
        {
            captioner?.Dispose();
        }
        return WriteSummary(rounds, checkpoint, policy, stopped);
    }

    /// <summary>
    /// Images of an <see cref="Sources.IImageSource"/> as sampling inputs: items the source could not read, or whose
    /// image is not a file (WebDataset members: extract them first), go to <paramref name="skipped"/> instead.
    /// </summary>
    public static async IAsyncEnumerable<PreferenceImageSource> FromSource(
        Sources.IImageSource source,
        Action<Sources.RecaptionItem, string>? skipped = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(source);
        await foreach (var item in source.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            if (item.Problem is not null)
            {
                skipped?.Invoke(item, item.Problem);
            }
            else if (item.ImagePath is null)
            {
                skipped?.Invoke(item, "the image is not a file (extract WebDataset images first)");
            }
            else
            {
                yield return new PreferenceImageSource(item.Id, Path.GetFullPath(item.ImagePath));
            }
        }
    }

    /// <summary>An SVG of the non-hallucination rate per round with Wilson 95 % bars (rounds without a rate left out).</summary>
    public static string RateChart(IReadOnlyList<JsonObject> rounds)
    {
        ArgumentNullException.ThrowIfNull(rounds);
        const double Width = 640, Height = 320, Margin = 48;
        var points = rounds
            .Where(r => r["heldout"]?["rate"] is JsonValue)
            .Select(r => (Round: r["round"]!.GetValue<int>(), Rate: r["heldout"]!["rate"]!.GetValue<double>(),
                Low: r["heldout"]!["wilson95"]![0]!.GetValue<double>(), High: r["heldout"]!["wilson95"]![1]!.GetValue<double>()))
            .ToList();
        var last = Math.Max(1, rounds.Count == 0 ? 1 : rounds.Max(r => r["round"]!.GetValue<int>()));
        string X(int round) => (Margin + ((Width - (2 * Margin)) * round / last)).ToString("F1", CultureInfo.InvariantCulture);
        string Y(double rate) => (Height - Margin - ((Height - (2 * Margin)) * rate)).ToString("F1", CultureInfo.InvariantCulture);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{Width}\" height=\"{Height}\" viewBox=\"0 0 {Width} {Height}\">");
        svg.Append("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{Margin}\" y=\"20\" font-family=\"sans-serif\" font-size=\"14\">non-hallucination rate per round (Wilson 95 % interval)</text>");
        foreach (var tick in new[] { 0.0, 0.5, 1.0 })
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{Y(tick)}\" font-family=\"sans-serif\" font-size=\"11\">{tick:P0}</text>");
            svg.Append(CultureInfo.InvariantCulture, $"<line x1=\"{Margin}\" x2=\"{Width - Margin}\" y1=\"{Y(tick)}\" y2=\"{Y(tick)}\" stroke=\"#ddd\"/>");
        }
        for (var round = 0; round <= last; round++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{X(round)}\" y=\"{Height - 16}\" font-family=\"sans-serif\" font-size=\"11\" text-anchor=\"middle\">round {round}</text>");
        }
        if (points.Count > 0)
        {
            svg.Append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
            svg.AppendJoin(' ', points.Select(p => $"{X(p.Round)},{Y(p.Rate)}"));
            svg.Append("\"/>");
        }
        foreach (var p in points)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<line class=\"ci\" x1=\"{X(p.Round)}\" x2=\"{X(p.Round)}\" y1=\"{Y(p.Low)}\" y2=\"{Y(p.High)}\" stroke=\"#1f77b4\"/>");
            svg.Append(CultureInfo.InvariantCulture, $"<circle class=\"rate\" cx=\"{X(p.Round)}\" cy=\"{Y(p.Rate)}\" r=\"4\" fill=\"#1f77b4\"><title>round {p.Round}: {p.Rate:P1} ({p.Low:P1}–{p.High:P1})</title></circle>");
        }
        svg.Append("</svg>");
        return svg.ToString();
    }

    /// <summary>The round's hallucination report (JSON; the Markdown table is report.md beside it).</summary>
    public const string ReportFileName = "report.json";

    /// <summary>
    /// Captions the held-out images greedily with <paramref name="captioner"/>, measures the rate and writes the round's
    /// <see cref="HallucinationReport"/> for <paramref name="checkpoint"/>.
    /// </summary>
    private async Task<NonHallucinationRate> MeasureAsync(IChatModel captioner, string checkpoint, IAsyncEnumerable<PreferenceImageSource> images, string directory, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(directory);
        var captionsPath = Path.Combine(directory, "heldout-captions.jsonl");
        var recordsPath = Path.Combine(directory, "heldout-judgements.jsonl");
        var counts = new HeldOutCounts();
        NonHallucinationRate rate;
        await using (var captions = new StreamWriter(captionsPath, append: false, new UTF8Encoding(false)))
        await using (var records = new StreamWriter(recordsPath, append: false, new UTF8Encoding(false)))
        {
            rate = await NonHallucinationRate.MeasureAsync(_judge, CaptionAsync(captioner, images, captions, counts, cancellationToken), records, cancellationToken).ConfigureAwait(false);
        }
        Log($"{Path.GetFileName(directory)}: held-out {rate.Summary()}");
        var judged = rate.ToJson();
        judged["records"] = recordsPath;
        judged["captions_file"] = captionsPath;
        var report = new HallucinationReport
        {
            Checkpoint = CaptionerIdentity.ForCheckpointPath(checkpoint),
            CaptionerModel = captioner.ModelName,
            Settings = new CaptioningSettings("continuous-dpo", _options.Prompt, MaxTokens: _options.HeldOutMaxTokens ?? _options.Sampling.MaxTokens, InFlight: _options.HeldOutInFlight),
            Captioning = new CaptioningOutcome(counts.Images, counts.Images - counts.Empty - counts.Failed, counts.Empty, counts.Failed, 0, counts.Problems),
            CaptionsFile = captionsPath,
            NonHallucination = judged,
        };
        await report.WriteAsync(Path.Combine(directory, ReportFileName), cancellationToken).ConfigureAwait(false);
        return rate;
    }

    /// <summary>What held-out captioning gave (failed and empty captions stay in the captions file, judged as unjudged).</summary>
    private sealed class HeldOutCounts
    {
        public int Images;
        public int Empty;
        public int Failed;
        public List<string> Problems { get; } = [];

        public void Problem(string text)
        {
            if (Problems.Count < 20)
            {
                Problems.Add(text);
            }
        }
    }

    private async IAsyncEnumerable<CaptionToJudge> CaptionAsync(IChatModel captioner, IAsyncEnumerable<PreferenceImageSource> images, TextWriter captions, HeldOutCounts counts, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var maxTokens = _options.HeldOutMaxTokens ?? _options.Sampling.MaxTokens;
        var pending = new Queue<(PreferenceImageSource Image, Task<(string Caption, string? Error)> Reply)>();
        await foreach (var image in images.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (pending.Count >= _options.HeldOutInFlight)
            {
                yield return await Next().ConfigureAwait(false);
            }
            pending.Enqueue((image, Ask(image)));
        }
        while (pending.Count > 0)
        {
            yield return await Next().ConfigureAwait(false);
        }

        async Task<(string, string?)> Ask(PreferenceImageSource image)
        {
            try
            {
                var reply = await captioner.CompleteAsync(new ChatRequest([ChatMessage.User(_options.Prompt, image.ImagePath)], 0, maxTokens), cancellationToken).ConfigureAwait(false);
                return (reply.Text.Trim(), null);
            }
            catch (ChatModelException e)
            {
                return (string.Empty, e.Message);
            }
        }

        async Task<CaptionToJudge> Next()
        {
            var (image, reply) = pending.Dequeue();
            var (caption, error) = await reply.ConfigureAwait(false);
            var line = new JsonObject { ["image_id"] = image.ImageId, ["image"] = image.ImagePath, ["caption"] = caption };
            counts.Images++;
            if (error is not null)
            {
                line["captioner_error"] = error;
                counts.Failed++;
                counts.Problem($"image {image.ImageId}: the captioner failed: {error}");
            }
            else if (caption.Length == 0)
            {
                counts.Empty++;
                counts.Problem($"image {image.ImageId}: the captioner answered with an empty caption");
            }
            await captions.WriteLineAsync(line.ToJsonString(OneLine).AsMemory(), cancellationToken).ConfigureAwait(false);
            await captions.FlushAsync(cancellationToken).ConfigureAwait(false);
            // A failed caption is judged as an empty one: recorded as unjudged (empty caption), counted, excluded.
            return new CaptionToJudge(image.ImageId, image.ImagePath, caption);
        }
    }

    private Captioner Open(string checkpoint)
    {
        Log($"captioner: {checkpoint}");
        return new Captioner(checkpoint, _captioners.Open(checkpoint));
    }

    /// <summary>round-k/round.json when it exists with <paramref name="status"/>, started from <paramref name="policy"/> and its checkpoint is there.</summary>
    private JsonObject? ReadFinished(int round, string status, string policy)
    {
        var path = Path.Combine(RoundDirectory(round), "round.json");
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            if (JsonNode.Parse(File.ReadAllText(path)) is JsonObject json
                && json["status"]?.GetValue<string>() == status
                && json["policy"]?.GetValue<string>() == policy
                && JsonNode.DeepEquals(json["settings"], Settings())
                && json["checkpoint"]?.GetValue<string>() is { } produced
                && (Directory.Exists(produced) || File.Exists(produced)))
            {
                return json;
            }
        }
        catch (JsonException)
        {
            // A damaged record means the round is run again.
        }
        Log($"round {round}: {path} is not a finished round from {policy} with these settings; running it again");
        return null;
    }

    /// <summary>
    /// What decides a round's outcome besides its starting checkpoint: the prompt, sampling, pairing, held-out
    /// settings, the judge (models, prompt versions, unsure policy) and the trainer's settings. A round is reused only
    /// when they are the same, so a rerun with other settings redoes the rounds instead of mixing them.
    /// </summary>
    private JsonObject Settings() => new()
    {
        ["prompt"] = _options.Prompt,
        ["sampling"] = JsonSerializer.SerializeToNode(_options.Sampling, OneLine),
        ["pairs"] = JsonSerializer.SerializeToNode(_options.Pairs, OneLine),
        ["round_seed_stride"] = _options.RoundSeedStride,
        ["heldout_max_tokens"] = _options.HeldOutMaxTokens,
        ["judge"] = new JsonObject
        {
            ["extractor"] = _judge.ExtractorModel,
            ["verifier"] = _judge.VerifierModel,
            ["extraction_prompt"] = ClaimExtractionPrompt.Version,
            ["verification_prompt"] = ClaimVerificationPrompt.Version,
            ["unsure_counts_as_rejected"] = _judge.Options.UnsureCountsAsRejected,
        },
        ["trainer"] = _options.TrainerSettings?.DeepClone(),
    };

    /// <summary>Removes the round records after <paramref name="round"/>, which started from a checkpoint about to be redone.</summary>
    private void InvalidateAfter(int round)
    {
        for (var later = round + 1; File.Exists(Path.Combine(RoundDirectory(later), "round.json")); later++)
        {
            File.Delete(Path.Combine(RoundDirectory(later), "round.json"));
            Log($"round {later}: its record is removed (round {round} is redone)");
        }
    }

    private void WriteRound(int round, JsonObject json)
    {
        var path = Path.Combine(RoundDirectory(round), "round.json");
        Directory.CreateDirectory(RoundDirectory(round));
        File.WriteAllText(path + ".tmp", json.ToJsonString(Indented));
        File.Move(path + ".tmp", path, overwrite: true);
    }

    private JsonObject WriteSummary(IReadOnlyList<JsonObject> rounds, string start, string policy, string? stopped)
    {
        var ratePath = Path.Combine(_options.OutputDirectory, "rate.svg");
        var summary = new JsonObject
        {
            ["start_checkpoint"] = start,
            ["final_checkpoint"] = policy,
            ["rounds_requested"] = _options.Rounds,
            ["rounds_trained"] = rounds.Count(r => r["status"]?.GetValue<string>() == Trained),
            ["stopped"] = stopped,
            ["prompt"] = _options.Prompt,
            ["samples_per_image"] = _options.Sampling.SamplesPerImage,
            ["temperature"] = _options.Sampling.Temperature,
            ["rate_by_round"] = new JsonArray([.. rounds.Select(r => r["heldout"]?["rate"]?.DeepClone())]),
            ["pairs_by_round"] = new JsonArray([.. rounds.Where(r => r["round"]!.GetValue<int>() > 0).Select(r => (JsonNode?)JsonValue.Create(r["pairs"]?["pairs"]?.GetValue<int>() ?? 0))]),
            ["rate_chart"] = ratePath,
            ["rounds"] = new JsonArray([.. rounds.Select(r => r.DeepClone())]),
        };
        var path = Path.Combine(_options.OutputDirectory, "rounds.json");
        File.WriteAllText(path + ".tmp", summary.ToJsonString(Indented));
        File.Move(path + ".tmp", path, overwrite: true);
        File.WriteAllText(ratePath, RateChart(rounds));
        return summary;
    }

    private void Log(string line) => _log?.WriteLine("dpo-round: " + line);

    private sealed class Captioner(string checkpoint, IChatModel model) : IDisposable
    {
        public string Checkpoint { get; } = checkpoint;

        public IChatModel Model { get; } = model;

        public void Dispose() => (Model as IDisposable)?.Dispose();
    }
}
