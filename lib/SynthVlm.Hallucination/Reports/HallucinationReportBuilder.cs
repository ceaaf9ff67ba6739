using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Core.Concurrency;
using SynthVlm.Evaluation;
using SynthVlm.Evaluation.Benchmarks;
using SynthVlm.Hallucination.Chair;
using SynthVlm.Hallucination.Claims;

namespace SynthVlm.Hallucination.Reports;

/// <summary>One held-out image: its id (a file's name without extension, e.g. <c>42</c> or <c>COCO_val2014_000000000042</c>) and its file, or why it could not be read.</summary>
/// <param name="Id">The image's id.</param>
/// <param name="ImagePath">The image file, or null when <paramref name="Problem"/> says why there is none.</param>
/// <param name="Problem">Why the source could not give the image (counted as unreadable), or null.</param>
public sealed record ReportImage(string Id, string? ImagePath, string? Problem = null);

/// <summary>CHAIR in a report: the COCO 2014 annotation folder (<see cref="ChairGroundTruth.RequiredFiles"/>).</summary>
/// <param name="AnnotationsFolder">The folder.</param>
public sealed record ChairReportRequest(string AnnotationsFolder);

/// <summary>The judged rate in a report.</summary>
/// <param name="Judge">The judge (claim extractor and verifier).</param>
/// <param name="Endpoints">The endpoints' URLs as the report records them (e.g. judge and verifier), not used to connect.</param>
/// <param name="RecordsPath">Every caption's judgement as JSONL (claims, verdicts, raw answers), or null.</param>
public sealed record JudgeReportRequest(CaptionHallucinationJudge Judge, IReadOnlyList<string> Endpoints, string? RecordsPath);

/// <summary>POPE in a report, run by the evaluation library's <see cref="BenchmarkRunner"/> as EvalService runs it.</summary>
/// <param name="BenchmarkFolder">The POPE folder in LLaVA's layout (<see cref="PopeBenchmark.ExpectedLayout"/>).</param>
/// <param name="OutputFolder">Where the runner writes pope/answers.jsonl and pope/metrics.json (an existing one resumes).</param>
/// <param name="Concurrency">Questions in flight.</param>
public sealed record PopeReportRequest(string BenchmarkFolder, string OutputFolder, int Concurrency = 8);

/// <summary>What a report measures and where its files go. At least one of <see cref="Chair"/>, <see cref="Judge"/>, <see cref="Pope"/>.</summary>
public sealed record HallucinationReportOptions
{
    /// <summary>The captions file to write (JSONL: <c>image_id</c>, <c>image</c>, <c>caption</c>), which every metric scores.</summary>
    public required string CaptionsPath { get; init; }

    /// <summary>How to caption.</summary>
    public required CaptioningSettings Captioning { get; init; }

    /// <summary>Where the images came from, as the report names it.</summary>
    public string? ImagesSource { get; init; }

    /// <summary>CHAIR, or null.</summary>
    public ChairReportRequest? Chair { get; init; }

    /// <summary>The judged non-hallucination rate, or null.</summary>
    public JudgeReportRequest? Judge { get; init; }

    /// <summary>POPE, or null.</summary>
    public PopeReportRequest? Pope { get; init; }

    /// <summary>Problems listed in the report (the rest are counted) (20).</summary>
    public int MaxProblemsListed { get; init; } = 20;

    /// <summary>
    /// Throws <see cref="ArgumentException"/> when no metric is requested or a request is unusable, and
    /// <see cref="DirectoryNotFoundException"/>/<see cref="FileNotFoundException"/> naming a missing input folder or
    /// file — before any image is captioned.
    /// </summary>
    public void Validate()
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(CaptionsPath);
        ArgumentNullException.ThrowIfNull(Captioning);
        Captioning.Validate();
        if (Chair is null && Judge is null && Pope is null)
        {
            throw new ArgumentException("no metric requested: give CHAIR annotations, a judge or a POPE benchmark (at least one).");
        }
        if (Chair is { } chair)
        {
            if (!Directory.Exists(chair.AnnotationsFolder))
            {
                throw new DirectoryNotFoundException($"annotations {chair.AnnotationsFolder}: no such folder (CHAIR needs {string.Join(", ", ChairGroundTruth.RequiredFiles)}).");
            }
            var missing = ChairGroundTruth.RequiredFiles.Where(f => !File.Exists(Path.Combine(chair.AnnotationsFolder, f))).ToList();
            if (missing.Count > 0)
            {
                throw new FileNotFoundException($"annotations {chair.AnnotationsFolder}: CHAIR needs {string.Join(", ", ChairGroundTruth.RequiredFiles)}; missing: {string.Join(", ", missing)}.");
            }
        }
        if (Pope is { } pope)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(pope.Concurrency, 1, nameof(PopeReportRequest.Concurrency));
            var questions = Path.Combine(pope.BenchmarkFolder, PopeBenchmark.QuestionFile);
            if (!File.Exists(questions))
            {
                throw new FileNotFoundException($"pope {pope.BenchmarkFolder}: {PopeBenchmark.QuestionFile} is not there (expected {new PopeBenchmark().ExpectedLayout}).", questions);
            }
        }
        ArgumentOutOfRangeException.ThrowIfNegative(MaxProblemsListed, nameof(MaxProblemsListed));
    }
}

