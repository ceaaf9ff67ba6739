using System.Diagnostics;
using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using SynthVlm.Diffusion.Schedulers;
using SynthVlm.Imaging;
using SynthVlm.Onnx;

namespace SynthVlm.Diffusion;

/// <summary>
/// Stable Diffusion 3 text-to-image as diffusers' StableDiffusion3Pipeline runs it: CLIP-L and CLIP-G penultimate
/// hidden states concatenated on the channel axis and zero-padded to the T5 width, followed on the sequence axis by
/// T5's last hidden state (<see cref="GenerationSettings.MaxSequenceLength"/> rows; zeros when the model has no
/// text_encoder_3 or <see cref="GenerationSettings.SkipT5"/> is set, as diffusers does when text_encoder_3 is None);
/// pooled = CLIP-L and CLIP-G <c>text_embeds</c> concatenated; the negative prompt is always encoded (null means
/// ""; SD3 has no zeroed unconditional embedding); classifier-free guidance above 1 (uncond first, then cond, in one
/// transformer batch); the flow-matching Euler scheduler (the transformer gets t = σ·1000 for every batch row and the
/// latents unscaled); then latents / scaling_factor + shift_factor into the VAE. Each prompt has its own seed (torch
/// CPU generator), so a picture does not depend on its batch. Thread-safe: each call has its own scheduler.
/// </summary>
/// <remarks>Not reproduced: skip-layer guidance, IP-Adapter, clip_skip, separate prompt_2/prompt_3 (the prompt feeds all three encoders).</remarks>
public sealed class Sd3Pipeline
{
    private const int ClipLength = 77;

    private readonly Sd3Model _model;

    /// <summary>A pipeline over a loaded SD3 model.</summary>
    public Sd3Pipeline(Sd3Model model)
    {
        ArgumentNullException.ThrowIfNull(model);
        _model = model;
    }

    /// <summary>Generates one image per prompt (batched through the transformer together).</summary>
    /// <param name="prompts">The prompts (1 or more).</param>
    /// <param name="seeds">One seed per prompt.</param>
    /// <param name="settings">Size, steps, guidance, negative prompt, T5 use; the refiner fields are ignored.</param>
    /// <param name="onStep">Called after every denoising step (stage "sd3").</param>
    /// <param name="cancellationToken">Cancels between steps and inside a running model call.</param>
    /// <exception cref="ArgumentException">A setting is out of range, the counts differ, or the scheduler override is not a flow-matching one.</exception>
    /// <exception cref="InvalidOperationException">The model was loaded without its text encoders.</exception>
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

        if (_model.TextEncoder is null)
        {
            throw new InvalidOperationException($"{_model.Folder} was loaded without text encoders; use GenerateFromEmbeddings or load it with textEncoders: true.");
        }

        var total = Stopwatch.StartNew();
        var clock = new OrtClock();
        var batch = prompts.Count;
        var encodeStart = Stopwatch.GetTimestamp();
        var cond = Encode(prompts, settings, clock, cancellationToken, out var truncated);
        var uncond = settings.Guidance > 1 ? Encode(Repeat(settings.NegativePrompt ?? "", batch), settings, clock, cancellationToken, out _) : null;
        var encodeMs = Stopwatch.GetElapsedTime(encodeStart).TotalMilliseconds;

        var perItem = _model.LatentChannels * (settings.Height / 8) * (settings.Width / 8);
        var latents = new float[batch * perItem];
        for (var i = 0; i < batch; i++)
        {
            new TorchGaussianNoise(seeds[i]).Fill(latents.AsSpan(i * perItem, perItem));
        }

