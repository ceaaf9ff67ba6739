using System.Text.Json.Nodes;
using SynthVlm.Vlm.Training;
using static TorchSharp.torch;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// LoRA DPO on a preference-pairs JSONL file with the tiny LLaVA: bad lines (torn, empty side, missing image, fully
/// truncated) are skipped with a record and the others train; the first step's loss is ln 2 (the LoRA starts at zero,
/// so the policy is its reference); the merged checkpoint loads and differs from the start; report and chart written.
/// </summary>
public sealed class DpoPairsTrainerTests : IDisposable
{
    private static readonly string[] Images = [.. Directory.GetFiles(Path.Combine(Scripts.Fixtures, "llava_images")).Order(StringComparer.Ordinal).Take(2)];
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-dpo-pairs-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Bad_pairs_are_skipped_with_a_record_and_the_rest_train_into_a_merged_checkpoint()
    {
        var pairs = Path.Combine(_dir, "pairs.jsonl");
        var longPrompt = string.Join(' ', Enumerable.Repeat("describe", 150));
        File.WriteAllLines(pairs,
        [
            Line("a", Images[0], "Describe the image.", "A red square.", "A blue dog on a red square."),
            Line("b", Images[1], "Describe the image.", "", "A cat."),
            Line("c", Path.Combine(_dir, "missing.png"), "Describe the image.", "A tile.", "A dog."),
            Line("d", Images[1], longPrompt, "A tile.", "A dog."),
            Line("e", Images[1], "Describe the image.", "Grey tiles.", "Grey tiles and a horse."),
            "",
            "{\"image_id\": \"f\", \"image\": \"x.png\", \"prom",
        ]);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        using var before = pipeline.Model.named_parameters().First(p => p.name == "language_model.model.layers.0.self_attn.q_proj.weight").parameter.detach().clone();
        var output = Path.Combine(_dir, "dpo");
        var steps = new List<DpoStepRecord>();

        var result = new DpoPairsTrainer(pipeline, new DpoPairsTrainingOptions
        {
            OutputDirectory = output,
            PairsPerStep = 2,
            MicroBatchSize = 1,
            LearningRate = 1e-2,
            LoraRank = 4,
            LoraAlpha = 8,
            Epochs = 2,
        }).Run(pairs, steps.Add);

        result.PairsRead.Should().Be(6);
        result.PairsSkipped.Should().Be(4);
        result.Steps.Should().HaveCount(2, "two usable pairs, two per step, two epochs");
        steps.Should().HaveCount(2);
        result.Steps.Select(s => s.Pairs).Should().Equal(2, 2);
        result.Steps[0].Metrics.Loss.Should().BeApproximately(Math.Log(2), 1e-5);
        result.Steps[0].Metrics.RewardsMargins.Should().BeApproximately(0, 1e-6);
        result.Steps[1].Metrics.RewardsMargins.Should().BePositive("one step of DPO moves the chosen above the rejected");

        var skipped = File.ReadAllLines(Path.Combine(output, "skipped_pairs.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        skipped.Select(s => s["line"]!.GetValue<int>()).Should().Equal(2, 3, 4, 7);
        skipped[0]["reason"]!.GetValue<string>().Should().Contain("line 2").And.Contain("\"chosen\" field is missing or empty");
        skipped[1]["reason"]!.GetValue<string>().Should().Contain("missing.png");
        skipped[2]["reason"]!.GetValue<string>().Should().Contain("fully truncated");
        skipped[3]["reason"]!.GetValue<string>().Should().Contain("not a JSON object");

        var report = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "report.json")))!;
        report["log_history"]!.AsArray().Should().HaveCount(2);
        report["summary"]!["pairs_skipped"]!.GetValue<int>().Should().Be(4);
        report["log_history"]![0]!["rewards/accuracies"].Should().NotBeNull();
        File.ReadAllLines(Path.Combine(output, "trainer_log.jsonl")).Should().HaveCount(2);
        File.ReadAllText(Path.Combine(output, "metrics.svg")).Should().Contain("rewards/accuracies per step");

        using var trained = LlavaPipeline.Open(result.ModelDirectory);
        using var after = trained.Model.named_parameters().First(p => p.name == "language_model.model.layers.0.self_attn.q_proj.weight").parameter.detach();
        using var difference = after.add(before, TorchScalars.MinusOne);
        difference.abs().max().item<float>().Should().BeGreaterThan(0, "the merged LoRA changed the weights");
    }

    [Fact]
    public void A_file_without_a_usable_pair_stops_with_the_count()
    {
        var pairs = Path.Combine(_dir, "pairs.jsonl");
        File.WriteAllText(pairs, "not json\n");
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);

        var act = () => new DpoPairsTrainer(pipeline, new DpoPairsTrainingOptions { OutputDirectory = Path.Combine(_dir, "dpo") }).Run(pairs);

        act.Should().Throw<TrainingStoppedException>().WithMessage("*no usable preference pair (1 lines read, 1 skipped*");
        var bad = () => new DpoPairsTrainer(pipeline, new DpoPairsTrainingOptions { OutputDirectory = _dir, MicroBatchSize = 0 });
        bad.Should().Throw<ArgumentOutOfRangeException>().WithMessage("DpoPairsTrainingOptions.MicroBatchSize must be at least 1; found 0.*");
    }

    private static string Line(string id, string image, string prompt, string chosen, string rejected) => new JsonObject
    {
        ["image_id"] = id,
        ["image"] = image,
        ["prompt"] = prompt,
        ["chosen"] = chosen,
        ["rejected"] = rejected,
    }.ToJsonString();
}
