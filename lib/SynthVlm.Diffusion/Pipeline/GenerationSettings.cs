using System.Globalization;

namespace SynthVlm.Diffusion;

/// <summary>What to generate and how; validated by <see cref="Validate"/> before any model runs.</summary>
public sealed record GenerationSettings
{
    /// <summary>Image width in pixels, a multiple of 8.</summary>
    public int Width { get; init; } = 1024;

    /// <summary>Image height in pixels, a multiple of 8.</summary>
    public int Height { get; init; } = 1024;

    /// <summary>Denoising steps of the whole schedule (base and refiner share it).</summary>
    public int Steps { get; init; } = 60;

    /// <summary>Classifier-free guidance scale; guidance is on above 1 (SynthVLM uses 20).</summary>
    public double Guidance { get; init; } = 5.0;

    /// <summary>diffusers' guidance_rescale (0 = off, up to 1).</summary>
    public double GuidanceRescale { get; init; }

    /// <summary>Negative prompt; null means none (zero embeddings when the model says force_zeros_for_empty_prompt), "" is encoded.</summary>
    public string? NegativePrompt { get; init; }

    /// <summary>Fraction of the schedule the base runs before the refiner takes over (diffusers' denoising_end / denoising_start); used only with a refiner.</summary>
    public double RefinerStart { get; init; } = 0.8;

    /// <summary>Whether to hand over to the refiner (when one is loaded).</summary>
    public bool UseRefiner { get; init; } = true;

    /// <summary>How the refiner continues the base's run (used only with a refiner); see <see cref="Diffusion.RefinerMode"/>.</summary>
    public RefinerMode RefinerMode { get; init; } = RefinerMode.HandOver;

    /// <summary><see cref="RefinerMode.Img2Img"/> only: diffusers' img2img strength (its default 0.3, which the SynthVLM script keeps); int(Steps · strength) refiner steps from the end of the schedule.</summary>
    public double RefinerStrength { get; init; } = 0.3;

    /// <summary>
    /// <see cref="RefinerMode.Img2Img"/> only: whether the refiner also stops at <see cref="RefinerStart"/>'s cutoff timestep, as
    /// the SynthVLM script does by passing denoising_end=high_noise_frac to its refiner call (true, the default: the image is
    /// decoded with the noise of that timestep left in it); false runs the img2img tail to the last timestep.
    /// </summary>
    public bool RefinerStopsAtStart { get; init; } = true;

    /// <summary>The refiner's positive aesthetic score time id.</summary>
    public double AestheticScore { get; init; } = 6.0;

    /// <summary>The refiner's negative aesthetic score time id.</summary>
    public double NegativeAestheticScore { get; init; } = 2.5;

    /// <summary>Scheduler override (euler, euler-a, dpmpp-2m, dpmpp-2m-karras, or a diffusers class name); null = the model's scheduler_config.json.</summary>
    public string? Scheduler { get; init; }

    /// <summary>SD3 only: zero-fill the T5 rows instead of running text_encoder_3 (diffusers' behaviour when text_encoder_3 is None).</summary>
    public bool SkipT5 { get; init; }

    /// <summary>SD3 only: the T5 token rows (diffusers' max_sequence_length, default 256, at most 512).</summary>
    public int MaxSequenceLength { get; init; } = 256;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first out-of-range field.</summary>
    public void Validate()
    {
        Check(Width, nameof(Width));
        Check(Height, nameof(Height));
        if (Steps is < 1 or > 1000)
        {
            throw new ArgumentException($"steps must be between 1 and 1000; got {Steps}.");
        }
        if (MaxSequenceLength is < 1 or > 512)
        {
            throw new ArgumentException($"max sequence length must be between 1 and 512; got {MaxSequenceLength}.");
        }
        if (!double.IsFinite(Guidance) || Guidance < 0 || Guidance > 100)
        {
            throw new ArgumentException($"guidance must be between 0 and 100; got {Guidance}.");
        }
        if (!(GuidanceRescale is >= 0 and <= 1))
        {
            throw new ArgumentException($"guidance rescale must be between 0 and 1; got {GuidanceRescale}.");
        }
        if (!(RefinerStart is > 0 and < 1))
        {
            throw new ArgumentException($"refiner start must be strictly between 0 and 1; got {RefinerStart}.");
        }
        if (!Enum.IsDefined(RefinerMode))
        {
            throw new ArgumentException($"refiner mode must be handover or img2img; got {(int)RefinerMode}.");
        }
        if (RefinerMode == RefinerMode.Img2Img)
        {
            if (!(RefinerStrength is > 0 and <= 1))
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"refiner strength must be in (0, 1]; got {RefinerStrength}."));
            }
            if (Schedulers.Img2ImgStrength.InitTimestep(Steps, RefinerStrength) < 1)
            {
                throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"refiner strength {RefinerStrength} of {Steps} steps gives int({Steps} × {RefinerStrength}) = 0 refiner steps; raise the strength or the steps."));
            }
        }

        static void Check(int size, string name)
        {
            if (size is < 8 or > 8192 || size % 8 != 0)
            {
                throw new ArgumentException($"{name.ToLowerInvariant()} must be a multiple of 8 between 8 and 8192; got {size}.");
            }
        }
    }
}

/// <summary>How the SDXL refiner continues the base's run.</summary>
public enum RefinerMode
{
    /// <summary>
    /// diffusers' documented "ensemble of expert denoisers": the base runs the schedule down to
    /// <see cref="GenerationSettings.RefinerStart"/> (denoising_end) and the refiner continues the same latents on the
    /// same schedule from there (denoising_start), adding no noise.
    /// </summary>
    HandOver,