/// <summary>
/// Builds a <see cref="HallucinationReport"/> for one captioner: captions the held-out images with fixed settings
/// (<see cref="CaptioningSettings"/>, greedy by default) into a captions file, then scores that file with each metric
/// requested — CHAIR by <see cref="ChairEvaluator.ScoreFileAsync"/>, the judged rate by
/// <see cref="NonHallucinationRate.MeasureAsync"/>, POPE by <see cref="BenchmarkRunner"/> with
/// <see cref="PopeBenchmark"/> — so every number equals what <c>synthvlm hallucination</c> and <c>synthvlm eval</c>
/// give on the same captions and model.
/// </summary>
/// <remarks>
/// <para>
/// The captions file is JSONL, one line per captioned image in input order: <c>image_id</c> (the image id as a number
/// when it names a COCO image — <c>42</c>, <c>000000000042</c> or <c>COCO_val2014_000000000042</c> — else the id as a
/// string), <c>image</c> (the file's full path) and <c>caption</c> (the reply trimmed of surrounding whitespace). It is
/// what <c>synthvlm hallucination --captions</c> reads. Empty captions and captioner failures are not written: they are
/// counted in the report's <c>images</c> with the first few named (a caption that is not there cannot hallucinate, so
/// leaving it in would flatter CHAIR). CHAIR scores only numeric image ids; the others are counted as skipped.
/// </para>
/// <para>
/// POPE asks its own questions of the same captioner, always greedily (as LLaVA's evaluation scripts and the
/// runner do), whatever the captioning temperature.
/// </para>
/// <para>Memory: images and captions stream (at most <see cref="CaptioningSettings.InFlight"/> captions in flight);
/// CHAIR holds the image ids and their object sets, the judge its window, POPE the runner's reorder window.</para>
/// </remarks>
public sealed class HallucinationReportBuilder
{
    private static readonly JsonSerializerOptions OneLine = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private readonly HallucinationReportOptions _options;
    private readonly TextWriter? _log;

    /// <summary>Creates a builder; <paramref name="log"/> hears one line per stage.</summary>
    /// <exception cref="ArgumentException">No metric is requested, or an option is unusable (named).</exception>
    /// <exception cref="IOException">An input folder or file of a metric is missing (named).</exception>
    public HallucinationReportBuilder(HallucinationReportOptions options, TextWriter? log = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _log = log;
    }