        return Run(cond, uncond, latents, prompts, seeds, truncated, settings, encodeMs, total, clock, onStep, cancellationToken);
    }

    /// <summary>
    /// diffusers' <c>encode_prompt</c> for a list of texts (no CFG pairing): embeds [B, 77 + MaxSequenceLength, JointWidth]
    /// = (CLIP-L penultimate ‖ CLIP-G penultimate, zero-padded to JointWidth) followed by T5's last hidden state (or
    /// zeros), pooled [B, PooledWidth] = CLIP-L text_embeds ‖ CLIP-G text_embeds. The result feeds
    /// <see cref="GenerateFromEmbeddings"/> (encode the negative prompt, "" by default, the same way).
    /// </summary>
    /// <exception cref="InvalidOperationException">The model was loaded without its text encoders.</exception>
    public PromptEmbeddings EncodePrompt(IReadOnlyList<string> texts, GenerationSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(texts);
        ArgumentNullException.ThrowIfNull(settings);
        settings.Validate();
        if (_model.TextEncoder is null)
        {
            throw new InvalidOperationException($"{_model.Folder} was loaded without text encoders.");
        }

        var c = Encode(texts, settings, new OrtClock(), cancellationToken, out _);
        return new PromptEmbeddings(c.Embeds, _model.JointWidth, c.Pooled, _model.PooledWidth);
    }

    /// <summary>
    /// Runs the denoising loop and the VAE decode on precomputed conditioning, as diffusers' StableDiffusion3Pipeline
    /// does when called with prompt_embeds, pooled_prompt_embeds, their negative counterparts and latents.
    /// </summary>
    /// <param name="positive">Per item: <see cref="PromptEmbeddings.Embeds"/> [B, S, JointWidth] (S = 77 CLIP rows + T5 rows) and pooled [B, PooledWidth].</param>
    /// <param name="negative">Unconditional embeddings of the same shape; required when guidance is above 1.</param>
    /// <param name="initialLatents">[B, 16, Height/8, Width/8] standard-normal latents (diffusers' <c>latents</c> argument); not modified.</param>
    /// <param name="settings">Size, steps, guidance, scheduler override.</param>
    /// <param name="seeds">Per-item seeds recorded in the results; null = 0, 1, 2, …</param>
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
        var (batch, sequence) = Check(positive, nameof(positive));
        if (negative is not null)
        {
            var (nb, ns) = Check(negative, nameof(negative));
            if (nb != batch || ns != sequence)
            {
                throw new ArgumentException($"negative embeddings are [{nb}, {ns}, {negative.Width}] / [{nb}, {negative.PooledWidth}]; they must match the positive [{batch}, {sequence}, {positive.Width}] / [{batch}, {positive.PooledWidth}].", nameof(negative));
            }
        }
        else if (settings.Guidance > 1)
        {
            throw new ArgumentException("negative embeddings are required when guidance is above 1 (SD3 encodes the negative prompt; it has no zeroed unconditional embedding).", nameof(negative));
        }

        var perItem = _model.LatentChannels * (settings.Height / 8) * (settings.Width / 8);
        if (initialLatents.Length != batch * perItem)
        {
            throw new ArgumentException($"initial latents have {initialLatents.Length} values; expected [{batch}, {_model.LatentChannels}, {settings.Height / 8}, {settings.Width / 8}] = {batch * perItem}.", nameof(initialLatents));
        }

        seeds ??= Enumerable.Range(0, batch).Select(i => (ulong)i).ToArray();
        if (seeds.Count != batch)
        {
            throw new ArgumentException($"one seed per item is needed; got {seeds.Count} seeds for {batch} items.", nameof(seeds));
        }

        var cond = new Conditioning(positive.Embeds, sequence, positive.Pooled);
        var uncond = negative is null ? null : new Conditioning(negative.Embeds, sequence, negative.Pooled);
        return Run(cond, uncond, (float[])initialLatents.Clone(), Repeat("", batch), seeds, new bool[batch], settings, 0, total, new OrtClock(), onStep, cancellationToken);
    }

    private (int Batch, int Sequence) Check(PromptEmbeddings e, string name)
    {
        if (e.Width != _model.JointWidth || e.PooledWidth != _model.PooledWidth)
        {
            throw new ArgumentException($"embeddings have width {e.Width} and pooled width {e.PooledWidth}; {_model.Folder}'s transformer takes {_model.JointWidth} and {_model.PooledWidth}.", name);
        }

        if (e.Pooled is null || e.Embeds is null || e.Pooled.Length == 0 || e.Pooled.Length % e.PooledWidth != 0)
        {
            throw new ArgumentException($"pooled has {e.Pooled?.Length ?? 0} values, not a positive multiple of PooledWidth {e.PooledWidth}.", name);
        }

        var batch = e.Pooled.Length / e.PooledWidth;
        if (e.Embeds.Length == 0 || e.Embeds.Length % (batch * e.Width) != 0)
        {
            throw new ArgumentException($"embeds have {e.Embeds.Length} values, not [{batch}, S, {e.Width}] for any S (batch {batch} from pooled).", name);
        }

        return (batch, e.Embeds.Length / (batch * e.Width));
    }

    private GenerationBatch Run(Conditioning cond, Conditioning? uncond, float[] latents, IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, bool[] truncated,
        GenerationSettings settings, double encodeMs, Stopwatch total, OrtClock clock, Action<DiffusionStep>? onStep, CancellationToken ct)
    {
        var batch = prompts.Count;
        int c = _model.LatentChannels, h = settings.Height / 8, w = settings.Width / 8;
        var perItem = c * h * w;
        var scheduler = CreateScheduler(settings);
        scheduler.SetTimesteps(settings.Steps);
        TensorPrimitives.Multiply(latents, (float)scheduler.InitNoiseSigma, latents);
        var failed = new string?[batch];

        var denoiseStart = Stopwatch.GetTimestamp();
        var cfg = settings.Guidance > 1;
        var rows = cfg ? 2 * batch : batch;
        var inputs = _model.Transformer.InputMetadata;
        var context = cfg ? Concat(uncond!.Embeds, cond.Embeds) : cond.Embeds;
        var pooled = cfg ? Concat(uncond!.Pooled, cond.Pooled) : cond.Pooled;
        using var contextValue = TensorIo.Input(context, inputs["encoder_hidden_states"].ElementDataType, rows, cond.Sequence, _model.JointWidth);
        using var pooledValue = TensorIo.Input(pooled, inputs["pooled_projections"].ElementDataType, rows, _model.PooledWidth);
        using var binding = _model.Transformer.CreateIoBinding();
        binding.BindInput("encoder_hidden_states", contextValue);
        binding.BindInput("pooled_projections", pooledValue);
        binding.BindOutputToDevice("out_hidden_states", OrtMemoryInfo.DefaultInstance);
        var modelInput = new float[rows * perItem];
        var velocity = new float[batch * perItem];
        var steps = scheduler.Timesteps.Count;
        for (var i = 0; i < steps; i++)
        {
            ct.ThrowIfCancellationRequested();
            var t = scheduler.Timesteps[i];
            scheduler.ScaleModelInput(latents, modelInput.AsSpan(0, batch * perItem));
            if (cfg)
            {
                modelInput.AsSpan(0, batch * perItem).CopyTo(modelInput.AsSpan(batch * perItem));
            }

            using var sample = TensorIo.Input(modelInput, inputs["hidden_states"].ElementDataType, rows, c, h, w);
            using var timestep = Timestep(t, rows, inputs["timestep"]);
            binding.BindInput("hidden_states", sample);
            binding.BindInput("timestep", timestep);
            float[] prediction;
            using (var outputs = clock.RunWithBinding(_model.Transformer, binding, ct))
            {
                prediction = TensorIo.Output(outputs[0]);
            }

            if (prediction.Length != rows * perItem)
            {
                throw new DiffusionException($"{_model.PathOf("transformer")}: out_hidden_states has {prediction.Length} values; expected [{rows}, {c}, {h}, {w}]");
            }

            if (cfg)
            {
                // v = uncond + g · (cond − uncond)
                var u = prediction.AsSpan(0, batch * perItem);
                var k = prediction.AsSpan(batch * perItem, batch * perItem);
                TensorPrimitives.Subtract(k, u, velocity);
                TensorPrimitives.Multiply(velocity, (float)settings.Guidance, velocity);
                TensorPrimitives.Add(velocity, u, velocity);
            }
            else
            {
                prediction.AsSpan(0, batch * perItem).CopyTo(velocity);
            }

            scheduler.Step(velocity, latents);
            for (var b = 0; b < batch; b++)
            {
                if (failed[b] is null && !VaeImages.AllFinite(latents.AsSpan(b * perItem, perItem)))
                {
                    failed[b] = $"the latents became NaN or infinite at step {i + 1} of {steps} (timestep {t}); try a lower guidance or fp32 weights";
                }
            }

            onStep?.Invoke(new DiffusionStep("sd3", i + 1, steps, t));
        }

        var denoiseMs = Stopwatch.GetElapsedTime(denoiseStart).TotalMilliseconds;
        var decodeStart = Stopwatch.GetTimestamp();
        var results = Decode(latents, batch, c, h, w, settings, prompts, seeds, failed, truncated, clock, ct);
        var decodeMs = Stopwatch.GetElapsedTime(decodeStart).TotalMilliseconds;
        return new GenerationBatch(results, new GenerationTimings(encodeMs, denoiseMs, decodeMs, total.Elapsed.TotalMilliseconds, clock.Milliseconds, steps, 0))
        {
            FinalLatents = latents,
        };
    }

    private IDiffusionScheduler CreateScheduler(GenerationSettings settings)
    {
        IDiffusionScheduler scheduler;
        try
        {
            scheduler = Schedulers.Schedulers.Create(_model.SchedulerConfig, settings.Scheduler);
        }
        catch (SchedulerConfigException e)
        {
            throw new ArgumentException(e.Message, nameof(settings), e);
        }

        if (scheduler.Name != SchedulerNames.FlowMatchEulerDiscrete)
        {
            throw new ArgumentException($"scheduler '{settings.Scheduler ?? _model.SchedulerConfig.ClassName}' is not a flow-matching scheduler; SD3 predicts a velocity and needs {SchedulerNames.FlowMatchEulerDiscrete} (alias {SchedulerNames.FlowMatchEuler}).", nameof(settings));
        }

        return scheduler;
    }

    /// <summary>diffusers' encode_prompt for one list of texts: [B, 77 + T5 rows, JointWidth] and pooled [B, PooledWidth].</summary>
    private Conditioning Encode(IReadOnlyList<string> texts, GenerationSettings settings, OrtClock clock, CancellationToken ct, out bool[] truncated)
    {
        var n = texts.Count;
        var (h1, d1, p1) = Clip(_model.TextEncoder!, _model.Tokenizer!, texts, _model.PenultimateHidden1, clock, ct, out truncated);
        var (h2, d2, p2) = Clip(_model.TextEncoder2!, _model.Tokenizer2!, texts, _model.PenultimateHidden2, clock, ct, out var truncated2);
        for (var i = 0; i < n; i++)
        {
            truncated[i] |= truncated2[i];
        }

        var joint = _model.JointWidth;
        if (d1 + d2 > joint)
        {
            throw new DiffusionException($"{_model.Folder}: the CLIP hidden widths {d1} + {d2} exceed the transformer's joint width {joint}");
        }

        var t5Rows = settings.MaxSequenceLength;
        var sequence = ClipLength + t5Rows;
        var embeds = new float[n * sequence * joint];
        for (var b = 0; b < n; b++)
        {
            for (var r = 0; r < ClipLength; r++)
            {
                var dst = embeds.AsSpan(((b * sequence) + r) * joint, joint);
                h1.AsSpan(((b * ClipLength) + r) * d1, d1).CopyTo(dst);
                h2.AsSpan(((b * ClipLength) + r) * d2, d2).CopyTo(dst[d1..]);
            }
        }

        if (_model.TextEncoder3 is not null && !settings.SkipT5)
        {
            var ids = new long[n * t5Rows];
            var cut = _model.Tokenizer3!.EncodeBatch(texts, ids, t5Rows);
            for (var i = 0; i < n; i++)
            {
                truncated[i] |= cut[i];
            }

            var idsType = _model.TextEncoder3.InputMetadata["input_ids"].ElementDataType;
            using var input = idsType == TensorElementType.Int32
                ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(ids, v => (int)v), [n, t5Rows])
                : OrtValue.CreateTensorValueFromMemory(ids, [n, t5Rows]);
            using var outputs = clock.Run(_model.TextEncoder3, new Dictionary<string, OrtValue> { ["input_ids"] = input }, ["last_hidden_state"], ct);
            var shape = TensorIo.Shape(outputs[0]);
            if (shape.Length != 3 || shape[0] != n || shape[1] != t5Rows || shape[2] != joint)
            {
                throw new DiffusionException($"{_model.PathOf("text_encoder_3")}: last_hidden_state has shape [{string.Join(", ", shape)}]; expected [{n}, {t5Rows}, {joint}]");
            }

            var t5 = TensorIo.Output(outputs[0]);
            for (var b = 0; b < n; b++)
            {
                t5.AsSpan(b * t5Rows * joint, t5Rows * joint).CopyTo(embeds.AsSpan(((b * sequence) + ClipLength) * joint));
            }
        }

        var pooled = new float[n * (p1.Length / n + p2.Length / n)];
        int w1 = p1.Length / n, w2 = p2.Length / n;
        for (var b = 0; b < n; b++)
        {
            p1.AsSpan(b * w1, w1).CopyTo(pooled.AsSpan(b * (w1 + w2)));
            p2.AsSpan(b * w2, w2).CopyTo(pooled.AsSpan((b * (w1 + w2)) + w1));
        }

        if (w1 + w2 != _model.PooledWidth)
        {
            throw new DiffusionException($"{_model.Folder}: the CLIP text_embeds widths {w1} + {w2} do not give the transformer's pooled width {_model.PooledWidth}");
        }

        return new Conditioning(embeds, sequence, pooled);
    }

    private static (float[] Hidden, int Width, float[] Pooled) Clip(InferenceSession encoder, Tokenizers.ClipTokenizer tokenizer, IReadOnlyList<string> texts, string hiddenName, OrtClock clock, CancellationToken ct, out bool[] truncated)
    {
        var n = texts.Count;
        var ids = new long[n * ClipLength];
        truncated = new bool[n];
        tokenizer.EncodeBatch(texts, ids, Span<long>.Empty, ClipLength, truncated);
        var idsType = encoder.InputMetadata["input_ids"].ElementDataType;
        using var input = idsType == TensorElementType.Int32
            ? OrtValue.CreateTensorValueFromMemory(Array.ConvertAll(ids, v => (int)v), [n, ClipLength])
            : OrtValue.CreateTensorValueFromMemory(ids, [n, ClipLength]);
        using var outputs = clock.Run(encoder, new Dictionary<string, OrtValue> { ["input_ids"] = input }, [hiddenName, "text_embeds"], ct);
        var shape = TensorIo.Shape(outputs[0]);
        if (shape.Length != 3 || shape[0] != n || shape[1] != ClipLength)
        {
            throw new DiffusionException($"text encoder output '{hiddenName}' has shape [{string.Join(", ", shape)}]; expected [{n}, {ClipLength}, width]");
        }

        var pooled = TensorIo.Output(outputs[1]);
        if (pooled.Length % n != 0)
        {
            throw new DiffusionException("text encoder output 'text_embeds' does not have one row per prompt");
        }

        return (TensorIo.Output(outputs[0]), (int)shape[2], pooled);
    }

    private static OrtValue Timestep(double t, int rows, NodeMetadata meta)
    {
        // optimum: a float vector [batch] (diffusers passes t.expand(batch)).
        var values = Enumerable.Repeat((float)t, rows).ToArray();
        return meta.ElementDataType switch
        {
            TensorElementType.Int64 => OrtValue.CreateTensorValueFromMemory(Enumerable.Repeat((long)Math.Round(t), rows).ToArray(), [rows]),
            _ => TensorIo.Input(values, meta.ElementDataType, rows),
        };
    }

    private GeneratedImageResult[] Decode(float[] latents, int batch, int c, int h, int w, GenerationSettings settings,
        IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, string?[] failed, bool[] truncated, OrtClock clock, CancellationToken ct)
    {
        var perItem = c * h * w;
        var ok = Enumerable.Range(0, batch).Where(b => failed[b] is null).ToArray();
        float[] pixels = [];
        if (ok.Length > 0)
        {
            var input = new float[ok.Length * perItem];
            for (var k = 0; k < ok.Length; k++)
            {
                latents.AsSpan(ok[k] * perItem, perItem).CopyTo(input.AsSpan(k * perItem));
            }

            // diffusers: (latents / scaling_factor) + shift_factor.
            TensorPrimitives.Divide(input, (float)_model.VaeScalingFactor, input);
            TensorPrimitives.Add(input, (float)_model.VaeShiftFactor, input);
            var meta = _model.VaeDecoder.InputMetadata["latent_sample"];
            using var value = TensorIo.Input(input, meta.ElementDataType, ok.Length, c, h, w);
            using var outputs = clock.Run(_model.VaeDecoder, new Dictionary<string, OrtValue> { ["latent_sample"] = value }, ["sample"], ct);
            var shape = TensorIo.Shape(outputs[0]);
            if (shape.Length != 4 || shape[0] != ok.Length || shape[1] != 3 || shape[2] != settings.Height || shape[3] != settings.Width)
            {
                throw new DiffusionException($"{_model.PathOf("vae_decoder")}: output 'sample' is [{string.Join(", ", shape)}]; expected [{ok.Length}, 3, {settings.Height}, {settings.Width}]");
            }

            pixels = TensorIo.Output(outputs[0]);
        }

        return VaeImages.ToResults(pixels, settings.Width, settings.Height, prompts, seeds, failed, truncated, "the VAE decoder produced NaN or infinite pixels");
    }

    private static string[] Repeat(string text, int count) => Enumerable.Repeat(text, count).ToArray();

    private static float[] Concat(float[] a, float[] b)
    {
        var r = new float[a.Length + b.Length];
        a.CopyTo(r, 0);
        b.CopyTo(r, a.Length);
        return r;
    }

    private sealed record Conditioning(float[] Embeds, int Sequence, float[] Pooled);
}