    /// <summary>
    /// The official SynthVLM script's use (diffusions/img_from_sdxl.py): the base stops at
    /// <see cref="GenerationSettings.RefinerStart"/> and returns its latents (output_type="latent"); the refiner takes them
    /// as an img2img image (4 channels: no VAE encode), restarts the schedule at int(Steps · <see cref="GenerationSettings.RefinerStrength"/>)
    /// steps from its end, adds noise of that level drawn from the item's generator, and denoises, stopping at
    /// RefinerStart's cutoff when <see cref="GenerationSettings.RefinerStopsAtStart"/> (as the script does).
    /// </summary>
    Img2Img,
}

/// <summary>The names of <see cref="RefinerMode"/> in configuration, gRPC specs and on the command line.</summary>
public static class RefinerModes
{
    /// <summary>Name of <see cref="RefinerMode.HandOver"/>.</summary>
    public const string HandOver = "handover";

    /// <summary>Name of <see cref="RefinerMode.Img2Img"/>.</summary>
    public const string Img2Img = "img2img";

    /// <summary>The mode named <paramref name="name"/> (case-insensitive; "hand-over" also accepted).</summary>
    /// <exception cref="ArgumentException">The name is neither.</exception>
    public static RefinerMode Parse(string name) => name?.Trim().ToLowerInvariant() switch
    {
        HandOver or "hand-over" => RefinerMode.HandOver,
        Img2Img => RefinerMode.Img2Img,
        _ => throw new ArgumentException($"refiner mode must be {HandOver} or {Img2Img}; got '{name}'."),
    };

    /// <summary>The name of <paramref name="mode"/>.</summary>
    public static string Name(RefinerMode mode) => mode == RefinerMode.Img2Img ? Img2Img : HandOver;
}

/// <summary>One denoising step done: which model, which step of how many, at which timestep.</summary>
public readonly record struct DiffusionStep(string Stage, int Step, int Total, double Timestep);

/// <summary>One generated image, or why it failed.</summary>
/// <param name="Prompt">The prompt.</param>
/// <param name="Seed">The seed of its initial latents (and ancestral noise).</param>
/// <param name="Image">The picture, or null when <paramref name="Error"/> is set (the caller disposes it).</param>
/// <param name="Error">Why this item failed (e.g. NaN in its latents); the batch's other items are unaffected.</param>
/// <param name="PromptTruncated">Whether the prompt was longer than the tokenizer's context and was cut.</param>
public sealed record GeneratedImageResult(string Prompt, ulong Seed, Imaging.RgbImage? Image, string? Error, bool PromptTruncated);

/// <summary>Where the time of one <see cref="SdxlPipeline.Generate"/> call went, in milliseconds.</summary>
public sealed record GenerationTimings(double EncodeMs, double DenoiseMs, double DecodeMs, double TotalMs, double InsideOnnxRuntimeMs, int BaseSteps, int RefinerSteps);

/// <summary>The images of one <see cref="SdxlPipeline.Generate"/> call, in prompt order, and where the time went.</summary>
public sealed record GenerationBatch(IReadOnlyList<GeneratedImageResult> Images, GenerationTimings Timings)
{
    /// <summary>The denoised latents [B, 4, Height/8, Width/8] as they went into the VAE (before the division by its scaling factor); empty when not set.</summary>
    public ReadOnlyMemory<float> FinalLatents { get; init; }
}

/// <summary>
/// Precomputed SDXL conditioning in diffusers' layout: prompt_embeds [B, 77, <paramref name="Width"/>]
/// (both encoders' penultimate hidden states concatenated) and pooled_prompt_embeds [B, <paramref name="PooledWidth"/>].
/// </summary>
/// <param name="Embeds">Row-major [B, 77, Width] values.</param>
/// <param name="Width">The embedding width (2048 for SDXL base).</param>
/// <param name="Pooled">Row-major [B, PooledWidth] values.</param>
/// <param name="PooledWidth">The pooled width (1280 for SDXL).</param>
#pragma warning disable CA1819 // Positional record over caller-owned buffers, passed straight to ONNX Runtime.
public sealed record PromptEmbeddings(float[] Embeds, int Width, float[] Pooled, int PooledWidth)
#pragma warning restore CA1819
{
    /// <summary>Checks the lengths against the widths; returns the batch size.</summary>
    internal int Validate(string name, int contextLength)
    {
        if (Embeds is null || Pooled is null)
        {
            throw new ArgumentException("embeds and pooled must not be null.", name);
        }
        if (Width < 1 || PooledWidth < 1)
        {
            throw new ArgumentException($"widths must be positive; got Width {Width}, PooledWidth {PooledWidth}.", name);
        }
        if (Pooled.Length == 0 || Pooled.Length % PooledWidth != 0)
        {
            throw new ArgumentException($"pooled has {Pooled.Length} values, not a positive multiple of PooledWidth {PooledWidth}.", name);
        }
        var batch = Pooled.Length / PooledWidth;
        if (Embeds.Length != batch * contextLength * Width)
        {
            throw new ArgumentException($"embeds have {Embeds.Length} values; expected [{batch}, {contextLength}, {Width}] = {batch * contextLength * Width} (batch {batch} from pooled).", name);
        }
        return batch;
    }
}