    /// <summary>Captions <paramref name="images"/> with <paramref name="captioner"/> and computes the requested metrics.</summary>
    /// <param name="captioner">The captioner (an in-process model or an endpoint client); also answers POPE.</param>
    /// <param name="identity">Which checkpoint it is, as the report records it.</param>
    /// <param name="images">The held-out images, enumerated once.</param>
    /// <param name="cancellationToken">Stops the run.</param>
    public async Task<HallucinationReport> BuildAsync(IChatModel captioner, CaptionerIdentity identity, IAsyncEnumerable<ReportImage> images, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(captioner);
        ArgumentNullException.ThrowIfNull(identity);
        ArgumentNullException.ThrowIfNull(images);
        var captionsPath = Path.GetFullPath(_options.CaptionsPath);
        Directory.CreateDirectory(Path.GetDirectoryName(captionsPath)!);
        Log($"captioning with {captioner.ModelName}, prompt {_options.Captioning.PromptId} into {captionsPath}");
        var captioning = await CaptionAsync(captioner, images, captionsPath, cancellationToken).ConfigureAwait(false);
        Log(string.Create(CultureInfo.InvariantCulture, $"{captioning.Captioned} of {captioning.Images} images captioned ({captioning.Empty} empty, {captioning.Failed} failed, {captioning.Unreadable} unreadable)"));
        var errors = new List<string>();
        JsonObject? chair = null, rate = null, pope = null;
        if (_options.Chair is { } chairRequest)
        {
            try
            {
                chair = await ChairAsync(captionsPath, chairRequest, cancellationToken).ConfigureAwait(false);
                Log($"CHAIR_s {chair["chair_s"]?.ToJsonString() ?? "n/a"}, CHAIR_i {chair["chair_i"]?.ToJsonString() ?? "n/a"} over {chair["captions_scored"]} captions");
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                errors.Add($"chair: {e.Message}");
            }
        }
        if (_options.Judge is { } judgeRequest)
        {
            rate = await JudgeAsync(captionsPath, judgeRequest, cancellationToken).ConfigureAwait(false);
            Log(rate["summary"]!.GetValue<string>());
        }
        if (_options.Pope is { } popeRequest)
        {
            pope = await PopeAsync(captioner, popeRequest, errors, cancellationToken).ConfigureAwait(false);
        }
        return new HallucinationReport
        {
            Checkpoint = identity,
            CaptionerModel = captioner.ModelName,
            Settings = _options.Captioning,
            ImagesSource = _options.ImagesSource,
            Captioning = captioning,
            CaptionsFile = captionsPath,
            Chair = chair,
            NonHallucination = rate,
            Pope = pope,
            Errors = errors,
        };
    }

