using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Diffusion.Schedulers;
using SynthVlm.Imaging;
using SynthVlm.Onnx;

namespace SynthVlm.Diffusion;

/// <summary>
/// SDXL text-to-image as diffusers' StableDiffusionXLPipeline runs it, with the refiner either as an
/// ensemble of experts (<see cref="RefinerMode.HandOver"/>) or as img2img on the base's latents the way
/// the SynthVLM script calls it (<see cref="RefinerMode.Img2Img"/>): both text encoders' penultimate hidden states concatenated, the pooled
/// projection of the second, negative conditioning (zeros when no negative prompt is given and
/// the model says force_zeros_for_empty_prompt), micro-conditioning time ids, classifier-free
/// guidance (uncond first, then cond, in one UNet batch) with optional guidance rescale, the
/// scheduler of the model folder, and the VAE decode. Each prompt has its own seed, so a
/// picture does not depend on what it was batched with. Thread-safe: each call has its own
/// scheduler state.
/// </summary>
public sealed class SdxlPipeline
{
    private const int ContextLength = 77;

    private readonly SdxlModel _base;
    private readonly SdxlModel? _refiner;

    /// <summary>A pipeline over a base model and, optionally, a refiner.</summary>
    public SdxlPipeline(SdxlModel baseModel, SdxlModel? refiner = null)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        if (baseModel.IsRefiner)
        {
            throw new ArgumentException($"{baseModel.Folder} is a refiner (no text_encoder); the first model must be a base.", nameof(baseModel));
        }
        if (refiner is { IsRefiner: false })
        {
            throw new ArgumentException($"{refiner.Folder} is not a refiner (it has a text_encoder).", nameof(refiner));
        }
        _base = baseModel;
        _refiner = refiner;
    }

    /// <summary>
    /// Generates one image per prompt (batched through the UNet together).
    /// </summary>
    /// <param name="prompts">The prompts (1 or more).</param>
    /// <param name="seeds">One seed per prompt.</param>
    /// <param name="settings">Size, steps, guidance, refiner use...</param>
    /// <param name="onStep">Called after every denoising step.</param>
    /// <param name="cancellationToken">Cancels between steps and inside a running model call.</param>
    /// <exception cref="ArgumentException">A setting is out of range or the counts differ.</exception>
    /// <exception cref="DiffusionException">A model output has an unexpected shape.</exception>
    public GenerationBatch Generate(IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, GenerationSettings settings, Action<DiffusionStep>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(seeds);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (prompts.Count == 0 || prompts.Count != seeds.Count)
        {
            throw new ArgumentException($"one seed per prompt is needed; got {prompts.Count} prompts and {seeds.Count} seeds.");
        }
        var total = Stopwatch.StartNew();
        var clock = new OrtClock();
        var batch = prompts.Count;
        int h = settings.Height / 8, w = settings.Width / 8, c = _base.LatentChannels;
        var perItem = c * h * w;

        // Base conditioning.
        var encodeStart = Stopwatch.GetTimestamp();
        var cond = EncodeBase(prompts, clock, cancellationToken, out var truncated);
        var uncond = settings.NegativePrompt is null && _base.ForceZerosForEmptyPrompt
            ? cond.Zeros()
            : EncodeBase(Repeat(settings.NegativePrompt ?? "", batch), clock, cancellationToken, out _);
        var encodeMs = Stopwatch.GetElapsedTime(encodeStart).TotalMilliseconds;

        // Initial latents: each item's own torch CPU generator, as diffusers draws them for a list of
        // generators (scaled by the scheduler's init sigma in Run); the ancestral noise continues them.
        var latents = new float[batch * perItem];
        var generators = seeds.Select(s => new TorchGaussianNoise(s)).ToArray();
        for (var i = 0; i < batch; i++)
        {
            generators[i].Fill(latents.AsSpan(i * perItem, perItem));
        }
        return Run(cond, uncond, latents, prompts, seeds, truncated, settings, encodeMs, total, clock, onStep, cancellationToken, generators);
    }

    /// <summary>
    /// Runs the base denoising loop and the VAE decode on precomputed conditioning, as diffusers'
    /// StableDiffusionXLPipeline does when called with prompt_embeds, pooled_prompt_embeds, their
    /// negative counterparts and latents: the text encoders and the refiner are not used.
    /// </summary>
    /// <param name="positive">Conditioning of each item: embeds [B, 77, Width], pooled [B, PooledWidth].</param>
    /// <param name="negative">Unconditional embeddings of the same shape; null means zeros when the model says
    /// force_zeros_for_empty_prompt (as diffusers with no negative prompt), otherwise it is required when guidance is on.</param>
    /// <param name="initialLatents">[B, 4, Height/8, Width/8] standard-normal latents, not yet multiplied by the
    /// scheduler's init_noise_sigma (like diffusers' <c>latents</c> argument); not modified.</param>
    /// <param name="settings">Size, steps, guidance, scheduler; the refiner and prompt fields are ignored.</param>
    /// <param name="seeds">Per-item seeds of the ancestral noise (stochastic schedulers) and of the results; null = 0, 1, 2, …</param>
    /// <param name="onStep">Called after every denoising step.</param>
    /// <param name="cancellationToken">Cancels between steps and inside a running model call.</param>
    /// <returns>The images (prompt "" in each result) and, in <see cref="GenerationBatch.FinalLatents"/>, the latents before the VAE.</returns>
    /// <exception cref="ArgumentException">A length does not match the shapes above, or a setting is out of range.</exception>
    /// <exception cref="DiffusionException">A model output has an unexpected shape.</exception>
    public GenerationBatch GenerateFromEmbeddings(PromptEmbeddings positive, PromptEmbeddings? negative, float[] initialLatents, GenerationSettings settings,
        IReadOnlyList<ulong>? seeds = null, Action<DiffusionStep>? onStep = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(positive);
        ArgumentNullException.ThrowIfNull(initialLatents);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        var total = Stopwatch.StartNew();
        var batch = positive.Validate(nameof(positive), ContextLength);
        if (negative is not null)
        {
            var nb = negative.Validate(nameof(negative), ContextLength);
            if (nb != batch || negative.Width != positive.Width || negative.PooledWidth != positive.PooledWidth)
            {
                throw new ArgumentException($"negative embeddings are [{nb}, {ContextLength}, {negative.Width}] / [{nb}, {negative.PooledWidth}]; they must match the positive [{batch}, {ContextLength}, {positive.Width}] / [{batch}, {positive.PooledWidth}].", nameof(negative));
            }
        }
        else if (settings.Guidance > 1 && !_base.ForceZerosForEmptyPrompt)
        {
            throw new ArgumentException($"{_base.Folder} does not set force_zeros_for_empty_prompt, so negative embeddings are required when guidance is on.", nameof(negative));
        }
        var perItem = _base.LatentChannels * (settings.Height / 8) * (settings.Width / 8);
        if (initialLatents.Length != batch * perItem)
        {
            throw new ArgumentException($"initial latents have {initialLatents.Length} values; expected [{batch}, {_base.LatentChannels}, {settings.Height / 8}, {settings.Width / 8}] = {batch * perItem}.", nameof(initialLatents));
        }
        seeds ??= Enumerable.Range(0, batch).Select(i => (ulong)i).ToArray();
        if (seeds.Count != batch)
        {
            throw new ArgumentException($"one seed per item is needed; got {seeds.Count} seeds for {batch} items.", nameof(seeds));
        }
        var cond = new Conditioning(positive.Embeds, positive.Width, positive.Pooled, positive.PooledWidth);
        var uncond = negative is null ? cond.Zeros() : new Conditioning(negative.Embeds, negative.Width, negative.Pooled, negative.PooledWidth);
        return Run(cond, uncond, (float[])initialLatents.Clone(), Repeat("", batch), seeds, new bool[batch], settings with { UseRefiner = false },
            0, total, new OrtClock(), onStep, cancellationToken);
    }

    /// <summary>The part both entry points share: init sigma, base (and refiner) denoising, VAE decode.</summary>
    private GenerationBatch Run(Conditioning cond, Conditioning uncond, float[] latents, IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, bool[] truncated,
        GenerationSettings settings, double encodeMs, Stopwatch total, OrtClock clock, Action<DiffusionStep>? onStep, CancellationToken cancellationToken, TorchGaussianNoise[]? generators = null)
    {
        var batch = prompts.Count;
        int h = settings.Height / 8, w = settings.Width / 8, c = _base.LatentChannels;
        var perItem = c * h * w;
        float[] baseIds = TimeIds(batch, settings, refiner: false, negative: false);

        var scheduler = CreateScheduler(_base, settings);
        scheduler.SetTimesteps(settings.Steps);
        TensorPrimitives.Multiply(latents, (float)scheduler.InitNoiseSigma, latents);
        var noise = new PerItemNoise(generators ?? [.. seeds.Select(seed => new TorchGaussianNoise(seed))], perItem);
        var useRefiner = _refiner is not null && settings.UseRefiner;
        var baseSteps = useRefiner ? DenoisingSplit.BaseSteps(scheduler.Timesteps, settings.RefinerStart) : scheduler.Timesteps.Count;
        var failed = new string?[batch];
        var denoiseStart = Stopwatch.GetTimestamp();
        Denoise(_base, scheduler, latents, cond, uncond, baseIds, TimeIds(batch, settings, false, true), batch, c, h, w, 0, baseSteps, settings, noise, failed, "base", onStep, clock, cancellationToken);

        var refinerSteps = 0;
        var decoder = _base;
        var img2img = useRefiner && settings.RefinerMode == RefinerMode.Img2Img;
        if (useRefiner && (img2img || baseSteps < scheduler.Timesteps.Count))
        {
            var refiner = _refiner!;
            var rCond = EncodeRefiner(refiner, prompts, clock, cancellationToken);
            var rUncond = settings.NegativePrompt is null && refiner.ForceZerosForEmptyPrompt
                ? rCond.Zeros()
                : EncodeRefiner(refiner, Repeat(settings.NegativePrompt ?? "", batch), clock, cancellationToken);
            var rScheduler = CreateScheduler(refiner, settings);
            rScheduler.SetTimesteps(settings.Steps);
            int first, end;
            if (img2img)
            {
                // The SynthVLM script's refiner call: img2img on the base's latents (no VAE round trip), restarted
                // at the strength's index with noise of that level from each item's generator (continuing the
                // stream the base drew from, as when the same generator list is passed to both diffusers calls).
                first = Img2ImgStrength.BeginIndex(settings.Steps, settings.RefinerStrength);
                rScheduler.SetBeginIndex(first);
                var fresh = new float[latents.Length];
                noise.Fill(fresh);
                rScheduler.AddNoise(latents, fresh, latents);
                end = Img2ImgStrength.EndIndex(rScheduler.Timesteps, first, settings.RefinerStopsAtStart ? settings.RefinerStart : null, rScheduler.Config.NumTrainTimesteps);
            }
            else
            {
                // Hand-over as diffusers' denoising_start: same schedule, no noise added.
                first = baseSteps;
                rScheduler.SetBeginIndex(first);
                end = rScheduler.Timesteps.Count;
            }
            refinerSteps = end - first;
            Denoise(refiner, rScheduler, latents, rCond, rUncond, TimeIds(batch, settings, true, false), TimeIds(batch, settings, true, true),
                batch, c, h, w, first, end, settings, noise, failed, "refiner", onStep, clock, cancellationToken);
            decoder = refiner;
        }
        var denoiseMs = Stopwatch.GetElapsedTime(denoiseStart).TotalMilliseconds;

        var decodeStart = Stopwatch.GetTimestamp();
        var results = Decode(decoder, latents, batch, c, h, w, settings, prompts, seeds, failed, truncated, clock, cancellationToken);
        var decodeMs = Stopwatch.GetElapsedTime(decodeStart).TotalMilliseconds;
        return new GenerationBatch(results, new GenerationTimings(encodeMs, denoiseMs, decodeMs, total.Elapsed.TotalMilliseconds, clock.Milliseconds, baseSteps, refinerSteps))
        {
            FinalLatents = latents,
        };
    }

    private static IDiffusionScheduler CreateScheduler(SdxlModel model, GenerationSettings settings) =>
        Schedulers.Schedulers.Create(model.SchedulerConfig, settings.Scheduler);

    private static string[] Repeat(string text, int count) => Enumerable.Repeat(text, count).ToArray();

    private Conditioning EncodeBase(IReadOnlyList<string> texts, OrtClock clock, CancellationToken ct, out bool[] truncated)
    {
        var n = texts.Count;
        var (h1, d1) = Hidden(_base.TextEncoder!, _base.Tokenizer!, texts, _base.PenultimateHidden1, null, clock, ct, out truncated, out _);
        var (h2, d2) = Hidden(_base.TextEncoder2, _base.Tokenizer2, texts, _base.PenultimateHidden2, "text_embeds", clock, ct, out var truncated2, out var pooled);
        for (var i = 0; i < n; i++)
        {
            truncated[i] |= truncated2[i];
        }
        // prompt_embeds = concat(penultimate CLIP-L, penultimate bigG) on the channel axis.
        var d = d1 + d2;
        var embeds = new float[n * ContextLength * d];
        for (var row = 0; row < n * ContextLength; row++)
        {
            h1.AsSpan(row * d1, d1).CopyTo(embeds.AsSpan(row * d, d1));
            h2.AsSpan(row * d2, d2).CopyTo(embeds.AsSpan((row * d) + d1, d2));
        }
        return new Conditioning(embeds, d, pooled!, pooled!.Length / n);
    }

    private static Conditioning EncodeRefiner(SdxlModel refiner, IReadOnlyList<string> texts, OrtClock clock, CancellationToken ct)
    {
        var (h2, d2) = Hidden(refiner.TextEncoder2, refiner.Tokenizer2, texts, refiner.PenultimateHidden2, "text_embeds", clock, ct, out _, out var pooled);
        return new Conditioning(h2, d2, pooled!, pooled!.Length / texts.Count);
    }

    private static (float[] Hidden, int Width) Hidden(InferenceSession encoder, Tokenizers.ClipTokenizer tokenizer, IReadOnlyList<string> texts, string hiddenName, string? pooledName, OrtClock clock, CancellationToken ct, out bool[] truncated, out float[]? pooled)
    {
        var n = texts.Count;
        var ids = new long[n * ContextLength];
        truncated = new bool[n];
        tokenizer.EncodeBatch(texts, ids, Span<long>.Empty, ContextLength, truncated);
        var idsType = encoder.InputMetadata["input_ids"].ElementDataType;
        using var input = idsType == TensorElementType.Int32
            ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(ids, v => (int)v), [n, ContextLength])
            : OrtValue.CreateTensorValueFromMemory(ids, [n, ContextLength]);
        string[] names = pooledName is null ? [hiddenName] : [hiddenName, pooledName];
        using var outputs = clock.Run(encoder, new Dictionary<string, OrtValue> { ["input_ids"] = input }, names, ct);
        var hidden = outputs[0];
        var shape = TensorIo.Shape(hidden);
        if (shape.Length != 3 || shape[0] != n || shape[1] != ContextLength)
        {
            throw new DiffusionException($"text encoder output '{hiddenName}' has shape [{string.Join(", ", shape)}]; expected [{n}, {ContextLength}, width]");
        }
        pooled = pooledName is null ? null : TensorIo.Output(outputs[1]);
        if (pooled is not null && pooled.Length % n != 0)
        {
            throw new DiffusionException($"text encoder output '{pooledName}' does not have one row per prompt");
        }
        return (TensorIo.Output(hidden), (int)shape[2]);
    }

    private float[] TimeIds(int batch, GenerationSettings s, bool refiner, bool negative)
    {
        // (height, width) pairs; crop (top, left) = (0, 0); original size = target size.
        float[] row = refiner
            ? [s.Height, s.Width, 0, 0, (float)(negative ? s.NegativeAestheticScore : s.AestheticScore)]
            : [s.Height, s.Width, 0, 0, s.Height, s.Width];
        var ids = new float[batch * row.Length];
        for (var i = 0; i < batch; i++)
        {
            row.CopyTo(ids, i * row.Length);
        }
        return ids;
    }

    private static void Denoise(SdxlModel model, IDiffusionScheduler scheduler, float[] latents, Conditioning cond, Conditioning uncond, float[] timeIds, float[] negativeTimeIds,
        int batch, int c, int h, int w, int first, int end, GenerationSettings settings, PerItemNoise noise, string?[] failed, string stage, Action<DiffusionStep>? onStep, OrtClock clock, CancellationToken ct)
    {
        var cfg = settings.Guidance > 1;
        var unetBatch = cfg ? 2 * batch : batch;
        var perItem = c * h * w;
        var inputs = model.Unet.InputMetadata;
        var timestepMeta = inputs["timestep"];
        var sampleType = inputs["sample"].ElementDataType;

        // Unchanging inputs of every step: [uncond; cond] on the batch axis.
        var context = cfg ? Concat(uncond.Embeds, cond.Embeds) : cond.Embeds;
        var pooled = cfg ? Concat(uncond.Pooled, cond.Pooled) : cond.Pooled;
        var ids = cfg ? Concat(negativeTimeIds, timeIds) : timeIds;
        var idCount = timeIds.Length / batch;
        using var contextValue = TensorIo.Input(context, inputs["encoder_hidden_states"].ElementDataType, unetBatch, ContextLength, cond.Width);
        using var pooledValue = TensorIo.Input(pooled, inputs["text_embeds"].ElementDataType, unetBatch, cond.PooledWidth);
        using var idsValue = TensorIo.Input(ids, inputs["time_ids"].ElementDataType, unetBatch, idCount);

        // IO binding: ONNX Runtime copies a bound input to the device the session runs on when it is
        // bound, so the conditioning goes to the GPU once per stage and stays there for every step
        // (on the CPU provider nothing is copied: the binding reads these arrays in place). The
        // latents are bound again each step, because the scheduler steps them here on the CPU, and
        // the noise prediction comes back to CPU memory for it.
        using var binding = model.Unet.CreateIoBinding();
        binding.BindInput("encoder_hidden_states", contextValue);
        binding.BindInput("text_embeds", pooledValue);
        binding.BindInput("time_ids", idsValue);
        binding.BindOutputToDevice("out_sample", OrtMemoryInfo.DefaultInstance);

        var scaled = new float[unetBatch * perItem];
        var eps = new float[batch * perItem];
        for (var i = first; i < end; i++)
        {
            ct.ThrowIfCancellationRequested();
            var t = scheduler.Timesteps[i];
            // The same scaled latents feed both halves of the CFG batch.
            scheduler.ScaleModelInput(latents, scaled.AsSpan(0, batch * perItem));
            if (cfg)
            {
                scaled.AsSpan(0, batch * perItem).CopyTo(scaled.AsSpan(batch * perItem));
            }
            using var sample = TensorIo.Input(scaled, sampleType, unetBatch, c, h, w);
            using var timestep = Timestep(t, timestepMeta);
            binding.BindInput("sample", sample);
            binding.BindInput("timestep", timestep);
            float[] prediction;
            using (var outputs = clock.RunWithBinding(model.Unet, binding, ct))
            {
                prediction = TensorIo.Output(outputs[0]);
            }
            if (prediction.Length != unetBatch * perItem)
            {
                throw new DiffusionException($"{Path.Combine(model.Folder, "unet", "model.onnx")}: out_sample has {prediction.Length} values; expected [{unetBatch}, {c}, {h}, {w}]");
            }
            if (cfg)
            {
                // eps = uncond + g * (cond - uncond)
                var u = prediction.AsSpan(0, batch * perItem);
                var k = prediction.AsSpan(batch * perItem, batch * perItem);
                TensorPrimitives.Subtract(k, u, eps);
                TensorPrimitives.MultiplyAdd(eps, (float)settings.Guidance, u, eps);
                if (settings.GuidanceRescale > 0)
                {
                    Rescale(eps, k, perItem, settings.GuidanceRescale);
                }
            }
            else
            {
                prediction.AsSpan(0, batch * perItem).CopyTo(eps);
            }
            scheduler.Step(eps, latents, noise);
            for (var b = 0; b < batch; b++)
            {
                if (failed[b] is null && !VaeImages.AllFinite(latents.AsSpan(b * perItem, perItem)))
                {
                    failed[b] = $"the latents became NaN or infinite at {stage} step {i - first + 1} of {end - first} (timestep {t}); try fewer steps, a lower guidance, or fp32 weights";
                }
            }
            onStep?.Invoke(new DiffusionStep(stage, i - first + 1, end - first, t));
        }
    }

    private static OrtValue Timestep(double t, NodeMetadata meta)
    {
        // New optimum exports: a rank-0 float; old ones: int64 of shape [1].
        long[] shape = meta.Dimensions.Length == 0 ? [] : [1];
        return meta.ElementDataType switch
        {
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(new[] { (long)Math.Round(t) }, shape),
            TensorElementType.Int32 => OrtValue.CreateTensorValueFromMemory(new[] { (int)Math.Round(t) }, shape),
            _ => TensorIo.Input([(float)t], meta.ElementDataType, shape),
        };
    }

    /// <summary>diffusers' rescale_noise_cfg: std over every non-batch dimension, torch's unbiased std.</summary>
    private static void Rescale(Span<float> eps, ReadOnlySpan<float> cond, int perItem, double factor)
    {
        for (var b = 0; b * perItem < eps.Length; b++)
        {
            var e = eps.Slice(b * perItem, perItem);
            var stdCond = Std(cond.Slice(b * perItem, perItem));
            var stdCfg = Std(e);
            if (stdCfg == 0)
            {
                continue;
            }
            var scale = (float)((factor * stdCond / stdCfg) + (1 - factor));
            TensorPrimitives.Multiply(e, scale, e);
        }

        static double Std(ReadOnlySpan<float> x)
        {
            double mean = 0;
            foreach (var v in x)
            {
                mean += v;
            }
            mean /= x.Length;
            double sum = 0;
            foreach (var v in x)
            {
                sum += (v - mean) * (v - mean);
            }
            return Math.Sqrt(sum / Math.Max(1, x.Length - 1));
        }
    }

    private static GeneratedImageResult[] Decode(SdxlModel model, float[] latents, int batch, int c, int h, int w, GenerationSettings settings,
        IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, string?[] failed, bool[] truncated, OrtClock clock, CancellationToken ct)
    {
        var scaledLatents = new float[latents.Length];
        TensorPrimitives.Divide(latents, (float)model.VaeScalingFactor, scaledLatents);
        var meta = model.VaeDecoder.InputMetadata["latent_sample"];
        var perItem = c * h * w;
        var ok = Enumerable.Range(0, batch).Where(b => failed[b] is null).ToArray();
        float[] pixels = [];
        if (ok.Length > 0)
        {
            var input = new float[ok.Length * perItem];
            for (var k = 0; k < ok.Length; k++)
            {
                scaledLatents.AsSpan(ok[k] * perItem, perItem).CopyTo(input.AsSpan(k * perItem));
            }
            using var value = TensorIo.Input(input, meta.ElementDataType, ok.Length, c, h, w);
            using var outputs = clock.Run(model.VaeDecoder, new Dictionary<string, OrtValue> { ["latent_sample"] = value }, ["sample"], ct);
            var shape = TensorIo.Shape(outputs[0]);
            if (shape.Length != 4 || shape[0] != ok.Length || shape[1] != 3 || shape[2] != settings.Height || shape[3] != settings.Width)
            {
                throw new DiffusionException($"{Path.Combine(model.Folder, "vae_decoder", "model.onnx")}: output 'sample' is [{string.Join(", ", shape)}]; expected [{ok.Length}, 3, {settings.Height}, {settings.Width}]");
            }
            pixels = TensorIo.Output(outputs[0]);
        }
        return VaeImages.ToResults(pixels, settings.Width, settings.Height, prompts, seeds, failed, truncated, "the VAE decoder produced NaN or infinite pixels (an fp16 VAE overflows: use an fp32 VAE or the fp16-fix VAE)");
    }

    private static float[] Concat(float[] a, float[] b)
    {
        var r = new float[a.Length + b.Length];
        a.CopyTo(r, 0);
        b.CopyTo(r, a.Length);
        return r;
    }

    private sealed record Conditioning(float[] Embeds, int Width, float[] Pooled, int PooledWidth)
    {
        public Conditioning Zeros() => new(new float[Embeds.Length], Width, new float[Pooled.Length], PooledWidth);
    }

    /// <summary>Ancestral noise drawn per item from the item's own generator, so batching does not change a picture.</summary>
    private sealed class PerItemNoise(TorchGaussianNoise[] streams, int perItem) : IGaussianNoise
    {
        private readonly TorchGaussianNoise[] _streams = streams;
        private readonly int _perItem = perItem;

        public void Fill(Span<float> destination)
        {
            for (var i = 0; i < _streams.Length && (i + 1) * _perItem <= destination.Length; i++)
            {
                _streams[i].Fill(destination.Slice(i * _perItem, _perItem));
            }
        }
    }
}
