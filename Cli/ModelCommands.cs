using System.CommandLine;
using System.Text;
using System.Text.Json;
using Microsoft.ML.OnnxRuntime;
using SynthVlm.Clip;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Onnx;
using SynthVlm.Tokenizers;

namespace SynthVlm.Cli;

/// <summary>`models init-tiny`, `models tiny-sd3`, `tokenize` and `clip-score`: the model libraries from the terminal.</summary>
internal static class ModelCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>`synthvlm models init-tiny [--dir D]`: writes the tiny model set.</summary>
    public static Command Models()
    {
        var dir = new Option<string>("--dir") { Description = "Where to write the tiny models (default: .synthvlm/models/tiny in the repository, as the services use).", DefaultValueFactory = _ => DefaultTinyDirectory() };
        var force = new Option<bool>("--force") { Description = "Rewrite folders that already exist." };
        var initTiny = new Command("init-tiny", "Write the tiny model set (random weights, real folder layouts and input/output contracts): CLIP as optimum exports openai/clip-vit-base-patch32, SDXL base and refiner as optimum exports stabilityai/stable-diffusion-xl-*-1.0, with their tokenizer files; LLaVA-1.5 in the llava-hf layout (llava) and in LLaVA's own (llava-original, with its CLIP folder).") { dir, force };
        initTiny.SetAction(parse => RunModel(() =>
        {
            var root = Path.GetFullPath(parse.GetRequiredValue(dir));
            var clip = Path.Combine(root, "clip");
            if (parse.GetValue(force) && Directory.Exists(clip))
            {
                Directory.Delete(clip, recursive: true);
            }
            var sdxlBase = Path.Combine(root, "sdxl-base");
            var sdxlRefiner = Path.Combine(root, "sdxl-refiner");
            var llava = Path.Combine(root, "llava");
            var llavaOriginal = Path.Combine(root, "llava-original");
            if (parse.GetValue(force))
            {
                foreach (var existing in new[] { sdxlBase, sdxlRefiner, llava, llavaOriginal }.Where(Directory.Exists))
                {
                    Directory.Delete(existing, recursive: true);
                }
            }
            Report("clip", DefaultModels.EnsureTinyClip(clip));
            Report("sdxl-base", Diffusion.DefaultSdxlModels.EnsureTinyBase(sdxlBase));
            Report("sdxl-refiner", Diffusion.DefaultSdxlModels.EnsureTinyRefiner(sdxlRefiner));
            Report("llava", Vlm.Tiny.TinyLlava.EnsureTiny(llava, Vlm.Model.LlavaLayout.HuggingFace));
            Report("llava-original", Vlm.Tiny.TinyLlava.EnsureTiny(llavaOriginal, Vlm.Model.LlavaLayout.Original));
            return 0;
        }));
        return new Command("models", "Model folders: create the tiny set.") { initTiny, TinySd3Command() };
    }

    /// <summary>
    /// `synthvlm models tiny-sd3 [--dir D] [--force]`: writes the tiny Stable Diffusion 3 (TinySd3, optimum's
    /// SD3 export layout) to a folder of its own, for `generate --model D` and the AppHost's `run --model D`.
    /// It is not part of init-tiny: the services' default base model is the tiny SDXL.
    /// </summary>
    private static Command TinySd3Command()
    {
        var dir = new Option<string>("--dir") { Description = "Where to write the tiny SD3 (default: .synthvlm/models/tiny/sd3 in the repository).", DefaultValueFactory = _ => Path.Combine(DefaultTinyDirectory(), "sd3") };
        var force = new Option<bool>("--force") { Description = "Rewrite the folder if it already exists." };
        var command = new Command("tiny-sd3", "Write the tiny Stable Diffusion 3 (random weights; optimum's SD3 export layout: three text encoders with their tokenizers, the transformer, the 16-channel VAE decoder, the flow-matching scheduler config), for --model.") { dir, force };
        command.SetAction(parse => RunModel(() =>
        {
            var folder = Path.GetFullPath(parse.GetRequiredValue(dir));
            if (parse.GetValue(force) && Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
            Report("sd3", Diffusion.Tiny.TinySd3.EnsureTiny(folder));
            return 0;
        }));
        return command;
    }

    /// <summary>Prints one {"model", "dir", "files"} line for a written model folder.</summary>
    private static void Report(string name, string written) => Console.WriteLine(JsonLine.Of(w =>
    {
        w.WriteString("model", name);
        w.WriteString("dir", written);
        w.WriteStartArray("files");
        foreach (var file in Directory.GetFiles(written, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(written, f)).Order(StringComparer.Ordinal))
        {
            w.WriteStringValue(file);
        }
        w.WriteEndArray();
    }));

    /// <summary>`synthvlm tokenize --model DIR TEXT...`: one {"ids": [...]} line per text.</summary>
    public static Command Tokenize()
    {
        var model = new Option<string>("--model") { Description = "A model or tokenizer folder (vocab.json, merges.txt, tokenizer_config.json).", Required = true };
        var texts = new Argument<string[]>("text") { Description = "Texts to tokenize.", Arity = ArgumentArity.ZeroOrMore };
        var file = new Option<string?>("--file") { Description = "Also tokenize every line of this file (\"-\" for standard input)." };
        var maxLength = new Option<int>("--max-length") { Description = "Context length including start and end tokens (default: the folder's model_max_length)." };
        var command = new Command("tokenize", "Token ids as the model's tokenizer makes them (start and end tokens included, truncated to the context).") { model, texts, file, maxLength };
        command.SetAction(parse => RunModel(() =>
        {
            var tokenizer = ClipTokenizer.FromFolder(parse.GetRequiredValue(model));
            var length = parse.GetValue(maxLength) is > 0 and var l ? l : tokenizer.ModelMaxLength;
            if (length < 2)
            {
                Console.Error.WriteLine($"tokenize: --max-length must be at least 2; got {length}.");
                return UsageError;
            }
            var inputs = (parse.GetValue(texts) ?? []).Concat(ReadLines(parse.GetValue(file)));
            var stdout = Console.Out;
            foreach (var text in inputs)
            {
                var encoded = tokenizer.Encode(text, length);
                stdout.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteStartArray("ids");
                    foreach (var id in encoded.Ids)
                    {
                        w.WriteNumberValue(id);
                    }
                    w.WriteEndArray();
                    if (encoded.Truncated)
                    {
                        w.WriteBoolean("truncated", true);
                    }
                }));
            }
            return 0;
        }));
        return command;
    }

    /// <summary>`synthvlm clip-score --model DIR --image IMG --caption TEXT`: {"clip": value} per pair.</summary>
    public static Command ClipScoreCommand()
    {
        var model = new Option<string>("--model") { Description = "CLIP model folder (optimum export layout).", Required = true };
        var images = new Option<string[]>("--image") { Description = "Image file; repeat with --caption for many pairs.", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        var captions = new Option<string[]>("--caption") { Description = "Caption of the image at the same position.", Arity = ArgumentArity.OneOrMore, AllowMultipleArgumentsPerToken = true };
        var pairs = new Option<string?>("--pairs") { Description = "JSON lines file of {\"image\": path, \"caption\": text} pairs (\"-\" for standard input)." };
        var prefix = new Option<string>("--prefix") { Description = "Text put before each caption (SynthVLM's code uses \"A photo depicts \").", DefaultValueFactory = _ => "" };
        var hessel = new Option<bool>("--hessel") { Description = "Report 2.5 * max(cos, 0) (Hessel et al.) instead of max(cos, 0)." };
        var batch = new Option<int>("--batch-size") { Description = "Pairs per model call.", DefaultValueFactory = _ => 16 };
        var maxPixels = new Option<long>("--max-pixels") { Description = "Refuse images with more pixels than this.", DefaultValueFactory = _ => ImageLimits.DefaultMaxPixels };
        var command = new Command("clip-score", "CLIPScore of image-caption pairs: max(cosine of CLIP embeddings, 0).") { model, images, captions, pairs, prefix, hessel, batch, maxPixels };
        command.SetAction(parse => RunModel(() =>
        {
            var list = new List<(string Image, string Caption)>();
            var imageArgs = parse.GetValue(images) ?? [];
            var captionArgs = parse.GetValue(captions) ?? [];
            if (imageArgs.Length != captionArgs.Length)
            {
                Console.Error.WriteLine($"clip-score: {imageArgs.Length} --image and {captionArgs.Length} --caption values; give one caption per image.");
                return UsageError;
            }
            list.AddRange(imageArgs.Zip(captionArgs));
            if (parse.GetValue(pairs) is { } pairsFile && ReadPairs(pairsFile, list) is { } problem)
            {
                Console.Error.WriteLine($"clip-score: {problem}");
                return InputError;
            }
            if (list.Count == 0)
            {
                Console.Error.WriteLine("clip-score: nothing to score; give --image and --caption, or --pairs FILE.");
                return UsageError;
            }
            var batchSize = parse.GetValue(batch);
            if (batchSize is < 1 or > 1024)
            {
                Console.Error.WriteLine($"clip-score: --batch-size must be between 1 and 1024; got {batchSize}.");
                return UsageError;
            }
            using var clip = ClipModel.Load(parse.GetRequiredValue(model));
            var weight = parse.GetValue(hessel) ? ClipScore.HesselWeight : 1.0;
            var textPrefix = parse.GetValue(prefix) ?? "";
            var decode = new DecodeOptions { MaxPixels = parse.GetValue(maxPixels) };
            var failures = 0;
            var per = clip.ImageProcessor.TensorLength;
            for (var start = 0; start < list.Count; start += batchSize)
            {
                var chunk = list.GetRange(start, Math.Min(batchSize, list.Count - start));
                var pixels = new float[chunk.Count * per];
                var errors = new string?[chunk.Count];
                Parallel.For(0, chunk.Count, i =>
                {
                    try
                    {
                        if (string.IsNullOrWhiteSpace(chunk[i].Caption))
                        {
                            throw new ArgumentException("the caption is empty");
                        }
                        using var image = ImageCodec.DecodeFile(chunk[i].Image, decode);
                        clip.ImageProcessor.Preprocess(image, pixels.AsSpan(i * per, per));
                    }
                    catch (Exception e) when (e is ImagingException or IOException or UnauthorizedAccessException or ArgumentException)
                    {
                        errors[i] = e.Message;
                    }
                });
                var ok = Enumerable.Range(0, chunk.Count).Where(i => errors[i] is null).ToArray();
                ClipEmbeddings? embeddings = null;
                if (ok.Length > 0)
                {
                    var packed = new float[ok.Length * per];
                    for (var k = 0; k < ok.Length; k++)
                    {
                        pixels.AsSpan(ok[k] * per, per).CopyTo(packed.AsSpan(k * per, per));
                    }
                    embeddings = clip.Encode([.. ok.Select(i => textPrefix + chunk[i].Caption)], packed, ok.Length);
                }
                for (int i = 0, k = 0; i < chunk.Count; i++)
                {
                    var (path, _) = chunk[i];
                    if (errors[i] is { } error)
                    {
                        failures++;
                        Console.Error.WriteLine($"{path}: {error}");
                        Console.WriteLine(JsonLine.Of(w => { w.WriteString("image", path); w.WriteString("error", error); }));
                        continue;
                    }
                    var cosine = embeddings!.Cosine(k, k);
                    var truncated = embeddings.Truncated(k);
                    k++;
                    Console.WriteLine(JsonLine.Of(w =>
                    {
                        w.WriteString("image", path);
                        w.WriteNumber("clip", ClipScore.FromCosine(cosine, weight));
                        w.WriteNumber("cosine", cosine);
                        if (truncated)
                        {
                            w.WriteBoolean("truncated", true);
                        }
                    }));
                }
            }
            return failures == 0 ? 0 : InputError;
        }));
        return command;
    }

    private static string DefaultTinyDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "SynthVlm.sln")))
            {
                return Path.Combine(dir.FullName, ".synthvlm", "models", "tiny");
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "tiny-models");
    }

    private static IEnumerable<string> ReadLines(string? file)
    {
        if (file is null)
        {
            yield break;
        }
        using var reader = file == "-" ? new StreamReader(Console.OpenStandardInput()) : new StreamReader(file);
        while (reader.ReadLine() is { } line)
        {
            yield return line;
        }
    }

    private static string? ReadPairs(string file, List<(string, string)> into)
    {
        var n = 0;
        foreach (var line in ReadLines(file))
        {
            n++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }
            try
            {
                using var doc = JsonDocument.Parse(line);
                if (!doc.RootElement.TryGetProperty("image", out var image) || image.ValueKind != JsonValueKind.String
                    || !doc.RootElement.TryGetProperty("caption", out var caption) || caption.ValueKind != JsonValueKind.String)
                {
                    return $"{file}:{n}: expected {{\"image\": \"...\", \"caption\": \"...\"}}";
                }
                into.Add((image.GetString()!, caption.GetString()!));
            }
            catch (JsonException e)
            {
                return $"{file}:{n}: not valid JSON ({e.Message})";
            }
        }
        return null;
    }

    private static int RunModel(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ClipModelException or OnnxRuntimeException or OnnxProviderUnavailableException or IOException or UnauthorizedAccessException or InvalidDataException or FormatException or ArgumentException)
        {
            Console.Error.WriteLine(e.Message);
            return InputError;
        }
    }
}
