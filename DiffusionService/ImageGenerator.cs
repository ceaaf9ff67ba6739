using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Cryptography;
using System.Text;
using SynthVlm.Diffusion;
using SynthVlm.Protos.V1;

namespace SynthVlm.DiffusionService;

/// <summary>
/// The service's generator: one pipeline over the loaded models, one generation at a time (the
/// accelerator is the bottleneck; callers queue on it), request specs merged with the configured
/// defaults, and the seed derivation of the stream worker. The pipeline is SDXL (base, optional
/// refiner) or Stable Diffusion 3 (no refiner), as the base folder's model_index.json says.
/// </summary>
public sealed class ImageGenerator
{
    private static readonly Meter Meter = new("SynthVlm.Diffusion");
    private static readonly Counter<long> Images = Meter.CreateCounter<long>("synthvlm.diffusion.images", "{image}", "Images generated, by outcome");
    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("synthvlm.diffusion.step.duration", "s", "Duration of one denoising step of a batch");
    private static readonly ActivitySource Source = new("SynthVlm.Diffusion");

    private readonly Func<IReadOnlyList<string>, IReadOnlyList<ulong>, GenerationSettings, Action<DiffusionStep>?, CancellationToken, GenerationBatch> _generate;
    private readonly Diffusion.Schedulers.SchedulerConfig _schedulerConfig;
    private readonly GenerationSettings _defaults;
    private readonly SemaphoreSlim _accelerator = new(1, 1);

    /// <summary>An SDXL generator: the base model and, when given, the refiner.</summary>
    public ImageGenerator(SdxlModel baseModel, SdxlModel? refiner, GenerationSettings defaults, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(baseModel);
        var pipeline = new SdxlPipeline(baseModel, refiner);
        _generate = pipeline.Generate;
        _schedulerConfig = baseModel.SchedulerConfig;
        _defaults = defaults;
        BatchSize = batchSize;
        Pipeline = PipelineSdxl;
        ModelId = refiner is null ? baseModel.Folder : $"{baseModel.Folder}+{refiner.Folder}";
    }

    /// <summary>A Stable Diffusion 3 generator (no refiner: the refiner settings do not apply, and a spec asking for it is refused).</summary>
    public ImageGenerator(Sd3Model model, GenerationSettings defaults, int batchSize)
    {
        ArgumentNullException.ThrowIfNull(model);
        var pipeline = new Sd3Pipeline(model);
        _generate = pipeline.Generate;
        _schedulerConfig = model.SchedulerConfig;
        _defaults = defaults with { UseRefiner = false };
        BatchSize = batchSize;
        Pipeline = PipelineSd3;
        ModelId = model.Folder;
        UsesT5 = model.HasT5 && !defaults.SkipT5;
    }

    /// <summary>The <see cref="Pipeline"/> name of the SDXL pipeline.</summary>
    public const string PipelineSdxl = "sdxl";

    /// <summary>The <see cref="Pipeline"/> name of the Stable Diffusion 3 pipeline.</summary>
    public const string PipelineSd3 = "sd3";

    /// <summary>Which pipeline generates: <see cref="PipelineSdxl"/> or <see cref="PipelineSd3"/> (recorded with each image).</summary>
    public string Pipeline { get; }

    /// <summary>SD3 only: whether text_encoder_3 (T5) runs; false for SDXL and for SD3 with SkipT5 or without the encoder.</summary>
    public bool UsesT5 { get; }

    /// <summary>Prompts per pipeline call at most.</summary>
    public int BatchSize { get; }

    /// <summary>The model id recorded in provenance (the base folder, plus the refiner's).</summary>
    public string ModelId { get; }

