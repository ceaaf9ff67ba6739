using System.Text.Json;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;
using TorchSharp;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// The DPO objective against Fixtures/make_dpo_reference.py (TRL v0.28.0's definitions in PyTorch): the
/// tiny LLaVA with the script's LoRA adapter (B nonzero, so policy and reference differ), three pairs of
/// different lengths (one text-only, one whose chosen response is cut by the context), sigmoid with and
/// without label smoothing, IPO and robust, each with the reference computed (adapters disabled) and
/// precomputed; loss, TRL's metrics, per-pair scores and the gradients of every LoRA tensor and the projector.
/// </summary>
public sealed class DpoObjectiveTests(ITestOutputHelper log)
{
    // fp32 on both sides with a different order of operations (as LlavaParityTests): within 1e-5 of
    // max(1, |expected|) — the IPO loss (~25) and gradient sums (~100) are compared relative to their size.
    private const double Tolerance = 1e-5;
    private const string ProjectorPrefix = "multi_modal_projector.";
    private const string PeftPrefix = "base_model.model.";

    private static readonly JsonElement Reference =
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Scripts.Fixtures, "dpo_reference.json"))).RootElement;

    public static TheoryData<string, bool> Cases()
    {
        var data = new TheoryData<string, bool>();
        foreach (var c in Reference.GetProperty("cases").EnumerateArray())
        {
            data.Add(c.GetProperty("name").GetString()!, c.GetProperty("precomputed").GetBoolean());
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Loss_metrics_pair_scores_and_gradients_equal_the_PyTorch_reference_within_1e5(string name, bool precomputed)
    {
        var expected = Reference.GetProperty("cases").EnumerateArray()
            .Single(c => c.GetProperty("name").GetString() == name && c.GetProperty("precomputed").GetBoolean() == precomputed);
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        using var pixels = PairPixels();
        var pairs = Pairs();
        var options = Options(expected);
        var objective = new DpoObjective(model, options, lora);
        var reference = precomputed ? Precomputed(expected.GetProperty("reference_logps")) : null;

        using var output = objective.Compute(pairs, pixels, reference);
        output.Loss.backward();

        // Scales (the tolerance is 1e-5 of them): a quantity's own size, max(1, |expected|), except where it
        // is a difference of larger float32 numbers. A reward is β times a difference of log-probs of up to
        // ~220 that agree to ~1e-7 of their size, so its scale is β·max|log-prob| of the batch; a gradient is
        // compared as a whole tensor, ‖Δ‖ against ‖g‖ (entries summed over mixed signs lose digits to
        // cancellation, the vector does not). A sigmoid or robust loss moves at most 1/(1−2ε) per unit of
        // β·l, so its scale is also at least β·max|log-prob|.
        var checks = new List<(string Kind, string What, double Actual, double Expected, double Scale)>();
        void Check(string kind, string what, double actual, double expectedValue, double scale) =>
            checks.Add((kind, what, actual, expectedValue, Math.Max(1, scale)));

        var metrics = output.Metrics.ToDictionary();
        metrics.Keys.Should().BeEquivalentTo(expected.GetProperty("metrics").EnumerateObject().Select(m => m.Name).Append(DpoMetricNames.Loss));
        var policy = expected.GetProperty("policy_logps");
        var largestLogps = new[] { policy.GetProperty("chosen"), policy.GetProperty("rejected") }
            .Concat(precomputed ? [expected.GetProperty("reference_logps").GetProperty("chosen"), expected.GetProperty("reference_logps").GetProperty("rejected")] : [])
            .SelectMany(a => a.EnumerateArray().Select(e => Math.Abs(e.GetDouble())))
            .Concat(output.Pairs.SelectMany(p => new[] { Math.Abs(p.Reference.Chosen), Math.Abs(p.Reference.Rejected) }))
            .Max();
        var rewardScale = options.Beta * largestLogps;
        var lossFloor = options.LossType == DpoLossType.Ipo ? 0 : rewardScale / (1 - (2 * options.LabelSmoothing));
        Check("loss", "loss", output.Metrics.Loss, expected.GetProperty("loss").GetDouble(), Math.Max(lossFloor, Math.Abs(expected.GetProperty("loss").GetDouble())));
        foreach (var metric in expected.GetProperty("metrics").EnumerateObject())
        {
            var value = metric.Value.GetDouble();
            Check("metric", metric.Name, metrics[metric.Name], value, metric.Name.StartsWith("rewards/", StringComparison.Ordinal) ? rewardScale : Math.Abs(value));
        }
        var perPair = expected.GetProperty("per_pair");
        for (var i = 0; i < pairs.Count; i++)
        {
            var score = output.Pairs[i];
            score.Id.Should().Be(pairs[i].Id);
            Check("logps", $"{score.Id} chosen", score.ChosenLogps, policy.GetProperty("chosen")[i].GetDouble(), Math.Abs(policy.GetProperty("chosen")[i].GetDouble()));
            Check("logps", $"{score.Id} rejected", score.RejectedLogps, policy.GetProperty("rejected")[i].GetDouble(), Math.Abs(policy.GetProperty("rejected")[i].GetDouble()));
            Check("reward", $"{score.Id} chosen", score.ChosenReward, perPair.GetProperty("chosen_rewards")[i].GetDouble(), rewardScale);
            Check("reward", $"{score.Id} rejected", score.RejectedReward, perPair.GetProperty("rejected_rewards")[i].GetDouble(), rewardScale);
            Check("pair loss", score.Id, score.Loss, perPair.GetProperty("losses")[i].GetDouble(), Math.Max(lossFloor, Math.Abs(perPair.GetProperty("losses")[i].GetDouble())));
            score.ChosenTokens.Should().Be(Reference.GetProperty("completion_tokens").GetProperty("chosen")[i].GetInt64());
            score.RejectedTokens.Should().Be(Reference.GetProperty("completion_tokens").GetProperty("rejected")[i].GetInt64());
        }
        output.Truncated.Should().Be(1, "pair-image-1-truncated's chosen side runs past the context");

        var trained = lora.Adapters
            .SelectMany(a => new[] { (PeftPrefix + a.Key + ".lora_A.weight", (Tensor)a.Value.A), (PeftPrefix + a.Key + ".lora_B.weight", (Tensor)a.Value.B) })
            .Concat(model.named_parameters().Where(p => p.name.StartsWith(ProjectorPrefix, StringComparison.Ordinal)).Select(p => (p.name, (Tensor)p.parameter)))
            .ToList();
        var gradients = expected.GetProperty("gradients");
        trained.Select(t => t.Item1).Should().BeEquivalentTo(gradients.EnumerateObject().Select(p => p.Name));
        var squares = 0.0;
        var whole = 0;
        foreach (var (tensorName, parameter) in trained)
        {
            var summary = gradients.GetProperty(tensorName);
            using var flat = parameter.grad!.detach().flatten().to_type(ScalarType.Float64);
            var values = flat.data<double>().ToArray();
            squares += values.Sum(v => v * v);
            var norm = summary.GetProperty("norm").GetDouble();
            Check("gradient norm", tensorName, Math.Sqrt(values.Sum(v => v * v)), norm, norm);
            if (summary.TryGetProperty("float32_base64", out var data))
            {
                var reference32 = Floats(data);
                reference32.Should().HaveCount(values.Length, tensorName);
                var difference = Math.Sqrt(values.Select((v, i) => (v - reference32[i]) * (v - reference32[i])).Sum());
                Check("gradient tensor", tensorName, difference, 0, norm);
                whole++;
            }
        }
        whole.Should().Be(9, "the script stores nine whole gradients");
        Check("gradient norm", "global", Math.Sqrt(squares), expected.GetProperty("gradient_norm").GetDouble(), expected.GetProperty("gradient_norm").GetDouble());

        foreach (var kind in checks.GroupBy(c => c.Kind))
        {
            var worst = kind.MaxBy(c => Math.Abs(c.Actual - c.Expected) / c.Scale);
            log.WriteLine($"{kind.Key}: worst {Math.Abs(worst.Actual - worst.Expected) / worst.Scale:E2} of scale ({worst.What}: {worst.Actual} vs {worst.Expected})");
        }
        log.WriteLine($"{name} ({(precomputed ? "precomputed" : "computed")} reference): loss {output.Metrics.Loss:F6}, accuracies {output.Metrics.RewardsAccuracies:F3}, |g| {Math.Sqrt(squares):F5}");
        checks.Where(c => Math.Abs(c.Actual - c.Expected) > Tolerance * c.Scale)
            .Select(c => $"{c.Kind} {c.What}: {c.Actual} vs PyTorch's {c.Expected} (scale {c.Scale})")
            .Should().BeEmpty();
    }

    [Fact]
    public void Reference_logps_are_the_base_models_with_the_adapters_disabled_and_the_adapters_come_back()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        using var pixels = PairPixels();
        var pairs = Pairs();
        var sigmoid = new DpoObjective(model, new DpoOptions(0.1), lora);
        var ipo = new DpoObjective(model, new DpoOptions(0.1, DpoLossType.Ipo), lora);
        using var before = sigmoid.Compute(pairs, pixels);

        var sums = sigmoid.ReferenceLogps(pairs, pixels);
        var averages = ipo.ReferenceLogps(pairs, pixels);

        var expected = Reference.GetProperty("reference_logps");
        var tokens = Reference.GetProperty("completion_tokens");
        for (var i = 0; i < pairs.Count; i++)
        {
            Close(sums[i].Chosen, expected.GetProperty("chosen")[i].GetDouble(), $"pair {i} chosen reference");
            Close(sums[i].Rejected, expected.GetProperty("rejected")[i].GetDouble(), $"pair {i} rejected reference");
            Close(averages[i].Chosen, expected.GetProperty("chosen")[i].GetDouble() / tokens.GetProperty("chosen")[i].GetDouble(), $"pair {i} IPO chosen reference");
            Close(averages[i].Rejected, expected.GetProperty("rejected")[i].GetDouble() / tokens.GetProperty("rejected")[i].GetDouble(), $"pair {i} IPO rejected reference");
        }
        var attached = model.named_modules().Select(m => m.module).OfType<LinearLayer>().Select(l => l.Adapter).OfType<LoraAdapter>().Distinct().ToList();
        attached.Should().HaveCount(lora.Adapters.Count, "Disable's scope re-attaches every adapter");
        lora.Adapters.Values.Should().OnlyContain(a => attached.Contains(a));
        using var after = sigmoid.Compute(pairs, pixels, sums);
        after.Metrics.Loss.Should().Be(before.Metrics.Loss, "the stored reference log-probs give what the computed ones gave");
        before.Metrics.RewardsMargins.Should().NotBe(0, "the adapter's B is nonzero, so policy and reference differ");
    }

    [Fact]
    public void Three_DPO_steps_with_MasterWeightAdamW_equal_PyTorchs_losses_norms_metrics_and_trained_LoRA()
    {
        var training = Reference.GetProperty("training");
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        foreach (var (_, parameter) in model.named_parameters())
        {
            parameter.requires_grad = false;
        }
        using var pixels = LlavaParityTests.Pixels();
        var pairs = Pairs();
        var imageOf = Reference.GetProperty("pairs").EnumerateArray()
            .Select(p => p.GetProperty("image").ValueKind == JsonValueKind.Null ? (int?)null : p.GetProperty("image").GetInt32()).ToList();
        var objective = new DpoObjective(model, Options(training), lora);
        using var optimizer = new MasterWeightAdamW([new ParameterGroup("lora", [.. lora.Parameters()])]);
        var micro = training.GetProperty("micro_batches").EnumerateArray().Select(m => m.EnumerateArray().Select(e => e.GetInt32()).ToList()).ToList();

        var steps = training.GetProperty("steps").EnumerateArray().ToList();
        var results = new List<DpoStepResult>();
        foreach (var _ in steps)
        {
            using var scope = NewDisposeScope();
            var batches = micro.Select(m =>
            {
                var images = m.Where(i => imageOf[i] is not null).Select(i => pixels[imageOf[i]!.Value]).ToList();
                return new DpoMicroBatch([.. m.Select(i => pairs[i])], images.Count > 0 ? stack(images) : null);
            }).ToList();
            results.Add(DpoTraining.Step(objective, optimizer, batches, training.GetProperty("lr").GetDouble(), training.GetProperty("max_grad_norm").GetDouble()));
        }

        var worst = 0.0;
        void Near(double actual, double expected, string what)
        {
            var error = Math.Abs(actual - expected) / Math.Max(1, Math.Abs(expected));
            worst = Math.Max(worst, error);
            error.Should().BeLessThanOrEqualTo(Tolerance, $"{what}: {actual} vs PyTorch's {expected}");
        }
        for (var s = 0; s < steps.Count; s++)
        {
            results[s].SkippedUpdate.Should().BeFalse();
            results[s].Scores.Should().HaveCount(pairs.Count);
            Near(results[s].Metrics.Loss, steps[s].GetProperty("loss").GetDouble(), $"step {s + 1} loss");
            Near(results[s].GradientNorm, steps[s].GetProperty("grad_norm").GetDouble(), $"step {s + 1} gradient norm");
            var metrics = results[s].Metrics.ToDictionary();
            foreach (var metric in steps[s].GetProperty("metrics").EnumerateObject())
            {
                Near(metrics[metric.Name], metric.Value.GetDouble(), $"step {s + 1} {metric.Name}");
            }
        }
        results[^1].Metrics.RewardsMargins.Should().BeGreaterThan(results[0].Metrics.RewardsMargins, "descending the DPO loss widens the chosen-over-rejected margin");
        var trained = training.GetProperty("trained");
        var whole = 0;
        foreach (var (path, adapter) in lora.Adapters)
        {
            foreach (var (name, tensor) in new[] { (PeftPrefix + path + ".lora_A.weight", (Tensor)adapter.A), (PeftPrefix + path + ".lora_B.weight", adapter.B) })
            {
                using var flat = tensor.detach().flatten().to_type(ScalarType.Float64);
                var values = flat.data<double>().ToArray();
                var expected = trained.GetProperty(name);
                var norm = expected.GetProperty("norm").GetDouble();
                Near(Math.Sqrt(values.Sum(v => v * v)), norm, name + " norm");
                if (expected.TryGetProperty("float32_base64", out var data))
                {
                    var reference32 = Floats(data);
                    var difference = Math.Sqrt(values.Select((v, i) => (v - reference32[i]) * (v - reference32[i])).Sum());
                    (difference / Math.Max(1, norm)).Should().BeLessThanOrEqualTo(Tolerance, name);
                    worst = Math.Max(worst, difference / Math.Max(1, norm));
                    whole++;
                }
            }
        }
        whole.Should().Be(7, "the script stores seven whole LoRA tensors");
        log.WriteLine($"losses {string.Join(", ", results.Select(r => r.Metrics.Loss.ToString("F6", System.Globalization.CultureInfo.InvariantCulture)))}; worst difference {worst:E2} of scale");
    }

    [Fact]
    public void A_pair_from_text_has_the_scripts_ids_and_an_empty_caption_stays_empty_for_the_check_to_name()
    {
        var encoder = new Prompts.LlavaPromptEncoder(Tokenizers.SentencePieceLlamaTokenizer.FromFolder(LlavaParityTests.TinyModel));
        var script = Pairs()[0];

        var pair = DpoPair.FromText(encoder, "pair-image-0", "Describe the image.", "A red bird on a snowy mountain.", "Two cats sit on a blue boat near a lake at dawn.");

        pair.PromptIds.Should().Equal(script.PromptIds);
        pair.ChosenIds.Should().Equal(script.ChosenIds);
        pair.RejectedIds.Should().Equal(script.RejectedIds);
        DpoPair.FromText(encoder, "empty", "Describe the image.", "A bird.", "").RejectedIds.Should().BeEmpty();
    }

    [Fact]
    public void A_step_with_a_bad_pair_throws_and_leaves_no_gradient_behind()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        using var pixels = PairPixels();
        var pairs = Pairs();
        var objective = new DpoObjective(model, new DpoOptions(), lora);
        using var optimizer = new MasterWeightAdamW([new ParameterGroup("lora", [.. lora.Parameters()])]);
        var good = new DpoMicroBatch(pairs, pixels);
        var bad = new DpoMicroBatch([pairs[1] with { Id = "empty-chosen", ChosenIds = [] }], null);

        var act = () => DpoTraining.Step(objective, optimizer, [good, bad], 1e-3, 1.0);

        act.Should().Throw<DpoPairException>().Where(e => e.PairId == "empty-chosen");
        lora.Parameters().Count(p => p.grad is not null).Should().Be(0, "the good micro-batch's gradients are dropped with the step");
        optimizer.Steps.Should().Be(0);
    }

    [Fact]
    public void An_empty_response_names_the_pair_and_the_side()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        var pairs = Pairs().Where(p => !p.HasImage(model.Config)).Select(p => p with { Id = "caption-17", RejectedIds = [] }).ToList();
        var objective = new DpoObjective(model, new DpoOptions(), lora);

        var act = () => objective.Compute(pairs, null);

        act.Should().Throw<DpoPairException>().Where(e => e.PairId == "caption-17")
            .WithMessage("*'caption-17'*rejected response is empty*");
    }

    [Fact]
    public void A_pair_whose_responses_are_fully_truncated_names_the_pair_and_the_positions()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var lora = LoadAdapter(model);
        using var pixels = PairPixels();
        var pairs = Pairs();
        var image = pairs[0];
        // 120 prompt ids with the marker: 119 text + 9 image positions = 128, the whole context.
        var longPrompt = image.PromptIds.Concat(Enumerable.Repeat(image.PromptIds[^1], 120 - image.PromptIds.Length)).ToArray();
        pairs[0] = image with { Id = "long-prompt", PromptIds = longPrompt };
        var objective = new DpoObjective(model, new DpoOptions(), lora);

        var act = () => objective.Compute(pairs, pixels);

        act.Should().Throw<DpoPairException>().Where(e => e.PairId == "long-prompt")
            .WithMessage("*'long-prompt'*fully truncated*128 positions (9 of them the image)*context holds 128*");
        pairs[0] = image with { PromptIds = longPrompt[..^1] };
        using var output = objective.Compute(pairs, pixels);
        output.Pairs[0].ChosenTokens.Should().Be(1, "one position left: the first response token, predicted from the prompt's last");
    }

    [Fact]
    public void Mismatched_references_or_images_and_a_missing_reference_are_refused_with_the_counts()
    {
        using var model = LlavaModelLoader.Load(LlavaParityTests.TinyModel);
        using var pixels = PairPixels();
        var pairs = Pairs();
        var noReference = new DpoObjective(model, new DpoOptions());

        noReference.Invoking(o => o.Compute(pairs, pixels)).Should().Throw<InvalidOperationException>().WithMessage("*no reference*");
        noReference.Invoking(o => o.Compute(pairs, pixels, [new DpoReferenceLogps(-1, -2)])).Should().Throw<ArgumentException>().WithMessage("1 precomputed reference log-probs were given for 3 pairs*");
        noReference.Invoking(o => o.Compute(pairs, pixels, [new(-1, -2), new(-1, double.NaN), new(-1, -2)])).Should().Throw<DpoPairException>().Where(e => e.PairId == "pair-text");
        noReference.Invoking(o => o.Compute(pairs, null, [new(-1, -2), new(-1, -2), new(-1, -2)])).Should().Throw<ArgumentException>().WithMessage("*2 pairs with an image but 0 images*");
        noReference.Invoking(o => o.Compute([pairs[1], pairs[1]], null, [new(-1, -2), new(-1, -2)])).Should().Throw<DpoPairException>().WithMessage("*'pair-text'*twice*");
        var marker = pairs[1] with { ChosenIds = [5, LlavaConfig.LlavaImageTokenIndex, 2] };
        noReference.Invoking(o => o.Compute([marker], null, [new(-1, -2)])).Should().Throw<DpoPairException>().WithMessage("*chosen response holds the image marker -200 at index 1*");
    }

    [Theory]
    [InlineData(0.0, DpoLossType.Sigmoid, 0.0, "*beta*positive*0*")]
    [InlineData(0.1, DpoLossType.Robust, 0.5, "*robust loss must be in [0, 0.5)*0.5*")]
    [InlineData(0.1, DpoLossType.Sigmoid, 0.6, "*sigmoid loss must be in [0, 0.5]*0.6*")]
    [InlineData(0.1, DpoLossType.Ipo, 0.1, "*IPO has no label smoothing*")]
    public void Options_out_of_range_are_refused_with_the_field_and_value(double beta, DpoLossType lossType, double smoothing, string message)
    {
        var act = () => new DpoOptions(beta, lossType, smoothing).Validate();

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage(message);
    }

    private static DpoOptions Options(JsonElement c) => new(
        c.GetProperty("beta").GetDouble(),
        c.GetProperty("loss_type").GetString() switch
        {
            "sigmoid" => DpoLossType.Sigmoid,
            "ipo" => DpoLossType.Ipo,
            "robust" => DpoLossType.Robust,
            var other => throw new InvalidDataException($"unknown loss type {other}"),
        },
        c.GetProperty("label_smoothing").GetDouble());

    private static List<DpoReferenceLogps> Precomputed(JsonElement r) =>
        [.. r.GetProperty("chosen").EnumerateArray().Zip(r.GetProperty("rejected").EnumerateArray(), (c, j) => new DpoReferenceLogps(c.GetDouble(), j.GetDouble()))];

    private static List<DpoPair> Pairs() =>
        [.. Reference.GetProperty("pairs").EnumerateArray().Select(p => new DpoPair(
            p.GetProperty("id").GetString()!, Ids(p, "prompt_ids"), Ids(p, "chosen_ids"), Ids(p, "rejected_ids")))];

    private static int[] Ids(JsonElement p, string name) => [.. p.GetProperty(name).EnumerateArray().Select(e => e.GetInt32())];

    /// <summary>The images of the pairs that have one, in order (the script's pixels, make_llava_reference's generator).</summary>
    private static Tensor PairPixels()
    {
        using var all = LlavaParityTests.Pixels();
        var images = Reference.GetProperty("pairs").EnumerateArray()
            .Where(p => p.GetProperty("image").ValueKind != JsonValueKind.Null)
            .Select(p => all[p.GetProperty("image").GetInt32()]).ToList();
        var stacked = stack(images);
        images.ForEach(i => i.Dispose());
        return stacked;
    }

    private static LlavaLoraSet LoadAdapter(LlavaModel model)
    {
        foreach (var (name, parameter) in model.named_parameters())
        {
            parameter.requires_grad = name.StartsWith(ProjectorPrefix, StringComparison.Ordinal);
        }
        return LlavaLora.Load(model, Path.Combine(Scripts.Fixtures, Reference.GetProperty("adapter").GetString()!));
    }

    private static float[] Floats(JsonElement base64)
    {
        var bytes = Convert.FromBase64String(base64.GetString()!);
        var values = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    private static void Close(double actual, double expected, string what) =>
        Math.Abs(actual - expected).Should().BeLessThanOrEqualTo(Tolerance * Math.Max(1, Math.Abs(expected)), $"{what}: {actual} vs PyTorch's {expected}");
}
