using SynthVlm.Tokenizers;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Images;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Prompts;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Vlm;

/// <summary>What <see cref="LlavaPipeline.Generate"/> produced for one prompt.</summary>
/// <param name="PromptIds">The prompt's ids with BOS and the image as one id (the folder's image token index).</param>
/// <param name="Ids">The generated ids.</param>
/// <param name="Text">The generated text, special tokens skipped and stripped (as LLaVA's scripts print it).</param>
/// <param name="Finish">Why generation ended.</param>
public sealed record LlavaAnswer(int[] PromptIds, int[] Ids, string Text, FinishReason Finish);

/// <summary>The loss of one sample: mean cross-entropy over its supervised tokens, or why it was refused.</summary>
/// <param name="Id">The sample's id.</param>
/// <param name="Loss">Mean cross-entropy over the supervised tokens (null when refused).</param>
/// <param name="Tokens">Supervised tokens after the image is spliced in and the sequence truncated.</param>
/// <param name="Error">Why the sample was refused (template, image, length), or null.</param>
public sealed record SampleLoss(string Id, double? Loss, int Tokens, string? Error);

/// <summary>
/// A LLaVA model folder ready to use: the model, its tokenizer, LLaVA's prompt encoder and the
/// image processor, each from the folder of either layout. The command line and the services
/// use this; each part is also usable alone.
/// </summary>
public sealed class LlavaPipeline : IDisposable
{
    private LlavaPipeline(LlavaModelFolder folder, LlavaModel model, SentencePieceLlamaTokenizer tokenizer, LlavaImageProcessor images)
    {
        Folder = folder;
        Model = model;
        Tokenizer = tokenizer;
        Images = images;
        Prompts = new LlavaPromptEncoder(tokenizer, folder.Config.ModelMaxLength);
    }

    /// <summary>The folder the pipeline came from.</summary>
    public LlavaModelFolder Folder { get; }

    /// <summary>The model.</summary>
    public LlavaModel Model { get; }

    /// <summary>The LLaMA tokenizer of the folder.</summary>
    public SentencePieceLlamaTokenizer Tokenizer { get; }

    /// <summary>LLaVA's conversation templates and masking over <see cref="Tokenizer"/>.</summary>
    public LlavaPromptEncoder Prompts { get; }

    /// <summary>The image processor (default aspect mode from the folder).</summary>
    public LlavaImageProcessor Images { get; }

    /// <summary>Opens a model folder of either layout and loads the model.</summary>
    /// <exception cref="VlmModelException">The folder, its weights or its configuration are unusable (the message names the file or tensor).</exception>
    /// <exception cref="TokenizerFormatException">The tokenizer files are missing or do not match (named).</exception>
    public static LlavaPipeline Open(string directory, LlavaLoadOptions? options = null)
    {
        options ??= new LlavaLoadOptions();
        var folder = LlavaModelFolder.Open(directory, options.VisionTowerDirectory);
        var tokenizer = SentencePieceLlamaTokenizer.FromFolder(folder.TokenizerDirectory);
        if (tokenizer.VocabularySize > folder.Config.Text.VocabSize)
        {
            throw new VlmModelException(
                $"{folder.TokenizerDirectory}: the tokenizer has {tokenizer.VocabularySize} tokens but the model's vocab_size is {folder.Config.Text.VocabSize}.");
        }
        if (folder.Layout == LlavaLayout.HuggingFace && tokenizer.TokenToId("<image>") is { } image && image != folder.Config.ImageTokenIndex)
        {
            throw new VlmModelException(
                $"{folder.TokenizerDirectory}: the tokenizer's <image> is id {image} but config.json's image_token_index is {folder.Config.ImageTokenIndex}.");
        }
        var images = LlavaImageProcessor.FromModelFolder(folder.Directory, folder.VisionTowerDirectory);
        if (images.Height != folder.Config.Vision.ImageSize || images.Width != folder.Config.Vision.ImageSize)
        {
            throw new VlmModelException(
                $"{folder.PreprocessorConfigPath}: crops {images.Width}x{images.Height} but the vision tower takes {folder.Config.Vision.ImageSize}x{folder.Config.Vision.ImageSize}.");
        }
        var model = LlavaModelLoader.Load(folder, options);
        return new LlavaPipeline(folder, model, tokenizer, images);
    }

