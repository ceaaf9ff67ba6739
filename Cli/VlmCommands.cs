using System.CommandLine;
using SynthVlm.Imaging;
using SynthVlm.Tokenizers;
using SynthVlm.Vlm;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Prompts;

namespace SynthVlm.Cli;

/// <summary>`vlm generate` and `vlm loss`: a LLaVA model folder (either layout) from the terminal.</summary>
internal static class VlmCommands
{
    private const int InputError = 1;
    private const int UsageError = 2;

    /// <summary>`synthvlm vlm generate|loss ...`.</summary>
    public static Command Vlm() => new("vlm", "LLaVA-1.5 models (LLaVA's own layout or llava-hf's): answer a prompt about an image, or score a data file.")
    {
        Generate(),
        Loss(),
    };

    private static Option<string> ModelOption() => new("--model") { Description = "Model folder: LLaVA's layout (config.json with mm_vision_tower) or llava-hf's (LlavaForConditionalGeneration).", Required = true };

    private static Option<string?> VisionTowerOption() => new("--vision-tower") { Description = "LLaVA's layout: the CLIP folder, overriding config.json's mm_vision_tower." };

    internal static Option<string> DTypeOption() => new("--dtype") { Description = "Parameter dtype: fp32, bf16 or fp16 (checkpoint tensors are converted).", DefaultValueFactory = _ => "fp32" };

    internal static Option<string> DeviceOption() => new("--device") { Description = "cpu, or cuda on a GPU node built with -p:SynthVlmTorchBackend=Cuda.", DefaultValueFactory = _ => "cpu" };

    internal static string? ParseLoad(string dtype, string device, string? tower, out LlavaLoadOptions options)
    {
        options = new LlavaLoadOptions(VisionTowerDirectory: tower);
        TorchSharp.torch.ScalarType? type = dtype switch
        {
            "fp32" => TorchSharp.torch.ScalarType.Float32,
            "bf16" => TorchSharp.torch.ScalarType.BFloat16,
            "fp16" => TorchSharp.torch.ScalarType.Float16,
            _ => null,
        };
        if (type is null)
        {
            return $"--dtype must be fp32, bf16 or fp16; got '{dtype}'.";
        }
        if (device is not ("cpu" or "cuda"))
        {
            return $"--device must be cpu or cuda; got '{device}'.";
        }
        if (device == "cuda" && !TorchRuntime.Initialize().CudaAvailable)
        {
            return "--device cuda: no CUDA device is usable by this build (build with -p:SynthVlmTorchBackend=Cuda on a GPU node).";
        }
        options = options with { DType = type.Value, Device = new TorchSharp.torch.Device(device) };
        return null;
    }

    private static Option<string?> AspectOption() => new("--image-aspect") { Description = "pad (expand to a square of the processor's mean colour) or crop (resize and centre crop); default: as the folder says." };

