using System.Text.Json;
using System.Text.Json.Nodes;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Vlm.Model;
using SynthVlm.Vlm.Training;

namespace SynthVlm.Vlm.Tests;

/// <summary>
/// Samples whose answer the tiny LLaVA's 128-position context cuts entirely (a long prompt plus the image's
/// positions): counted and skipped when some samples keep an answer, a failed job before the first step when none
/// does; DPO pairs of that kind counted apart. The numbers (9 image positions, 128 context) are the tiny model's.
/// </summary>
[Collection(nameof(ProcessWideState))]
public sealed class AnswerCutTests : IDisposable
{
    private static readonly string LongPrompt = string.Join(' ', Enumerable.Repeat("describe", 150));
    private readonly string dir = Directory.CreateTempSubdirectory("synthvlm-answer-cut-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A LLaVA JSON of <paramref name="good"/> short-prompt samples then <paramref name="cut"/> long-prompt ones, one image.</summary>
    private string Dataset(string name, int good, int cut)
    {
        var folder = Path.Combine(dir, name);
        Directory.CreateDirectory(folder);
        using (var image = RgbImage.Allocate(24, 20))
        {
            image.Pixels.Fill(90);
            ImageCodec.EncodeFile(image, Path.Combine(folder, "a.png"));
        }
        var samples = Enumerable.Range(0, good + cut).Select(i => new
        {
            id = i < good ? $"good{i}" : $"cut{i}",
            image = "a.png",
            conversations = new[]
            {
                new { from = "human", value = (i < good ? "Describe the image." : LongPrompt) + "\n<image>" },
                new { from = "gpt", value = "A grey square." },
            },
        });
        var path = Path.Combine(folder, "data.json");
        File.WriteAllText(path, JsonSerializer.Serialize(samples));
        return path;
    }

    private TrainingSettings Settings(string data, string output) =>
        TrainingSettings.Finetune([new TrainingDataSource(data, Path.GetDirectoryName(data)!)], Path.Combine(dir, output)) with
        {
            GlobalBatchSize = 2,
            MicroBatchSize = 2,
            Epochs = 2,
            LoraRank = 4,
            LoraAlpha = 8,
            SaveEvery = 0,
            DataWorkers = 1,
        };

    [Fact]
    public void The_fit_counts_the_image_in_full_and_only_labels_inside_the_context_after_the_shift()
    {
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var config = pipeline.Model.Config;
        config.ImageTokenCount.Should().Be(9);
        const int I = LlavaConfig.IgnoreIndex;
        int[] ids = [1, config.ImageTokenIndex, 5, 6, 7];
        int[] labels = [I, I, I, 6, 7];

        // Positions: 0 bos, 1..9 image, 10 → 5, 11 → 6, 12 → 7.
        AnswerFit.Measure(ids, labels, config).Should().Be(new AnswerFit(11, 2, 13, 128));
        AnswerFit.Measure(ids, labels, config with { ModelMaxLength = 12 }).Should().Be(new AnswerFit(11, 1, 13, 12));
        AnswerFit.Measure(ids, labels, config with { ModelMaxLength = 11 }).HasAnswer.Should().BeFalse("position 11 is cut");
        AnswerFit.Measure([5, 6], [5, 6], config).SupervisedPositions.Should().Be(1, "position 0 is never predicted");
        AnswerFit.Measure([5, 6], [I, I], config).Should().Be(new AnswerFit(2, 0, 2, 128));
    }

    [Fact]
    public void A_job_whose_every_answer_is_cut_by_the_context_fails_before_the_first_step_with_the_numbers()
    {
        var data = Dataset("all-cut", good: 0, cut: 3);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var settings = Settings(data, "all-cut-out");
        var steps = new List<TrainingStepMetrics>();

        var run = () => new LlavaTrainer(pipeline, settings).Run(steps.Add);

        run.Should().Throw<TrainingStoppedException>()
            .WithMessage("Every one of 3 samples has its answer cut by the 128-token context (prompt needs * tokens, the image counted as 9; first: sample 'cut0' of *data.json); use a shorter prompt or a model with a longer context.*")
            .Which.Message.Should().NotContain("prompt needs 0 ");
        steps.Should().BeEmpty();
        File.Exists(Path.Combine(settings.OutputDirectory, "trainer_log.jsonl")).Should().BeFalse();
        Directory.Exists(Path.Combine(settings.OutputDirectory, "model")).Should().BeFalse();
    }

    [Fact]
    public void Mixed_samples_train_on_those_with_an_answer_and_count_the_cut_ones_once_with_one_warning()
    {
        var data = Dataset("mixed", good: 4, cut: 2);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var settings = Settings(data, "mixed-out");
        var steps = new List<TrainingStepMetrics>();

        var result = new LlavaTrainer(pipeline, settings).Run(steps.Add);

        result.SamplesWithoutAnswer.Should().Be(2, "counted in the first epoch only, though two epochs read them");
        result.Steps.Should().Be(4, "4 usable samples an epoch, 2 per step, 2 epochs");
        result.Losses.Should().OnlyContain(l => double.IsFinite(l) && l > 0);
        steps[^1].SamplesWithoutAnswer.Should().Be(2);
        steps.Sum(s => s.Samples).Should().Be(8);
        var warning = result.SkippedSamples.Should().ContainSingle().Subject;
        warning.Should().MatchRegex("sample 'cut[45]': no answer token is left after truncation to the context: the prompt needs \\d+ positions")
            .And.Contain("the context holds 128").And.Contain("samples_without_answer");
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(settings.OutputDirectory, "report.json")));
        report.RootElement.GetProperty("samples_without_answer").GetInt32().Should().Be(2);
    }

    [Fact]
    public async Task The_job_manager_fails_an_all_cut_job_with_the_reason_and_reports_the_count_of_a_mixed_one()
    {
        var allCut = Dataset("job-cut", good: 0, cut: 2);
        var mixed = Dataset("job-mixed", good: 2, cut: 1);
        using var manager = new TrainingJobManager();
        var baseModel = new TrainingBaseModel(LlavaParityTests.TinyModel);

        var failed = await manager.WaitAsync(manager.Submit(new TrainingJobRequest(Settings(allCut, "job-cut-out"), baseModel)).Id).WaitAsync(TimeSpan.FromMinutes(2));
        var succeeded = await manager.WaitAsync(manager.Submit(new TrainingJobRequest(Settings(mixed, "job-mixed-out") with { Epochs = 1 }, baseModel)).Id).WaitAsync(TimeSpan.FromMinutes(2));

        failed.State.Should().Be(TrainingJobState.Failed);
        failed.Message.Should().StartWith("Every one of 2 samples has its answer cut by the 128-token context (prompt needs ");
        failed.LastStep.Should().BeNull("nothing was trained");
        succeeded.State.Should().Be(TrainingJobState.Succeeded, succeeded.Message);
        succeeded.Message.Should().Contain("of them 1 samples without an answer token after truncation to the context");
        succeeded.LastStep!.SamplesWithoutAnswer.Should().Be(1);
    }

    [Fact]
    public void Dpo_pairs_cut_by_the_context_are_counted_apart_and_a_file_of_only_those_says_so()
    {
        var images = Directory.GetFiles(Path.Combine(Scripts.Fixtures, "llava_images")).Order(StringComparer.Ordinal).First();
        var mixed = Path.Combine(dir, "mixed.jsonl");
        File.WriteAllLines(mixed,
        [
            Line("a", images, "Describe the image.", "A red square.", "A blue dog."),
            Line("b", images, LongPrompt, "A tile.", "A dog."),
            Line("c", images, "Describe the image.", "", "A dog."),
        ]);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var options = new DpoPairsTrainingOptions { OutputDirectory = Path.Combine(dir, "dpo"), PairsPerStep = 1, MicroBatchSize = 1, LoraRank = 2, LoraAlpha = 4 };

        var result = new DpoPairsTrainer(pipeline, options).Run(mixed);

        result.PairsSkipped.Should().Be(2);
        result.PairsWithoutAnswer.Should().Be(1);
        result.Summary()["pairs_without_answer"]!.GetValue<int>().Should().Be(1);
        var skipped = File.ReadAllLines(Path.Combine(options.OutputDirectory, "skipped_pairs.jsonl")).Select(l => JsonNode.Parse(l)!).ToList();
        skipped.Where(s => s["answer_cut"]?.GetValue<bool>() == true).Select(s => s["image_id"]!.GetValue<string>()).Should().Equal("b");

        var allCut = Path.Combine(dir, "all-cut.jsonl");
        File.WriteAllLines(allCut, [Line("x", images, LongPrompt, "A tile.", "A dog."), Line("y", images, LongPrompt + " now", "A.", "B.")]);
        var act = () => new DpoPairsTrainer(pipeline, options with { OutputDirectory = Path.Combine(dir, "dpo-cut") }).Run(allCut);
        act.Should().Throw<TrainingStoppedException>()
            .WithMessage("*every one of 2 pairs has its answers cut by the 128-token context (prompt needs * tokens, the image counted as 9); use a shorter prompt or a model with a longer context.*");
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
