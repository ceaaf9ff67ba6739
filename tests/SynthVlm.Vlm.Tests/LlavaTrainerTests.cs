using System.Text.Json;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Vlm.Generation;
using SynthVlm.Vlm.Training;
using TorchSharp;

namespace SynthVlm.Vlm.Tests;

// Resumed LoRA dropout must draw the same masks: no other test may use the default generator meanwhile.
[Collection(nameof(ProcessWideState))]
public sealed class LlavaTrainerTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("synthvlm-train-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>A LLaVA JSON of <paramref name="count"/> samples with images, plus one broken image and one sample without &lt;image&gt;.</summary>
    private string Dataset(string name, int count, bool instruction)
    {
        var folder = Path.Combine(dir, name);
        Directory.CreateDirectory(folder);
        var samples = new List<object>();
        string[] captions = ["A red bird on a snowy mountain.", "A blue boat near a small shop.", "Two cats sit on a green field.", "An old bridge at dawn."];
        for (var i = 0; i < count; i++)
        {
            using var image = RgbImage.Allocate(30 + (i * 3), 24 + (i * 5));
            var px = image.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)((p * (i + 3)) >> 2);
            }
            ImageCodec.EncodeFile(image, Path.Combine(folder, $"{i}.png"));
            var prompt = instruction ? "What is in the picture?\n<image>" : "<image>\nDescribe the image briefly.";
            samples.Add(new { id = $"s{i}", image = $"{i}.png", conversations = new[] { new { from = "human", value = prompt }, new { from = "gpt", value = captions[i % captions.Length] } } });
        }
        File.WriteAllBytes(Path.Combine(folder, "broken.png"), [0x89, 0x50, 0x4E, 0x47, 9, 9, 9]);
        samples.Add(new { id = "broken", image = "broken.png", conversations = new[] { new { from = "human", value = "<image>\nDescribe." }, new { from = "gpt", value = "A bird." } } });
        samples.Add(new { id = "no-image-token", image = "0.png", conversations = new[] { new { from = "human", value = "Describe." }, new { from = "gpt", value = "A bird." } } });
        var path = Path.Combine(folder, "data.json");
        File.WriteAllText(path, JsonSerializer.Serialize(samples));
        return path;
    }

    private static float[] Values(TorchSharp.Modules.Parameter p)
    {
        using var flat = p.detach().flatten().cpu();
        return flat.data<float>().ToArray();
    }

    [Fact]
    public void Stage1_trains_only_the_projector_lowers_the_loss_skips_bad_samples_and_writes_a_model_that_answers()
    {
        var data = Dataset("pretrain", 6, instruction: false);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var before = pipeline.Model.named_parameters().ToDictionary(p => p.name, p => Values(p.parameter));
        var settings = TrainingSettings.Pretrain([new TrainingDataSource(data, Path.GetDirectoryName(data)!)], Path.Combine(dir, "out1")) with
        {
            GlobalBatchSize = 4,
            MicroBatchSize = 2,
            Epochs = 4,
            LearningRate = 5e-3,
            SaveEvery = 0,
            DataWorkers = 2,
        };
        var steps = new List<TrainingStepMetrics>();

        var result = new LlavaTrainer(pipeline, settings).Run(steps.Add);

        // 6 usable samples an epoch (of 8), micro-batches of 2 that never span epochs, 2 per step:
        // the skipped samples shorten the epochs, so the job ends when the data does.
        result.Steps.Should().BeInRange(6, 8);
        steps.Select(s => s.Step).Should().Equal(Enumerable.Range(1, result.Steps));
        result.Losses.Should().OnlyContain(l => double.IsFinite(l));
        result.Losses.TakeLast(2).Average().Should().BeLessThan(result.Losses.Take(2).Average());
        result.SkippedSamples.Should().HaveCount(8, "the broken image and the sample without <image>, every epoch");
        result.SkippedSamples.Should().Contain(s => s.Contains("broken.png")).And.Contain(s => s.Contains("no-image-token"));
        foreach (var (name, parameter) in pipeline.Model.named_parameters())
        {
            var changed = !Values(parameter).SequenceEqual(before[name]);
            changed.Should().Be(name.StartsWith("multi_modal_projector.", StringComparison.Ordinal), name);
        }
        var output = settings.OutputDirectory;
        File.Exists(Path.Combine(output, "mm_projector.bin")).Should().BeTrue();
        File.ReadAllText(Path.Combine(output, "loss.svg")).Should().StartWith("<svg").And.Contain("polyline");
        JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "report.json"))).RootElement.GetProperty("steps").GetInt32().Should().Be(result.Steps);
        File.ReadAllLines(Path.Combine(output, "trainer_log.jsonl")).Should().HaveCount(result.Steps);

        using var trained = LlavaPipeline.Open(result.ModelDirectory);
        using (var projector = trained.Model.named_parameters().First(p => p.name == "multi_modal_projector.linear_1.weight").parameter.detach())
        {
            projector.data<float>().ToArray().Should().Equal(Values(pipeline.Model.named_parameters().First(p => p.name == "multi_modal_projector.linear_1.weight").parameter));
        }
        var answer = trained.Generate("Describe the image briefly.", Path.Combine(Path.GetDirectoryName(data)!, "1.png"), null, new GenerationOptions(MaxNewTokens: 4));
        answer.Ids.Should().NotBeEmpty();
    }

    [Fact]
    public void A_LoRA_stage2_job_stopped_after_a_checkpoint_resumes_with_the_same_per_step_losses_as_an_uninterrupted_run()
    {
        var data = Dataset("finetune", 8, instruction: true);
        TrainingSettings Settings(string name) => TrainingSettings.Finetune([new TrainingDataSource(data, Path.GetDirectoryName(data)!)], Path.Combine(dir, name)) with
        {
            GlobalBatchSize = 4,
            MicroBatchSize = 2,
            Epochs = 3,
            LoraRank = 4,
            LoraAlpha = 8,
            LoraDropout = 0.1,
            SaveEvery = 2,
            DataWorkers = 2,
        };
        IReadOnlyList<double> whole;
        using (var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel))
        {
            whole = new LlavaTrainer(pipeline, Settings("whole")).Run().Losses;
        }
        whole.Count.Should().BeGreaterThan(5);

        using (var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel))
        {
            using var stop = new CancellationTokenSource();
            var interrupted = () => new LlavaTrainer(pipeline, Settings("resumed")).Run(step =>
            {
                if (step.Step == 5)
                {
                    stop.Cancel();
                }
            }, stop.Token);
            interrupted.Should().Throw<OperationCanceledException>();
        }
        File.ReadAllText(Path.Combine(dir, "resumed", "checkpoints", "latest")).Should().Be("step-00000004");

        IReadOnlyList<double> resumed;
        using (var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel))
        {
            resumed = new LlavaTrainer(pipeline, Settings("resumed")).Run().Losses;
        }
        resumed.Should().Equal(whole);
        File.ReadAllLines(Path.Combine(dir, "resumed", "trainer_log.jsonl")).Should().HaveCount(whole.Count);
        Directory.Exists(Path.Combine(dir, "resumed", "adapter")).Should().BeTrue();
    }

    [Fact]
    public void Non_finite_steps_are_skipped_and_recorded_and_three_in_a_row_stop_the_job_with_the_reason()
    {
        var data = Dataset("nan", 8, instruction: false);
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        using (torch.no_grad())
        {
            // A projector full of NaN makes every loss NaN from the first step.
            pipeline.Model.named_parameters().First(p => p.name == "multi_modal_projector.linear_2.bias").parameter.fill_(TorchScalars.Of(double.NaN));
        }
        var settings = TrainingSettings.Pretrain([new TrainingDataSource(data, Path.GetDirectoryName(data)!)], Path.Combine(dir, "nan-out")) with
        {
            GlobalBatchSize = 2,
            MicroBatchSize = 2,
            Epochs = 2,
            SaveEvery = 0,
        };
        var steps = new List<TrainingStepMetrics>();

        var run = () => new LlavaTrainer(pipeline, settings).Run(steps.Add);

        run.Should().Throw<TrainingStoppedException>().WithMessage("Stopped at step 3: three steps in a row had a non-finite loss or gradient*");
        steps.Should().HaveCount(2).And.OnlyContain(s => s.SkippedUpdate && double.IsNaN(s.Loss));
        File.ReadAllLines(Path.Combine(settings.OutputDirectory, "trainer_log.jsonl")).Should().HaveCount(2)
            .And.OnlyContain(l => l.Contains("\"skipped_update\":true", StringComparison.Ordinal));
    }

    [Fact]
    public void Samples_longer_than_the_context_are_truncated_after_the_image_and_counted()
    {
        var folder = Path.Combine(dir, "long");
        Directory.CreateDirectory(folder);
        using (var image = RgbImage.Allocate(20, 20))
        {
            ImageCodec.EncodeFile(image, Path.Combine(folder, "a.png"));
        }
        var longCaption = string.Join(' ', Enumerable.Repeat("A red bird on a snowy mountain at dawn.", 12));
        var samples = Enumerable.Range(0, 4).Select(i => new { id = $"l{i}", image = "a.png", conversations = new[] { new { from = "human", value = "<image>\nDescribe." }, new { from = "gpt", value = i % 2 == 0 ? longCaption : "A bird." } } });
        var data = Path.Combine(folder, "data.json");
        File.WriteAllText(data, JsonSerializer.Serialize(samples));
        using var pipeline = LlavaPipeline.Open(LlavaParityTests.TinyModel);
        var settings = TrainingSettings.Pretrain([new TrainingDataSource(data, folder)], Path.Combine(dir, "long-out")) with { GlobalBatchSize = 2, MicroBatchSize = 2, SaveEvery = 0 };

        var result = new LlavaTrainer(pipeline, settings).Run();

        result.TruncatedSamples.Should().Be(2);
        result.SkippedSamples.Should().BeEmpty();
        using var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(settings.OutputDirectory, "report.json")));
        var last = report.RootElement.GetProperty("last_run");
        last.GetProperty("truncated_samples").GetInt32().Should().Be(2);
        last.GetProperty("samples").GetInt64().Should().Be(4);
        last.GetProperty("samples_per_s").GetDouble().Should().BePositive();
    }

    [Fact]
    public void Settings_out_of_range_are_refused_naming_the_field()
    {
        var data = Dataset("bad", 1, instruction: false);
        var good = TrainingSettings.Pretrain([new TrainingDataSource(data, Path.GetDirectoryName(data)!)], Path.Combine(dir, "o"));

        var batch = () => (good with { GlobalBatchSize = 6, MicroBatchSize = 4 }).Validate();
        var lr = () => (good with { LearningRate = 0 }).Validate();
        var lora = () => (good with { LoraRank = 8 }).Validate();
        var missing = () => (good with { Sources = [new TrainingDataSource(Path.Combine(dir, "none.json"), dir)] }).Validate();

        batch.Should().Throw<ArgumentException>().WithMessage("GlobalBatchSize: 6 must be a multiple of the micro-batch 4*");
        lr.Should().Throw<ArgumentException>().WithMessage("LearningRate:*");
        lora.Should().Throw<ArgumentException>().WithMessage("LoraRank: LoRA is a stage-2 option*");
        missing.Should().Throw<ArgumentException>().WithMessage("Sources: data file*none.json not found*");
    }
}

