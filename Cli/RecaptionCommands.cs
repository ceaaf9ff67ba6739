using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using SynthVlm.Captions;
using SynthVlm.ChatEndpoints;
using SynthVlm.Recaptioning;
using SynthVlm.Recaptioning.Prompts;
using SynthVlm.Recaptioning.Sources;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;

namespace SynthVlm.Cli;

/// <summary>
/// `synthvlm recaption`: images (a folder, an imagefolder, WebDataset shards or a caption pool) captioned by an
/// OpenAI-compatible endpoint or an in-process LLaVA checkpoint into a caption pool that `synthvlm curate` reads.
/// </summary>
internal static class RecaptionCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>The command.</summary>
    public static Command Recaption()
    {
        var images = new Option<string>("--images") { Description = "A folder of images, an imagefolder (metadata.jsonl), WebDataset shards (a .tar, a glob or {000..009}) or a caption pool naming image files.", Required = true };
        var kind = new Option<string>("--source") { Description = "auto, folder, imagefolder, webdataset or pool (default: auto-detected).", DefaultValueFactory = _ => "auto" };
        var output = new Option<string>("--out") { Description = "pool.jsonl (one file, or pool-00000.jsonl... with --shard-size) or a folder (shards of 10,000); the same --out again resumes.", Required = true };
        var endpoint = new Option<string?>("--endpoint") { Description = "An OpenAI-compatible chat endpoint that accepts images (base URL, e.g. http://gpu-node:8000/v1; key from OPENAI_API_KEY)." };
        var endpointModel = new Option<string?>("--endpoint-model") { Description = "The model the endpoint serves (required with --endpoint)." };
        var model = new Option<string?>("--model") { Description = "Or a LLaVA checkpoint folder (TrainingService's model/ output) run in-process." };
        var prompt = new Option<string>("--prompt") { Description = "Prompt preset: brief, detailed or knowledge-rich.", DefaultValueFactory = _ => "detailed" };
        var promptText = new Option<string?>("--prompt-text") { Description = "A prompt of your own wording instead of a preset (recorded as custom@1 with its text)." };
        var maxWords = new Option<int?>("--max-words") { Description = "A word limit stated in the prompt." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "The most tokens per caption (256).", DefaultValueFactory = _ => 256 };
        var trim = new Option<bool>("--trim") { Description = "Trim captions back to their last complete sentence (within --max-words)." };
        var temperature = new Option<double>("--temperature") { Description = "Sampling temperature (0: greedy).", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling: draw only from the most likely tokens whose probabilities add up to this, in (0, 1] (1: off).", DefaultValueFactory = _ => 1 };
        var seed = new Option<int?>("--seed") { Description = "Sampling seed sent with every request." };
        var concurrency = new Option<int?>("--concurrency") { Description = "Captions in flight (default: 8 for an endpoint, twice --batch in-process)." };
        var shardSize = new Option<int?>("--shard-size") { Description = "Captions per shard (default: one file for --out *.jsonl, 10,000 for a folder)." };
        var extract = new Option<string?>("--extract-images") { Description = "WebDataset input: keep the images as files in this folder so the pool's image field names them (curation's image-text filters need them)." };
        var retries = new Option<int>("--retries") { Description = "Endpoint: retries after a failed attempt (5).", DefaultValueFactory = _ => 5 };
        var timeout = new Option<double>("--timeout") { Description = "Endpoint: seconds per attempt (120).", DefaultValueFactory = _ => 120 };
        var batch = new Option<int>("--batch") { Description = "In-process model: captions generated together (8).", DefaultValueFactory = _ => 8 };
        var dtype = VlmCommands.DTypeOption();
        var device = VlmCommands.DeviceOption();
        var command = new Command("recaption", "Caption images with a VLM into a caption pool (JSONL: id, image, caption, original_caption, captioner, prompt, sampling); resumes, records rejects, prints one JSON summary.")
        {
            images, kind, output, endpoint, endpointModel, model, prompt, promptText, maxWords, maxTokens, trim, temperature, topP, seed, concurrency, shardSize, extract, retries, timeout, batch, dtype, device,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var url = parse.GetValue(endpoint);
            var checkpoint = parse.GetValue(model);
            if ((url is null) == (checkpoint is null))
            {
                Console.Error.WriteLine("recaption: give --endpoint URL --endpoint-model NAME or --model CKPT, not both.");
                return UsageError;
            }
            try
            {
                var sourceKind = ParseKind(parse.GetRequiredValue(kind));
                var (folder, prefix, defaultShard) = OutputOf(parse.GetRequiredValue(output));
                var options = new RecaptionJobOptions
                {
                    OutputDirectory = folder,
                    FilePrefix = prefix,
                    ShardSize = parse.GetValue(shardSize) ?? defaultShard,
                    Concurrency = parse.GetValue(concurrency) ?? (url is null ? 2 * parse.GetValue(batch) : 8),
                    Prompt = parse.GetValue(promptText) is { } text ? CaptionPrompt.Custom(text) : CaptionPrompt.Preset(parse.GetRequiredValue(prompt)),
                    Length = new LengthControl(parse.GetValue(maxTokens), parse.GetValue(maxWords), parse.GetValue(trim)),
                    Temperature = parse.GetValue(temperature),
                    TopP = parse.GetValue(topP),
                    Seed = parse.GetValue(seed),
                    ExtractImagesDirectory = parse.GetValue(extract),
                };
                options.Validate();
                var source = ImageSources.Open(parse.GetRequiredValue(images), sourceKind, options.MaxImageBytes);
                if (url is not null)
                {
                    var name = parse.GetValue(endpointModel) ?? throw new ArgumentException("--endpoint-model NAME is required with --endpoint.");
                    if (!Uri.TryCreate(url, UriKind.Absolute, out var uri))
                    {
                        throw new ArgumentException($"--endpoint must be an absolute URL; found '{url}'.");
                    }
                    Directory.CreateDirectory(folder);
                    using var client = new OpenAiChatClient(new OpenAiChatOptions
                    {
                        Endpoint = uri,
                        Model = name,
                        MaxConcurrency = options.Concurrency,
                        MaxRetries = parse.GetValue(retries),
                        Timeout = TimeSpan.FromSeconds(parse.GetValue(timeout)),
                        CacheFile = Path.Combine(folder, prefix + ".cache.jsonl"),
                    });
                    return await RunAsync(client, options, source, cancellationToken).ConfigureAwait(false);
                }
                if (VlmCommands.ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), null, out var load) is { } loadProblem)
                {
                    throw new ArgumentException(loadProblem);
                }
                using var pipeline = LlavaPipeline.Open(checkpoint!, load);
                using var chat = new LlavaChatModel(pipeline, maxBatchSize: parse.GetValue(batch));
                return await RunAsync(chat, options, source, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is ArgumentException or IOException or CaptionPoolFormatException or RecaptionException or VlmModelException or ChatModelException)
            {
                Console.Error.WriteLine($"recaption: {e.Message}");
                return e is ArgumentException ? UsageError : InputError;
            }
        });
        return command;
    }

    /// <summary>Runs the job with a progress line on stderr, then prints the summary as one JSON line.</summary>
    private static async Task<int> RunAsync(IChatModel captioner, RecaptionJobOptions options, IImageSource source, CancellationToken cancellationToken)
    {
        // Reported under the job's write lock, in order: printed at once (Progress<T> would post and reorder lines).
        var progress = new LineProgress(p => Console.Error.Write(string.Create(CultureInfo.InvariantCulture,
            $"\rrecaption: {p.Captioned} captioned, {p.Rejected} rejected, {p.Resumed} already done   ")));
        var summary = await new RecaptionJob(captioner, options).RunAsync(source, progress, cancellationToken).ConfigureAwait(false);
        Console.Error.WriteLine();
        Console.WriteLine(summary.ToJson().ToJsonString(new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
        return 0;
    }

    /// <summary>--out as (folder, prefix, default shard size): <c>x/pool.jsonl</c> → (x, pool, 0); a folder → (folder, pool, 10,000).</summary>
    internal static (string Folder, string Prefix, int ShardSize) OutputOf(string output)
    {
        var full = Path.GetFullPath(output);
        return full.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? (Path.GetDirectoryName(full)!, Path.GetFileNameWithoutExtension(full), 0)
            : (full, "pool", RecaptionJobOptions.DefaultShardSize);
    }

    private static ImageSourceKind ParseKind(string text) => text.Trim().ToLowerInvariant() switch
    {
        "auto" => ImageSourceKind.Auto,
        "folder" => ImageSourceKind.Folder,
        "imagefolder" => ImageSourceKind.ImageFolder,
        "webdataset" or "wds" or "tar" => ImageSourceKind.WebDataset,
        "pool" or "caption-pool" => ImageSourceKind.CaptionPool,
        _ => throw new ArgumentException($"--source must be auto, folder, imagefolder, webdataset or pool; found '{text}'."),
    };

    private sealed class LineProgress(Action<RecaptionProgress> print) : IProgress<RecaptionProgress>
    {
        public void Report(RecaptionProgress value) => print(value);
    }
}