    /// <summary>The settings a spec asks for, defaults filled in, validated.</summary>
    /// <exception cref="ArgumentException">A field is out of range.</exception>
    public GenerationSettings Resolve(GenerationSpec? spec)
    {
        var s = _defaults;
        if (spec is not null && Pipeline == PipelineSd3 && spec.HasUseRefiner && spec.UseRefiner)
        {
            throw new ArgumentException($"use_refiner: the model {ModelId} is Stable Diffusion 3, which has no refiner.");
        }
        if (spec is not null)
        {
            s = s with
            {
                Width = spec.Width != 0 ? spec.Width : s.Width,
                Height = spec.Height != 0 ? spec.Height : s.Height,
                Steps = spec.Steps != 0 ? spec.Steps : s.Steps,
                Guidance = spec.HasGuidance ? spec.Guidance : s.Guidance,
                NegativePrompt = spec.HasNegativePrompt ? spec.NegativePrompt : s.NegativePrompt,
                RefinerStart = spec.HasRefinerStart ? spec.RefinerStart : s.RefinerStart,
                UseRefiner = spec.HasUseRefiner ? spec.UseRefiner : s.UseRefiner,
                GuidanceRescale = spec.HasGuidanceRescale ? spec.GuidanceRescale : s.GuidanceRescale,
                Scheduler = spec.Scheduler is { Length: > 0 } requested ? requested : s.Scheduler,
                RefinerMode = spec.RefinerMode is { Length: > 0 } mode ? RefinerModes.Parse(mode) : s.RefinerMode,
                RefinerStrength = spec.HasRefinerStrength ? spec.RefinerStrength : s.RefinerStrength,
            };
        }
        if (spec is not null && (spec.Width < 0 || spec.Height < 0 || spec.Steps < 0))
        {
            throw new ArgumentException($"width, height and steps must not be negative; got {spec.Width}, {spec.Height}, {spec.Steps}.");
        }
        s.Validate();
        if (s.Scheduler is { } name)
        {
            try
            {
                _ = Diffusion.Schedulers.Schedulers.Create(_schedulerConfig, name);
            }
            catch (Diffusion.Schedulers.SchedulerConfigException e)
            {
                throw new ArgumentException($"scheduler: {e.Message}", e);
            }
        }
        return s;
    }

    /// <summary>The seed of one variant: a hash of (run seed, caption id, variant), so reruns and replicas agree.</summary>
    public static ulong DeriveSeed(ulong runSeed, string captionId, int variant) =>
        BitConverter.ToUInt64(SHA256.HashData(Encoding.UTF8.GetBytes($"{runSeed}/{captionId}/{variant}")), 0);

    /// <summary>Generates one image per prompt on the accelerator, in batches of <see cref="BatchSize"/>.</summary>
    public async Task<IReadOnlyList<(GeneratedImageResult Result, GenerationTimings Timings)>> GenerateAsync(
        IReadOnlyList<string> prompts, IReadOnlyList<ulong> seeds, GenerationSettings settings, Action<DiffusionStep>? onStep, CancellationToken cancellationToken)
    {
        var results = new List<(GeneratedImageResult, GenerationTimings)>(prompts.Count);
        for (var start = 0; start < prompts.Count; start += BatchSize)
        {
            var count = Math.Min(BatchSize, prompts.Count - start);
            await _accelerator.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                using var activity = Source.StartActivity("generate batch");
                activity?.SetTag("synthvlm.batch.size", count);
                activity?.SetTag("synthvlm.steps", settings.Steps);
                var last = Stopwatch.GetTimestamp();
                var batch = await Task.Run(() => _generate(
                    prompts.Skip(start).Take(count).ToArray(), seeds.Skip(start).Take(count).ToArray(), settings,
                    step =>
                    {
                        var now = Stopwatch.GetTimestamp();
                        StepDuration.Record(Stopwatch.GetElapsedTime(last, now).TotalSeconds);
                        last = now;
                        onStep?.Invoke(step);
                    }, cancellationToken), cancellationToken).ConfigureAwait(false);
                foreach (var image in batch.Images)
                {
                    Images.Add(1, new KeyValuePair<string, object?>("outcome", image.Image is null ? "failed" : "ok"));
                    results.Add((image, batch.Timings));
                }
            }
            finally
            {
                _accelerator.Release();
            }
        }
        return results;
    }
}
