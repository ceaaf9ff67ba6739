using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.Json;
using SynthVlm.ChatEndpoints;
using SynthVlm.Evaluation;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Hallucination.Reports;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm hallucination report`: one captioner checkpoint (in-process or an endpoint) captions a held-out image set
/// with fixed settings, and the captions are scored with every metric given inputs for (CHAIR, the judged rate, POPE);
/// the report goes to --out as JSON with a Markdown table beside it, and the JSON is printed. The logic is
/// <see cref="HallucinationReportBuilder"/>'s.
/// </summary>
internal static class HallucinationReportCommand
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>The command.</summary>
    public static Command Report()
    {
        var images = new Option<string>("--images") { Description = "The held-out images: a folder, an imagefolder, WebDataset shards with image files extracted, or a caption pool naming image files. An image's id is its file name without extension (COCO ids: 42.jpg or COCO_val2014_000000000042.jpg).", Required = true };
        var output = new Option<string>("--out") { Description = "The report (JSON); the Markdown table goes next to it (same name, .md).", Required = true };
        var captionsOut = new Option<string?>("--captions-out") { Description = "The captions file the metrics score (default: {out}.captions.jsonl beside the report)." };
        var model = new Option<string?>("--model") { Description = "A LLaVA checkpoint folder run in-process (its content is hashed into the report)." };
        var endpoint = new Option<string?>("--endpoint") { Description = "Or an OpenAI-compatible chat endpoint with images (base URL; key from OPENAI_API_KEY)." };
        var servedModel = new Option<string?>("--served-model", "--endpoint-model") { Description = "The model the endpoint serves (required with --endpoint)." };
        var prompt = new Option<string>("--prompt") { Description = "Prompt preset: brief, detailed or knowledge-rich.", DefaultValueFactory = _ => "detailed" };
        var promptText = new Option<string?>("--prompt-text") { Description = "A prompt of your own wording instead of a preset (recorded as custom@1 with its text)." };
        var maxWords = new Option<int?>("--max-words") { Description = "A word limit stated in the prompt." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "The most tokens per caption (256).", DefaultValueFactory = _ => 256 };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0: greedy, the default).", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling in (0, 1] (1: off).", DefaultValueFactory = _ => 1 };
        var seed = new Option<int?>("--seed") { Description = "Sampling seed sent with every request." };
        var batch = new Option<int>("--batch") { Description = "In-process model: captions generated together (8).", DefaultValueFactory = _ => 8 };
        var concurrency = new Option<int?>("--concurrency") { Description = "Captions and POPE questions in flight (default: 8 for an endpoint, twice --batch in-process)." };
        var noHash = new Option<bool>("--no-checkpoint-hash") { Description = "Record the checkpoint's path only (hashing reads every byte of it once)." };
        var annotations = new Option<string?>("--annotations") { Description = "COCO annotation folder (instances_/captions_{val,train}2014.json): CHAIR_s and CHAIR_i." };
        var judge = new Option<string?>("--judge") { Description = "An OpenAI-compatible endpoint: the judged non-hallucination rate (claims extracted and checked)." };
        var judgeModel = new Option<string?>("--judge-model") { Description = "The judge's model (required with --judge)." };
        var verifier = new Option<string?>("--verifier") { Description = "The VLM endpoint that checks each claim (default: --judge)." };
        var verifierModel = new Option<string?>("--verifier-model") { Description = "The verifier's model (default: --judge-model)." };
        var judgeConcurrency = new Option<int>("--judge-concurrency") { Description = "Captions judged at once (8).", DefaultValueFactory = _ => 8 };
        var unsureRejects = new Option<bool>("--unsure-rejects") { Description = "A claim the verifier is unsure of counts as rejected." };
        var pope = new Option<string?>("--pope") { Description = "POPE in LLaVA's layout: its folder (llava_pope_test.jsonl, coco/coco_pope_<split>.json, val2014/) or its llava_pope_test.jsonl; answered by the captioner through the evaluation runner." };
        var dtype = VlmCommands.DTypeOption();
        var device = VlmCommands.DeviceOption();
        var command = new Command("report", "A hallucination report for one captioner checkpoint: caption held-out images with fixed settings, then CHAIR (--annotations), the judged rate (--judge) and POPE (--pope); writes --out (JSON) and a Markdown table beside it, prints the JSON.")
        {
            images, output, captionsOut, model, endpoint, servedModel, prompt, promptText, maxWords, maxTokens, temperature, topP, seed, batch, concurrency, noHash,
            annotations, judge, judgeModel, verifier, verifierModel, judgeConcurrency, unsureRejects, pope, dtype, device,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var checkpoint = parse.GetValue(model);
            var url = parse.GetValue(endpoint);
            if ((checkpoint is null) == (url is null))
            {
                Console.Error.WriteLine("hallucination report: give --model CKPT (in-process) or --endpoint URL --served-model NAME, not both.");
                return UsageError;
            }
            if (parse.GetValue(annotations) is null && parse.GetValue(judge) is null && parse.GetValue(pope) is null)
            {
                Console.Error.WriteLine("hallucination report: no metric requested; give at least one of --annotations DIR (CHAIR), --judge URL --judge-model M (judged rate), --pope PATH (POPE).");
                return UsageError;
            }
            var outPath = Path.GetFullPath(parse.GetRequiredValue(output));
            var captionsPath = Path.GetFullPath(parse.GetValue(captionsOut) ?? Path.ChangeExtension(outPath, null) + ".captions.jsonl");
            var batchSize = parse.GetValue(batch);
            var inFlight = parse.GetValue(concurrency) ?? (url is null ? 2 * batchSize : 8);
            var disposables = new List<IDisposable>();
            try
            {
                if (batchSize < 1 || inFlight < 1 || parse.GetValue(judgeConcurrency) < 1)
                {
                    throw new ArgumentException("--batch, --concurrency and --judge-concurrency must be at least 1.");
                }
                var captionPrompt = parse.GetValue(promptText) is { } text ? CaptionPrompt.Custom(text) : CaptionPrompt.Preset(parse.GetRequiredValue(prompt));
                var settings = new CaptioningSettings(
                    $"{captionPrompt.Name}@{captionPrompt.Version}", captionPrompt.Render(parse.GetValue(maxWords)),
                    parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed), parse.GetValue(maxTokens), inFlight);
                var options = new HallucinationReportOptions
                {
                    CaptionsPath = captionsPath,
                    Captioning = settings,
                    ImagesSource = Path.GetFullPath(parse.GetRequiredValue(images)),
                    Chair = parse.GetValue(annotations) is { } folder ? new ChairReportRequest(Path.GetFullPath(folder)) : null,
                    Judge = OpenJudge(parse.GetValue(judge), parse.GetValue(judgeModel), parse.GetValue(verifier), parse.GetValue(verifierModel),
                        parse.GetValue(judgeConcurrency), parse.GetValue(unsureRejects), Path.ChangeExtension(outPath, null), disposables),
                    Pope = parse.GetValue(pope) is { } popePath ? new PopeReportRequest(PopeFolder(popePath), Path.ChangeExtension(outPath, null) + ".eval", inFlight) : null,
                };
                var builder = new HallucinationReportBuilder(options, Console.Error);
                var source = ImageSources.Open(parse.GetRequiredValue(images));
                HallucinationReport report;
                if (url is not null)
                {
                    var name = parse.GetValue(servedModel) ?? throw new ArgumentException("--served-model NAME is required with --endpoint.");
                    var uri = Url(url, "--endpoint");
                    using var client = new OpenAiChatClient(new OpenAiChatOptions { Endpoint = uri, Model = name, MaxConcurrency = inFlight });
                    report = await builder.BuildAsync(client, CaptionerIdentity.ForEndpoint(uri, name), ImagesOf(source, cancellationToken), cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    if (VlmCommands.ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), null, out var load) is { } loadProblem)
                    {
                        throw new ArgumentException(loadProblem);
                    }
                    var identity = parse.GetValue(noHash)
                        ? CaptionerIdentity.ForCheckpointPath(checkpoint!)
                        : await CaptionerIdentity.ForCheckpointAsync(checkpoint!, cancellationToken).ConfigureAwait(false);
                    using var pipeline = LlavaPipeline.Open(checkpoint!, load);
                    using var chat = new LlavaChatModel(pipeline, maxBatchSize: batchSize);
                    report = await builder.BuildAsync(chat, identity, ImagesOf(source, cancellationToken), cancellationToken).ConfigureAwait(false);
                }
                var markdown = await report.WriteAsync(outPath, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(report.ToJson().ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
                Console.Error.WriteLine($"hallucination report: {outPath}, {markdown}");
                foreach (var error in report.Errors)
                {
                    Console.Error.WriteLine($"hallucination report: {error}");
                }
                return report.Errors.Count > 0 ? InputError : 0;
            }
            catch (Exception e) when (e is ArgumentException or IOException or VlmModelException or ChatModelException or BenchmarkFormatException or InvalidDataException or Recaptioning.RecaptionException)
            {
                Console.Error.WriteLine($"hallucination report: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
            finally
            {
                foreach (var disposable in disposables)
                {
                    disposable.Dispose();
                }
            }
        });
        return command;
    }

    /// <summary>The judge request, its clients cached beside the report ({out}.judge-cache/), or null without --judge.</summary>
    private static JudgeReportRequest? OpenJudge(string? judgeUrl, string? judgeModel, string? verifierUrl, string? verifierModel, int concurrency, bool unsureRejects, string outStem, List<IDisposable> disposables)
    {
        if (judgeUrl is null)
        {
            return verifierUrl is null && judgeModel is null ? null : throw new ArgumentException("--judge-model and --verifier need --judge URL.");
        }
        var model = judgeModel ?? throw new ArgumentException("--judge needs --judge-model NAME.");
        var judgeUri = Url(judgeUrl, "--judge");
        var verifierUri = Url(verifierUrl ?? judgeUrl, "--verifier");
        var cache = outStem + ".judge-cache";
        var extractor = EvaluationEndpoints.Open(judgeUri, model, concurrency, cache);
        disposables.Add(extractor);
        IChatModel checker = extractor;
        if (verifierUri != judgeUri || (verifierModel ?? model) != model)
        {
            var separate = EvaluationEndpoints.Open(verifierUri, verifierModel ?? model, concurrency * 4, cache);
            disposables.Add(separate);
            checker = separate;
        }
        var judge = new CaptionHallucinationJudge(extractor, checker, new ClaimJudgeOptions { MaxCaptionsInFlight = concurrency, UnsureCountsAsRejected = unsureRejects });
        return new JudgeReportRequest(judge, [judgeUri.ToString(), verifierUri.ToString()], outStem + ".judgements.jsonl");
    }

    /// <summary>--pope as the benchmark folder: the folder itself, or the folder of its question file.</summary>
    private static string PopeFolder(string path)
    {
        var full = Path.GetFullPath(path);
        return File.Exists(full) ? Path.GetDirectoryName(full)! : full;
    }

    /// <summary>The source's items as report images: an unreadable item, or one whose image is not a file, with its problem.</summary>
    private static async IAsyncEnumerable<ReportImage> ImagesOf(IImageSource source, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var item in source.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            yield return item.Problem is not null
                ? new ReportImage(item.Id, null, item.Problem)
                : item.ImagePath is null
                    ? new ReportImage(item.Id, null, $"{item.Source}: the image is not a file (extract WebDataset images first: synthvlm recaption --extract-images)")
                    : new ReportImage(item.Id, Path.GetFullPath(item.ImagePath));
        }
    }

    private static Uri Url(string text, string option) =>
        Uri.TryCreate(text, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" ? uri : throw new ArgumentException($"{option}: '{text}' is not an http(s) URL.");
}