    /// <summary>
    /// The number a COCO image's id names: <c>42</c>, <c>000000000042</c> or <c>COCO_val2014_000000000042</c>
    /// (the digits after the last '_' of a <c>COCO_</c> name), else null.
    /// </summary>
    public static long? CocoImageId(string id)
    {
        ArgumentNullException.ThrowIfNull(id);
        var digits = id.StartsWith("COCO_", StringComparison.Ordinal) ? id[(id.LastIndexOf('_') + 1)..] : id;
        return digits.Length is > 0 and <= 18 && digits.All(char.IsAsciiDigit)
            ? long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture)
            : null;
    }

    private async Task<CaptioningOutcome> CaptionAsync(IChatModel captioner, IAsyncEnumerable<ReportImage> images, string captionsPath, CancellationToken cancellationToken)
    {
        var settings = _options.Captioning;
        int count = 0, captioned = 0, empty = 0, failed = 0, unreadable = 0;
        var problems = new List<string>();
        void Problem(string text)
        {
            if (problems.Count < _options.MaxProblemsListed)
            {
                problems.Add(text);
            }
        }
        await using var writer = new StreamWriter(captionsPath, append: false, new UTF8Encoding(false));
        var replies = OrderedWindow.SelectAsync(images, settings.InFlight, async (image, token) =>
        {
            if (image.ImagePath is null)
            {
                return (image, Caption: (string?)null, Error: image.Problem ?? "no image file");
            }
            try
            {
                var request = new ChatRequest([ChatMessage.User(settings.PromptText, image.ImagePath)], settings.Temperature, settings.MaxTokens, settings.Seed, settings.TopP);
                var reply = await captioner.CompleteAsync(request, token).ConfigureAwait(false);
                return (image, Caption: (reply.Text ?? string.Empty).Trim(), Error: (string?)null);
            }
            catch (ChatModelException e)
            {
                return (image, Caption: null, Error: e.Message);
            }
        }, cancellationToken);
        await foreach (var (image, caption, error) in replies.ConfigureAwait(false))
        {
            count++;
            if (image.ImagePath is null)
            {
                unreadable++;
                Problem($"image {image.Id}: unreadable: {error}");
                continue;
            }
            if (caption is null)
            {
                failed++;
                Problem($"image {image.Id}: the captioner failed: {error}");
                continue;
            }
            if (caption.Length == 0)
            {
                empty++;
                Problem($"image {image.Id}: the captioner answered with an empty caption");
                continue;
            }
            captioned++;
            var line = new JsonObject
            {
                ["image_id"] = CocoImageId(image.Id) is { } number ? JsonValue.Create(number) : JsonValue.Create(image.Id),
                ["image"] = Path.GetFullPath(image.ImagePath),
                ["caption"] = caption,
            };
            await writer.WriteLineAsync(line.ToJsonString(OneLine).AsMemory(), cancellationToken).ConfigureAwait(false);
            await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        return new CaptioningOutcome(count, captioned, empty, failed, unreadable, problems);
    }

    private async Task<JsonObject> ChairAsync(string captionsPath, ChairReportRequest request, CancellationToken cancellationToken)
    {
        var skipped = new List<string>();
        var skippedCount = 0;
        var summary = await ChairEvaluator.ScoreFileAsync(captionsPath, request.AnnotationsFolder, _ => ValueTask.CompletedTask, issue =>
        {
            skippedCount++;
            if (skipped.Count < _options.MaxProblemsListed)
            {
                skipped.Add($"{issue.Where}: {issue.Problem}");
            }
        }, cancellationToken).ConfigureAwait(false);
        return new JsonObject
        {
            ["chair_s"] = summary.ChairS,
            ["chair_i"] = summary.ChairI,
            ["captions_scored"] = summary.Captions,
            ["captions_hallucinating"] = summary.HallucinatedCaptions,
            ["object_mentions"] = summary.Mentions,
            ["hallucinated_mentions"] = summary.HallucinatedMentions,
            ["skipped"] = skippedCount,
            ["skipped_examples"] = new JsonArray([.. skipped.Select(s => (JsonNode?)JsonValue.Create(s))]),
            ["annotations"] = Path.GetFullPath(request.AnnotationsFolder),
            ["captions_file"] = captionsPath,
            ["reference"] = "CHAIR as computed by github.com/LisaAnne/Hallucination utils/chair.py (nltk 3.2.5, pattern 3.6)",
        };
    }

    private static async Task<JsonObject> JudgeAsync(string captionsPath, JudgeReportRequest request, CancellationToken cancellationToken)
    {
        TextWriter? records = request.RecordsPath is null ? null : new StreamWriter(request.RecordsPath, append: false, new UTF8Encoding(false));
        NonHallucinationRate rate;
        try
        {
            rate = await NonHallucinationRate.MeasureAsync(request.Judge, ToJudge(captionsPath, cancellationToken), records, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (records is not null)
            {
                await records.DisposeAsync().ConfigureAwait(false);
            }
        }
        var json = rate.ToJson();
        json["endpoints"] = new JsonArray([.. request.Endpoints.Select(e => (JsonNode?)JsonValue.Create(e))]);
        json["records"] = request.RecordsPath is null ? null : Path.GetFullPath(request.RecordsPath);
        json["captions_file"] = captionsPath;
        return json;
    }

    /// <summary>The captions file's lines for the judge (the file was written by this builder: every line names its image).</summary>
    private static async IAsyncEnumerable<CaptionToJudge> ToJudge(string captionsPath, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var entry in ChairCaptionReader.ReadForJudgeAsync(captionsPath, _ => { }, cancellationToken).ConfigureAwait(false))
        {
            yield return new CaptionToJudge(entry.ImageId, entry.Image!, entry.Caption);
        }
    }

    private async Task<JsonObject> PopeAsync(IChatModel captioner, PopeReportRequest request, List<string> errors, CancellationToken cancellationToken)
    {
        var benchmark = new PopeBenchmark();
        Log($"POPE from {request.BenchmarkFolder}");
        var result = await new BenchmarkRunner(captioner, new BenchmarkRunOptions(request.Concurrency))
            .RunAsync(benchmark, request.BenchmarkFolder, request.OutputFolder, cancellationToken: cancellationToken).ConfigureAwait(false);
        var json = new JsonObject
        {
            ["benchmark_folder"] = Path.GetFullPath(request.BenchmarkFolder),
            ["answers_file"] = result.AnswersPath,
            ["metrics_file"] = result.MetricsPath,
            ["decoding"] = "greedy (as LLaVA's evaluation scripts ask)",
            ["variant"] = "official (LLaVA eval_pope.py)",
            ["asked"] = result.Asked,
            ["reused"] = result.Reused,
            ["unanswered"] = result.Failures.Count,
        };
        if (result.Metrics is { } metrics)
        {
            json["metrics"] = metrics.Metrics.DeepClone();
            json["scored"] = metrics.Scored;
            json["questions"] = metrics.Questions;
            json["notes"] = new JsonArray([.. metrics.Notes.Select(n => (JsonNode?)JsonValue.Create(n))]);
            Log($"POPE: {metrics.Scored} answers scored");
        }
        else
        {
            errors.Add($"pope: {result.Error}");
        }
        return json;
    }

    private void Log(string line) => _log?.WriteLine("hallucination report: " + line);
}