    /// <summary>`vlm generate --model DIR --image IMG --prompt TEXT`: one JSON object with prompt_ids, ids and text.</summary>
    private static Command Generate()
    {
        var model = ModelOption();
        var tower = VisionTowerOption();
        var image = new Option<string>("--image") { Description = "The image the prompt is about.", Required = true };
        var prompt = new Option<string>("--prompt") { Description = "The user's message; it becomes LLaVA's vicuna_v1 conversation.", Required = true };
        var maxNew = new Option<int>("--max-new-tokens") { Description = "Tokens generated at most.", DefaultValueFactory = _ => 128 };
        var aspect = AspectOption();
        var temperature = new Option<double>("--temperature") { Description = "0 decodes greedily; above 0 samples.", DefaultValueFactory = _ => 0 };
        var topP = new Option<double>("--top-p") { Description = "Nucleus sampling mass (with --temperature).", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<long>("--seed") { Description = "Sampling seed.", DefaultValueFactory = _ => 0 };
        var dtype = DTypeOption();
        var device = DeviceOption();
        var command = new Command("generate", "Answer a prompt about an image: prints {\"prompt_ids\", \"ids\", \"text\"} (prompt_ids with BOS and the image as the folder's one image token id).")
        {
            model, tower, image, prompt, maxNew, aspect, temperature, topP, seed, dtype, device,
        };
        command.SetAction(parse => Run("vlm generate", () =>
        {
            if (ParseAspect(parse.GetValue(aspect), out var mode) is { } problem)
            {
                Console.Error.WriteLine($"vlm generate: {problem}");
                return UsageError;
            }
            if (ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), parse.GetValue(tower), out var load) is { } loadProblem)
            {
                Console.Error.WriteLine($"vlm generate: {loadProblem}");
                return UsageError;
            }
            var options = new GenerationOptions(parse.GetValue(maxNew), parse.GetValue(temperature), parse.GetValue(topP), parse.GetValue(seed));
            options.Validate();
            using var pipeline = LlavaPipeline.Open(parse.GetRequiredValue(model), load);
            var answer = pipeline.Generate(parse.GetRequiredValue(prompt), parse.GetRequiredValue(image), mode, options);
            Console.WriteLine(JsonLine.Of(w =>
            {
                WriteIds(w, "prompt_ids", answer.PromptIds);
                WriteIds(w, "ids", answer.Ids);
                w.WriteString("text", answer.Text);
            }));
            return 0;
        }));
        return command;
    }

    /// <summary>`vlm loss --model DIR --data FILE --image-folder DIR --template plain|vicuna_v1`: one JSON line per sample.</summary>
    private static Command Loss()
    {
        var model = ModelOption();
        var tower = VisionTowerOption();
        var data = new Option<string>("--data") { Description = "LLaVA data JSON: [{\"id\", \"image\", \"conversations\": [{\"from\", \"value\"}]}].", Required = true };
        var images = new Option<string>("--image-folder") { Description = "Folder the samples' image paths are relative to.", Required = true };
        var template = new Option<string>("--template") { Description = "plain (pre-training) or vicuna_v1 (instruction tuning).", Required = true };
        var aspect = AspectOption();
        var dtype = DTypeOption();
        var device = DeviceOption();
        var command = new Command("loss", "Mean cross-entropy over each sample's supervised tokens: one {\"id\", \"loss\", \"tokens\"} line per sample, or {\"id\", \"error\"} when the sample cannot be used.")
        {
            model, tower, data, images, template, aspect, dtype, device,
        };
        command.SetAction(parse => Run("vlm loss", () =>
        {
            if (ParseAspect(parse.GetValue(aspect), out var mode) is { } problem)
            {
                Console.Error.WriteLine($"vlm loss: {problem}");
                return UsageError;
            }
            var name = parse.GetRequiredValue(template);
            if (ConversationTemplate.All.FirstOrDefault(t => t.Name == name) is not { } chosen)
            {
                Console.Error.WriteLine($"vlm loss: --template must be one of {string.Join(", ", ConversationTemplate.All.Select(t => t.Name))}; got '{name}'.");
                return UsageError;
            }
            if (ParseLoad(parse.GetRequiredValue(dtype), parse.GetRequiredValue(device), parse.GetValue(tower), out var load) is { } loadProblem)
            {
                Console.Error.WriteLine($"vlm loss: {loadProblem}");
                return UsageError;
            }
            using var pipeline = LlavaPipeline.Open(parse.GetRequiredValue(model), load);
            foreach (var sample in pipeline.Loss(LlavaConversation.Read(parse.GetRequiredValue(data)), parse.GetRequiredValue(images), chosen, mode))
            {
                Console.WriteLine(JsonLine.Of(w =>
                {
                    w.WriteString("id", sample.Id);
                    if (sample.Error is { } error)
                    {
                        w.WriteString("error", error);
                        return;
                    }
                    w.WriteNumber("loss", sample.Loss!.Value);
                    w.WriteNumber("tokens", sample.Tokens);
                }));
            }
            return 0;
        }));
        return command;
    }

    private static string? ParseAspect(string? value, out ImageAspectMode? mode)
    {
        mode = value switch
        {
            null => null,
            "pad" => ImageAspectMode.Pad,
            "crop" => ImageAspectMode.Crop,
            _ => null,
        };
        return value is null or "pad" or "crop" ? null : $"--image-aspect must be pad or crop; got '{value}'.";
    }

    private static void WriteIds(System.Text.Json.Utf8JsonWriter w, string name, IEnumerable<int> ids)
    {
        w.WriteStartArray(name);
        foreach (var id in ids)
        {
            w.WriteNumberValue(id);
        }
        w.WriteEndArray();
    }

    private static int Run(string command, Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is VlmModelException or TokenizerFormatException or ImageProcessorConfigException or ImagingException
            or IOException or UnauthorizedAccessException or InvalidDataException or ArgumentException)
        {
            Console.Error.WriteLine($"{command}: {e.Message}");
            return InputError;
        }
    }
}