    /// <summary>
    /// Builds LLaVA-1.5 from its parts, as LLaVA's stage 1 starts: a CLIP folder
    /// (openai/clip-vit-large-patch14-336: config.json, weights, preprocessor_config.json), a LLaMA
    /// folder (lmsys/vicuna-7b-v1.5: LlamaForCausalLM config, weights, tokenizer) and, when given,
    /// LLaVA's stage-1 projector (mm_projector.bin); without one the projector is initialised as
    /// torch.nn.Linear initialises itself (uniform ±1/√fan_in), from <paramref name="seed"/>.
    /// </summary>
    /// <exception cref="VlmModelException">A folder is missing, of another architecture, or its weights do not match (named).</exception>
    public static LlavaPipeline Assemble(string visionTowerDirectory, string languageModelDirectory, string? projectorPath = null, LlavaLoadOptions? options = null, int seed = 0)
    {
        ArgumentException.ThrowIfNullOrEmpty(visionTowerDirectory);
        ArgumentException.ThrowIfNullOrEmpty(languageModelDirectory);
        options ??= new LlavaLoadOptions();
        var llmConfigPath = Path.Combine(languageModelDirectory, "config.json");
        var llmConfig = ConfigReader.ReadObject(llmConfigPath);
        var modelType = llmConfig["model_type"]?.GetValue<string>();
        if (modelType != "llama")
        {
            throw new VlmModelException($"{llmConfigPath}: model_type '{modelType}' is not a LLaMA decoder (expected \"llama\", as Vicuna's).");
        }
        var visionConfigPath = Path.Combine(visionTowerDirectory, "config.json");
        var visionConfig = ConfigReader.ReadObject(visionConfigPath);
        var visionJson = visionConfig["vision_config"] as System.Text.Json.Nodes.JsonObject ?? visionConfig;
        var tokenizer = SentencePieceLlamaTokenizer.FromFolder(languageModelDirectory);
        // LLaVA-1.5's multimodal settings (its train.py arguments in pretrain.sh).
        var combined = (System.Text.Json.Nodes.JsonObject)llmConfig.DeepClone();
        combined["mm_vision_tower"] = Path.GetFullPath(visionTowerDirectory);
        combined["mm_projector_type"] = "mlp2x_gelu";
        combined["mm_vision_select_layer"] = -2;
        combined["mm_vision_select_feature"] = "patch";
        combined["mm_hidden_size"] = visionJson["hidden_size"]?.DeepClone();
        combined["image_aspect_ratio"] = "pad";
        combined["tokenizer_model_max_length"] = tokenizer.ModelMaxLength is { } max and <= 1_000_000 ? max : 2048;
        var config = LlavaConfig.FromOriginal(combined, visionConfig, llmConfigPath, visionConfigPath);
        var folder = new LlavaModelFolder(
            languageModelDirectory, LlavaLayout.Original, config, LlavaModelFolder.WeightFilesOf(languageModelDirectory),
            visionTowerDirectory, LlavaModelFolder.WeightFilesOf(visionTowerDirectory), languageModelDirectory,
            Path.Combine(visionTowerDirectory, "preprocessor_config.json"));
        var images = LlavaImageProcessor.FromPreprocessorConfig(folder.PreprocessorConfigPath, ImageAspectMode.Pad);
        var model = LlavaModelLoader.Load(folder, options, name => name.StartsWith("multi_modal_projector.", StringComparison.Ordinal));
        try
        {
            if (projectorPath is not null)
            {
                LlavaCheckpointWriter.LoadProjector(model, projectorPath);
            }
            else
            {
                InitialiseProjector(model, seed);
            }
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return new LlavaPipeline(folder, model, tokenizer, images);
    }

    private static void InitialiseProjector(LlavaModel model, int seed)
    {
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed);
        foreach (var layer in model.ProjectorLayers)
        {
            var bound = 1.0 / Math.Sqrt(layer.Weight.shape[1]);
            using var weight = rand(layer.Weight.shape, ScalarType.Float32, generator: generator).TimesInPlace(2 * bound).MinusInPlace(bound);
            layer.Weight.copy_(weight);
            using var bias = rand(layer.Bias!.shape, ScalarType.Float32, generator: generator).TimesInPlace(2 * bound).MinusInPlace(bound);
            layer.Bias.copy_(bias);
        }
    }

