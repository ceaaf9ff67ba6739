using System.Diagnostics;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace SynthVlm.Bench.Vlm;

/// <summary>
/// LLaVA-1.5-7B's shapes with random weights (no download): stage-1 and LoRA stage-2 training steps
/// and batched generation, for a GPU node to measure what the real model will do
/// (eng/gpu/check_vlm.sh). On CPU, run it with --layers 1 --vision-layers 1 to check the code path.
/// Usage: --synthetic-7b [--layers N] [--vision-layers N] [--batch B] [--steps N] [--text-tokens T] [--device cpu|cuda] [--dtype float32|bfloat16]
/// </summary>
internal static class Synthetic7B
{
    public static int Run(string[] args)
    {
        int Int(string name, int fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() is { } v ? int.Parse(v, System.Globalization.CultureInfo.InvariantCulture) : fallback;
        string Str(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var layers = Int("--layers", 32);
        var visionLayers = Int("--vision-layers", 24);
        var batch = Int("--batch", 16);
        var steps = Int("--steps", 5);
        var textTokens = Int("--text-tokens", 60);
        var device = Str("--device", "cpu") == "cuda" ? CUDA : CPU;
        var dtype = Str("--dtype", "bfloat16") == "float32" ? ScalarType.Float32 : ScalarType.BFloat16;
        SynthVlm.Vlm.TorchRuntime.Initialize();
        if (device.type == DeviceType.CUDA)
        {
            InitializeDeviceType(DeviceType.CUDA);
        }
        var config = new LlavaConfig(
            new VisionTowerConfig(1024, 4096, visionLayers, 16, 336, 14),
            new LlamaConfig(32000, 4096, 11008, layers, 32, 32, 4096),
            "mlp2x_gelu", -2, true, LlavaConfig.LlavaImageTokenIndex, "pad", 2048, 0, LlavaLayout.Original);
        Console.WriteLine($"synthetic LLaVA-1.5-7B shapes: {layers} decoder layers, {visionLayers} vision layers, {device.type} {dtype}, batch {batch}, {config.ImageTokenCount} image + {textTokens} text tokens per sample");
        using var model = new LlavaModel(config, device, dtype);
        using (no_grad())
        {
            foreach (var p in model.parameters())
            {
                p.normal_(0, 0.02);
            }
            foreach (var (name, p) in model.named_parameters().Where(n => n.name.EndsWith("layernorm.weight", StringComparison.Ordinal) || n.name.EndsWith("norm.weight", StringComparison.Ordinal) || n.name.Contains("layer_norm", StringComparison.Ordinal) || n.name.Contains("layrnorm", StringComparison.Ordinal)))
            {
                if (name.EndsWith(".weight", StringComparison.Ordinal))
                {
                    p.fill_(1);
                }
            }
        }
        var llmParameters = model.named_parameters().Where(p => p.name.StartsWith("language_model.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        var visionParameters = model.named_parameters().Where(p => p.name.StartsWith("vision_tower.", StringComparison.Ordinal)).Sum(p => p.parameter.numel());
        var random = new Random(1);
        var sequences = Enumerable.Range(0, batch).Select(_ =>
        {
            var ids = new[] { 1, LlavaConfig.LlavaImageTokenIndex }.Concat(Enumerable.Range(0, textTokens).Select(_ => random.Next(3, 32000))).ToArray();
            var labels = ids.Select((id, i) => i < 2 ? LlavaConfig.IgnoreIndex : id).ToArray();
            return new LlavaSequence(ids, labels);
        }).ToList();
        using var pixels = randn([batch, 3, 336, 336], dtype, device);
        var tokensPerSample = config.ImageTokenCount + textTokens + 1;
        // Forward FLOPs per sample ≈ 2 × parameters × positions (decoder) + 2 × vision parameters × 577.
        var forwardFlops = (2.0 * llmParameters * tokensPerSample) + (2.0 * visionParameters * (config.Vision.PatchCount + 1));
        Console.WriteLine($"parameters: LLM {llmParameters / 1e9:F2} B, vision {visionParameters / 1e6:F0} M; forward ≈ {forwardFlops / 1e12:F2} TFLOP per sample");

        model.GradientCheckpointing = true;
        foreach (var (stage, trainLora) in new[] { ("stage 1 (projector)", false), ("stage 2 (LoRA r128)", true) })
        {
            foreach (var p in model.parameters())
            {
                p.requires_grad = false;
            }
            var projector = model.named_parameters().Where(p => p.name.StartsWith("multi_modal_projector.", StringComparison.Ordinal)).Select(p => (Tensor)p.parameter).ToList();
            projector.ForEach(p => p.requires_grad = true);
            using var lora = trainLora ? LlavaLora.Attach(model, 128, 256, dropout: 0.05, seed: 1) : null;
            List<ParameterGroup> groups = lora is null
                ? [new ParameterGroup("projector", projector)]
                : [new ParameterGroup("lora", [.. lora.Parameters()]), new ParameterGroup("projector", projector, 0.1)];
            using var optimizer = new MasterWeightAdamW(groups);
            double seconds = 0;
            for (var step = 0; step <= steps; step++)
            {
                var sw = Stopwatch.StartNew();
                using (var scope = NewDisposeScope())
                {
                    using var output = model.Forward(sequences, pixels);
                    output.Loss!.backward();
                    optimizer.ClipGradientNorm(1.0);
                    optimizer.Step(1e-4);
                    optimizer.ZeroGrad();
                    _ = output.Loss.item<float>();
                }
                if (step > 0)
                {
                    seconds += sw.Elapsed.TotalSeconds;
                }
            }
            var perStep = seconds / Math.Max(1, steps);
            // Backward through a frozen LLM computes input gradients (≈ 1 × forward); checkpointing recomputes the forward (+1).
            var stepFlops = forwardFlops * batch * 3.0;
            Console.WriteLine($"{stage}: {perStep:F3} s/step, {batch / perStep:F2} samples/s, {batch * tokensPerSample / perStep:F0} tokens/s, ≈ {stepFlops / perStep / 1e12:F1} TFLOP/s (forward + recompute + input-gradient backward ≈ 3 × forward)");
        }
        model.GradientCheckpointing = false;

        var generator = new LlavaGenerator(model);
        var requests = Enumerable.Range(0, batch).Select(i => new GenerationRequest(sequences[i].InputIds, pixels[i])).ToList();
        generator.Generate(requests, new GenerationOptions(MaxNewTokens: 2, EosTokenId: -1));
        var watch = Stopwatch.StartNew();
        const int NewTokens = 32;
        generator.Generate(requests, new GenerationOptions(MaxNewTokens: NewTokens, EosTokenId: -1));
        Console.WriteLine($"generation: batch {batch}, {NewTokens} new tokens after a {tokensPerSample}-position prompt: {batch * NewTokens / watch.Elapsed.TotalSeconds:F1} tokens/s ({watch.Elapsed.TotalSeconds:F2} s, prefill included)");
        return 0;
    }
}
