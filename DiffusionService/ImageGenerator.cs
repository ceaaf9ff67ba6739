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
/// defaults, and the seed derivation of the stream worker.
/// </summary>
public sealed class ImageGenerator(SdxlModel baseModel, SdxlModel? refiner, GenerationSettings defaults, int batchSize)
{
    private static readonly Meter Meter = new("SynthVlm.Diffusion");
    private static readonly Counter<long> Images = Meter.CreateCounter<long>("synthvlm.diffusion.images", "{image}", "Images generated, by outcome");
    private static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("synthvlm.diffusion.step.duration", "s", "Duration of one denoising step of a batch");
    private static readonly ActivitySource Source = new("SynthVlm.Diffusion");

    private readonly SdxlPipeline _pipeline = new(baseModel, refiner);
    private readonly SemaphoreSlim _accelerator = new(1, 1);

    /// <summary>Prompts per pipeline call at most.</summary>
    public int BatchSize { get; } = batchSize;

    /// <summary>The model id recorded in provenance (the base folder, plus the refiner's).</summary>
    public string ModelId { get; } = refiner is null ? baseModel.Folder : $"{baseModel.Folder}+{refiner.Folder}";

    /// <summary>The settings a spec asks for, defaults filled in, validated.</summary>
    /// <exception cref="ArgumentException">A field is out of range.</exception>
    public GenerationSettings Resolve(GenerationSpec? spec)
    {
        var s = defaults;
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
                _ = Diffusion.Schedulers.Schedulers.Create(baseModel.SchedulerConfig, name);
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
                var batch = await Task.Run(() => _pipeline.Generate(
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
