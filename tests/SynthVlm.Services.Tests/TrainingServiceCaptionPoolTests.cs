using System.Reflection;
using System.Text.Json;
using FluentAssertions;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Testing;
using SynthVlm.Vlm;
using TorchSharp;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The knowledge-enriching SFT as a TrainingService request: a TRAINING_DATASET_FORMAT_CAPTION_POOL dataset is converted
/// by the service into its output folder (records without a usable image counted and reported) and trained with
/// TRAINING_STAGE_FINETUNE into a model whose weights moved; bad pools and formats are refused with their status codes;
/// `synthvlm sft --service` does the same from the command line.
/// </summary>
public sealed class TrainingServiceCaptionPoolTests() : StageServiceTest(KnownServices.Training, "synthvlm-training-pool-")
{
    private static readonly TimeSpan TrainingTimeout = TimeSpan.FromMinutes(3);

    private static string TinyModel => Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");

    /// <summary>
    /// pool/pool.jsonl: four captions with their images (relative paths), then three records the conversion skips — an
    /// image file that does not exist, a record with only a URL, a line that is not JSON; lists/pool.jsonl: the same lines.
    /// </summary>
    protected override Task PrepareAsync()
    {
        var folder = Path.Combine(Data.FullName, "pool");
        Directory.CreateDirectory(folder);
        string[] captions = ["A red bird on a snowy mountain.", "A blue boat near a small shop.", "Two cats sit on a green field.", "A yellow kite above a beach."];
        var lines = new List<string>();
        for (var i = 0; i < captions.Length; i++)
        {
            using var image = RgbImage.Allocate(28 + (i * 3), 24 + (i * 2));
            var px = image.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)((p * (i + 5)) >> 2);
            }
            ImageCodec.EncodeFile(image, Path.Combine(folder, $"{i}.png"));
            lines.Add(JsonSerializer.Serialize(new { id = $"c{i}", image = $"{i}.png", caption = captions[i] }));
        }
        lines.Add(JsonSerializer.Serialize(new { id = "gone", image = "missing.png", caption = "A dog." }));
        lines.Add(JsonSerializer.Serialize(new { id = "url", url = "http://example.invalid/1.png", caption = "A cat." }));
        lines.Add("{ not json");
        File.WriteAllLines(Path.Combine(folder, "pool.jsonl"), lines);
        // The same pool kept apart from its images (images_root names their folder).
        Directory.CreateDirectory(Path.Combine(Data.FullName, "lists"));
        File.WriteAllLines(Path.Combine(Data.FullName, "lists", "pool.jsonl"), lines);
        return Task.CompletedTask;
    }

    private async Task<(Training.TrainingClient Client, Uri Address)> StartAsync()
    {
        var address = await StartServiceAsync();
        return (new Training.TrainingClient(GrpcChannel.ForAddress(address)), address);
    }

    // The presets with the vicuna_v1 system prompt leave no answer token within the tiny model's 128-token context.
    private const string ShortPrompt = "Describe the image.";

    private static SubmitTrainingRequest Sft(string outputDir) => new()
    {
        Stage = TrainingStage.Finetune,
        Datasets = { new TrainingDataset { Path = "pool/pool.jsonl", Format = TrainingDatasetFormat.CaptionPool, PromptText = ShortPrompt } },
        ModelDir = TinyModel,
        OutputDir = outputDir,
        Hyperparameters = new TrainingHyperparameters
        {
            GlobalBatchSize = 2, MicroBatchSize = 2, Epochs = 2, LearningRate = 1e-2, WarmupRatio = 0, LoraRank = 4, LoraAlpha = 8, DataWorkers = 1, SaveEvery = 0,
        },
    };

    private static async Task<List<TrainingProgress>> WatchAsync(Training.TrainingClient client, string id)
    {
        var seen = new List<TrainingProgress>();
        using var timeout = new CancellationTokenSource(TrainingTimeout);
        using var call = client.Watch(new WatchTrainingRequest { JobId = id }, cancellationToken: timeout.Token);
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            seen.Add(call.ResponseStream.Current);
        }
        return seen;
    }

    /// <summary>The largest absolute difference between the language model's weights of two model folders.</summary>
    private static double LanguageModelChange(string before, string after)
    {
        using var scope = torch.NewDisposeScope();
        using var a = LlavaPipeline.Open(before);
        using var b = LlavaPipeline.Open(after);
        var trained = b.Model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var largest = 0.0;
        var compared = 0;
        foreach (var (name, parameter) in a.Model.named_parameters())
        {
            if (!name.Contains("language_model", StringComparison.Ordinal) || !trained.TryGetValue(name, out var other))
            {
                continue;
            }
            largest = Math.Max(largest, (parameter - other).abs().max().ToSingle());
            compared++;
        }
        compared.Should().BeGreaterThan(0, "the language model's parameters are compared by name");
        return largest;
    }

    [Fact]
    public async Task A_caption_pool_SFT_job_converts_the_pool_counts_the_skipped_records_and_trains_a_changed_model()
    {
        var (client, _) = await StartAsync();

        var request = Sft("training/sft");
        request.Datasets[0].Path = "lists/pool.jsonl";
        request.Datasets[0].ImagesRoot = "pool";
        var job = await client.SubmitAsync(request).ResponseAsync.WithTimeout(TimeSpan.FromSeconds(60));

        var pool = job.CaptionPools.Should().ContainSingle().Subject;
        pool.Dataset.Should().Be(0);
        pool.Samples.Should().Be(4);
        pool.Skipped.Should().Be(3);
        pool.Prompt.Should().Be("custom@1");
        pool.SkippedReasons.Should().HaveCount(3);
        pool.SkippedReasons[0].Should().Contain("line 5").And.Contain(Path.Combine(Data.FullName, "pool", "missing.png")).And.Contain("does not exist");
        pool.SkippedReasons[1].Should().Contain("line 6").And.Contain("no image path");
        pool.SkippedReasons[2].Should().Contain("line 7");
        job.Progress.Message.Should().StartWith("queued").And.Contain("4 samples, 3 records skipped");
        var data = Path.Combine(Data.FullName, "training", "sft", "caption-pool-0.llava.json");
        pool.Data.Should().Be(data);

        var progress = await WatchAsync(client, job.Id);

        var final = progress[^1];
        final.State.Should().Be(TrainingState.Succeeded, final.Message);
        final.Step.Should().Be(4, "4 samples, batch 2, 2 epochs");
        final.Message.Should().Contain("4 samples, 3 records skipped").And.Contain("caption-pool-0.conversion.json");
        progress.Where(p => p.Step > 0).Should().NotBeEmpty().And.OnlyContain(p => double.IsFinite(p.Loss) && p.Loss > 0);
        using (var converted = JsonDocument.Parse(File.ReadAllText(data)))
        {
            var samples = converted.RootElement.EnumerateArray().ToList();
            samples.Select(s => s.GetProperty("id").GetString()).Should().Equal("c0", "c1", "c2", "c3");
            samples[1].GetProperty("image").GetString().Should().Be(Path.Combine(Data.FullName, "pool", "1.png"));
            var turns = samples[1].GetProperty("conversations").EnumerateArray().ToList();
            turns[0].GetProperty("value").GetString().Should().Be("<image>\n" + ShortPrompt);
            turns[1].GetProperty("value").GetString().Should().Be("A blue boat near a small shop.");
        }
        using (var report = JsonDocument.Parse(File.ReadAllText(Path.Combine(job.OutputDir, "caption-pool-0.conversion.json"))))
        {
            report.RootElement.GetProperty("samples").GetInt32().Should().Be(4);
            report.RootElement.GetProperty("skipped_count").GetInt32().Should().Be(3);
            report.RootElement.GetProperty("skipped").GetArrayLength().Should().Be(3);
        }
        Directory.GetFiles(job.OutputDir, "*.tmp").Should().BeEmpty("the converted file was moved into place");
        LanguageModelChange(TinyModel, final.ModelDir).Should().BeGreaterThan(1e-6, "LoRA on the LLM is merged into the saved model");
    }

    [Fact]
    public async Task Bad_caption_pools_and_formats_are_refused_with_their_status_codes_and_nothing_is_queued()
    {
        var (client, _) = await StartAsync();
        async Task<RpcException> Refused(Action<SubmitTrainingRequest> change)
        {
            var request = Sft("training/bad");
            change(request);
            var act = () => client.SubmitAsync(request).ResponseAsync.WithTimeout(TimeSpan.FromSeconds(60));
            return (await act.Should().ThrowAsync<RpcException>()).Which;
        }
        var lost = Path.Combine(Data.FullName, "pool", "lost");
        Directory.CreateDirectory(lost);
        File.WriteAllLines(Path.Combine(lost, "pool.jsonl"),
        [
            JsonSerializer.Serialize(new { id = "a", image = "nowhere/a.png", caption = "A bird." }),
            JsonSerializer.Serialize(new { id = "b", image = "nowhere/b.png", caption = "A boat." }),
        ]);
        File.WriteAllLines(Path.Combine(Data.FullName, "pool", "nocaption.csv"), ["id,image", "a,0.png"]);

        var missing = await Refused(r => r.Datasets[0].Path = "pool/none.jsonl");
        missing.StatusCode.Should().Be(StatusCode.InvalidArgument);
        missing.Status.Detail.Should().StartWith("datasets[0].path:").And.Contain(Path.Combine(Data.FullName, "pool", "none.jsonl")).And.Contain("does not exist");

        var empty = await Refused(r => r.Datasets[0].Path = "pool/lost/pool.jsonl");
        empty.StatusCode.Should().Be(StatusCode.FailedPrecondition);
        empty.Status.Detail.Should().StartWith("datasets[0].path:").And.Contain("no usable record").And.Contain("2 records skipped").And.Contain("a.png");

        var unknown = await Refused(r => r.Datasets[0].Format = (TrainingDatasetFormat)7);
        unknown.StatusCode.Should().Be(StatusCode.InvalidArgument);
        unknown.Status.Detail.Should().StartWith("datasets[0].format:").And.Contain("7");

        var unreadable = await Refused(r => r.Datasets[0].Path = "pool/nocaption.csv");
        unreadable.StatusCode.Should().Be(StatusCode.InvalidArgument, unreadable.Status.Detail);
        unreadable.Status.Detail.Should().StartWith("datasets[0].path:").And.Contain("nocaption.csv").And.Contain("caption column");

        (await Refused(r =>
        {
            r.Datasets[0].PromptText = "";
            r.Datasets[0].Prompt = "poetic";
        })).Status.Detail.Should().StartWith("datasets[0].prompt:").And.Contain("poetic");
        (await Refused(r => r.Datasets[0].PromptText = "<image> What is this?")).Status.Detail.Should().StartWith("datasets[0].prompt_text:");
        (await Refused(r => r.Datasets[0].ImagesRoot = "no-such-folder")).Status.Detail.Should().StartWith("datasets[0].images_root:");
        (await Refused(r =>
        {
            r.Datasets[0].Format = TrainingDatasetFormat.LlavaJson;
            r.Datasets[0].Path = "pool";
        })).Status.Detail.Should().StartWith("datasets[0].prompt_text:", "a prompt is for caption pools only");
        // A wrong hyperparameter is refused before the pool is read: no output folder appears.
        (await Refused(r => r.Hyperparameters.LearningRate = 0)).Status.Detail.Should().StartWith("hyperparameters.learning_rate:");

        (await client.ListAsync(new ListTrainingRequest()).ResponseAsync.WithTimeout()).Jobs.Should().BeEmpty("nothing refused is queued");
        var bad = Path.Combine(Data.FullName, "training", "bad");
        (Directory.Exists(bad) ? Directory.GetFiles(bad) : []).Should().BeEmpty("refused conversions leave no file behind");
    }

    [Fact]
    public async Task Synthvlm_sft_with_service_submits_the_pool_and_prints_the_summary_and_a_missing_pool_exits_2()
    {
        var (_, address) = await StartAsync();
        var configuration = typeof(TrainingServiceCaptionPoolTests).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";
        var dll = Path.Combine(RepoPaths.Root, "Cli", "bin", configuration, "net10.0", "synthvlm.dll");
        Task<ChildProcessResult> Sft(string pool) => ChildProcess.RunAsync("dotnet",
        [
            dll, "sft", "--service", address.ToString(), "--model", TinyModel, "--pool", pool, "--out", "training/cli", "--prompt-text", ShortPrompt,
            "--lora-r", "4", "--lora-alpha", "8", "--lr", "1e-2", "--batch-size", "2", "--micro-batch", "2", "--epochs", "1",
        ], TrainingTimeout);

        var result = await Sft("pool/pool.jsonl");

        result.ExitCode.Should().Be(0, result.StandardError);
        using (var summary = JsonDocument.Parse(result.StandardOutput.Trim()))
        {
            var s = summary.RootElement;
            s.GetProperty("checkpoint").GetString().Should().Be(Path.Combine(Data.FullName, "training", "cli", "model"));
            s.GetProperty("steps").GetInt32().Should().Be(2);
            s.GetProperty("samples").GetInt32().Should().Be(4);
            s.GetProperty("pool_records_skipped").GetInt32().Should().Be(3);
            s.GetProperty("prompt").GetString().Should().Be("custom@1");
            s.GetProperty("job").GetString().Should().StartWith("train-");
        }
        result.StandardError.Should().Contain("missing.png").And.Contain("; skipped.");
        File.Exists(Path.Combine(Data.FullName, "training", "cli", "model", "config.json")).Should().BeTrue();

        var refused = await Sft("pool/none.jsonl");

        refused.ExitCode.Should().Be(2);
        refused.StandardError.Should().Contain("InvalidArgument: datasets[0].path:").And.Contain("none.jsonl");
    }
}