public sealed class TrainingDataTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("synthvlm-data-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string Json(int count, Func<int, bool> hasImage)
    {
        var samples = Enumerable.Range(0, count).Select(i => hasImage(i)
            ? (object)new { id = $"s{i}", image = $"{i}.png", conversations = new[] { new { from = "human", value = "<image>\n" + string.Join(' ', Enumerable.Repeat("word", i % 7)) }, new { from = "gpt", value = "ok é 🙂" } } }
            : new { id = $"s{i}", conversations = new[] { new { from = "human", value = "text only " + i }, new { from = "gpt", value = "ok" } } });
        var path = Path.Combine(dir, $"d{count}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(samples, new JsonSerializerOptions { WriteIndented = true }));
        return path;
    }

    [Fact]
    public void The_index_finds_every_sample_whatever_the_read_buffer_and_reads_each_back()
    {
        var path = Json(40, i => i % 3 != 0);

        var large = LlavaDataIndex.Build(path, dir);
        var tiny = LlavaDataIndex.Build(path, dir, bufferSize: 16);

        large.Count.Should().Be(40);
        tiny.Count.Should().Be(40);
        for (var i = 0; i < 40; i++)
        {
            tiny.Read(i).Id.Should().Be($"s{i}");
            large.Read(i).Should().BeEquivalentTo(tiny.Read(i));
            tiny.ModalityLength(i).Should().Be(large.ModalityLength(i));
            (tiny.ModalityLength(i) > 0).Should().Be(i % 3 != 0);
        }
    }

    [Fact]
    public void A_broken_file_is_refused_naming_it()
    {
        var path = Path.Combine(dir, "broken.json");
        File.WriteAllText(path, """[{"id": "a", "conversations": []}, {"id": "b", """);
        var notArray = Path.Combine(dir, "object.json");
        File.WriteAllText(notArray, """{"id": "a"}""");

        var broken = () => LlavaDataIndex.Build(path, dir);
        var wrong = () => LlavaDataIndex.Build(notArray, dir);

        broken.Should().Throw<InvalidDataException>().WithMessage($"{path}:*");
        wrong.Should().Throw<InvalidDataException>().WithMessage($"{notArray}: expected a top-level JSON array*");
    }

    [Fact]
    public void The_order_is_a_function_of_seed_and_epoch_with_weights_and_modality_groups()
    {
        var a = LlavaDataIndex.Build(Json(10, _ => true), dir);
        var b = LlavaDataIndex.Build(Json(12, i => i % 2 == 0), dir);

        var first = TrainingOrder.ForEpoch([a, b], [1.0, 0.5], 7, 0, false, 2);
        var again = TrainingOrder.ForEpoch([a, b], [1.0, 0.5], 7, 0, false, 2);
        var next = TrainingOrder.ForEpoch([a, b], [1.0, 0.5], 7, 1, false, 2);
        var twice = TrainingOrder.ForEpoch([a], [2.0], 7, 0, false, 2);
        var grouped = TrainingOrder.ForEpoch([b], [1.0], 7, 0, true, 2);

        first.Should().Equal(again);
        first.Should().NotEqual(next);
        first.Count(r => r.Source == 0).Should().Be(10);
        first.Count(r => r.Source == 1).Should().Be(6);
        first.Where(r => r.Source == 0).Select(r => r.Index).Should().OnlyHaveUniqueItems();
        twice.Should().HaveCount(20);
        twice.GroupBy(r => r.Index).Should().OnlyContain(g => g.Count() == 2);
        grouped.Should().HaveCount(12);
        // Every micro-batch but the left-over one at the end is of one modality.
        grouped.Take(8).Chunk(2).Should().OnlyContain(batch => batch.Select(r => b.ModalityLength(r.Index) > 0).Distinct().Count() == 1);
    }
}