    /// <summary>
    /// Answers <paramref name="prompt"/> about the image at <paramref name="imagePath"/> with
    /// LLaVA's vicuna_v1 conversation (system, then " USER: &lt;image&gt;\n{prompt} ASSISTANT:").
    /// </summary>
    /// <exception cref="VlmModelException">The prompt does not fit the context.</exception>
    public LlavaAnswer Generate(string prompt, string imagePath, ImageAspectMode? aspect, GenerationOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        ArgumentNullException.ThrowIfNull(options);
        var promptIds = Prompts.EncodeGenerationPrompt(prompt, Model.Config.ImageTokenIndex);
        using var scope = NewDisposeScope();
        var pixels = PixelTensor(imagePath, aspect ?? Images.DefaultMode);
        var generator = new LlavaGenerator(Model, ids => Tokenizer.Decode(ids));
        var result = generator.Generate([new GenerationRequest(promptIds, pixels)], options with { EosTokenId = Tokenizer.EosId }, cancellationToken)[0];
        if (result.Error is { } error)
        {
            throw new VlmModelException(error);
        }
        return new LlavaAnswer(promptIds, result.Ids, (result.Text ?? "").Trim(), result.Finish);
    }

    /// <summary>
    /// The loss of each sample of a LLaVA data file under <paramref name="template"/>: images
    /// centre-cropped for plain and padded for vicuna_v1 unless <paramref name="aspect"/> says
    /// otherwise (LLaVA's pre-training and fine-tuning scripts). A sample that cannot be used
    /// (template, image, decode) gets an <see cref="SampleLoss.Error"/>; the others go on.
    /// </summary>
    public IEnumerable<SampleLoss> Loss(IEnumerable<LlavaConversation> samples, string imageFolder, ConversationTemplate template, ImageAspectMode? aspect = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(samples);
        ArgumentNullException.ThrowIfNull(template);
        var mode = aspect ?? (template == ConversationTemplate.Plain ? ImageAspectMode.Crop : ImageAspectMode.Pad);
        foreach (var sample in samples)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var prepared = Prompts.Encode(sample, template);
            if (prepared.IsRejected)
            {
                yield return new SampleLoss(sample.Id, null, 0, prepared.Rejection);
                continue;
            }
            yield return OneLoss(sample, prepared, imageFolder, mode);
        }
    }

    private SampleLoss OneLoss(LlavaConversation sample, PreparedSample prepared, string imageFolder, ImageAspectMode mode)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        Tensor? pixels = null;
        if (prepared.HasImage)
        {
            var path = Path.Combine(imageFolder, sample.Image!);
            try
            {
                pixels = PixelTensor(path, mode).unsqueeze(0);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or Imaging.ImagingException)
            {
                return new SampleLoss(sample.Id, null, 0, $"image {path}: {e.Message}");
            }
        }
        using var output = Model.Forward([new LlavaSequence(prepared.InputIds, prepared.Labels)], pixels);
        var count = output.TokenCounts![0].item<long>();
        if (count == 0)
        {
            return new SampleLoss(sample.Id, null, 0, $"no supervised token is left after truncation to {Model.Config.ModelMaxLength} positions");
        }
        return new SampleLoss(sample.Id, output.TokenLossSums![0].item<float>() / (double)count, (int)count, null);
    }

    private Tensor PixelTensor(string imagePath, ImageAspectMode mode)
    {
        var values = Images.Preprocess(imagePath, mode);
        return tensor(values, [3, Images.Height, Images.Width]).to(Model.Device);
    }

    /// <summary>Frees the model's tensors.</summary>
    public void Dispose() => Model.Dispose();
}
