using System.Text.Json;
using FluentAssertions;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Imaging;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Streams;
using SynthVlm.Testing;
using SynthVlm.Vlm;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The TrainingService as a real process with its own data folder, training the tiny LLaVA
/// fixture on a tiny LLaVA JSON written here: Submit → Watch to SUCCEEDED with loss and lr per
/// step and a model folder that loads; bad input names the field; Cancel stops a job (its
/// checkpoint resumes); unknown jobs are NOT_FOUND; a run that opts in is trained from
/// synthvlm:datasets and announced on synthvlm:checkpoints.
/// </summary>
public sealed class TrainingServiceTests() : StageServiceTest(KnownServices.Training, "synthvlm-training-")
{
    private static readonly TimeSpan TrainingTimeout = TimeSpan.FromMinutes(3);

    private static string TinyModel => Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");

    protected override Task PrepareAsync()
    {
        WriteDataset(Path.Combine(Data.FullName, "datasets", "tiny"), 6);
        return Task.CompletedTask;
    }

    private async Task<Training.TrainingClient> StartAsync(Dictionary<string, string?>? extra = null) =>
        new(GrpcChannel.ForAddress(await StartServiceAsync(extra)));

    /// <summary>A SynthVlm-style dataset folder: llava_pretrain.json and its PNGs.</summary>
    private static void WriteDataset(string folder, int count)
    {
        Directory.CreateDirectory(folder);
        string[] captions = ["A red bird on a snowy mountain.", "A blue boat near a small shop.", "Two cats sit on a green field."];
        var samples = new List<object>();
        for (var i = 0; i < count; i++)
        {
            using var image = RgbImage.Allocate(28 + (i * 3), 24 + (i * 2));
            var px = image.Pixels;
            for (var p = 0; p < px.Length; p++)
            {
                px[p] = (byte)((p * (i + 5)) >> 2);
            }
            ImageCodec.EncodeFile(image, Path.Combine(folder, $"{i}.png"));
            samples.Add(new { id = $"s{i}", image = $"{i}.png", conversations = new[] { new { from = "human", value = "<image>\nDescribe the image briefly." }, new { from = "gpt", value = captions[i % captions.Length] } } });
        }
        File.WriteAllText(Path.Combine(folder, "llava_pretrain.json"), JsonSerializer.Serialize(samples));
    }

    private static SubmitTrainingRequest Stage1(string outputDir, int epochs, int saveEvery = 0) => new()
    {
        Stage = TrainingStage.Pretrain,
        Datasets = { new TrainingDataset { Path = "datasets/tiny" } },
        ModelDir = TinyModel,
        OutputDir = outputDir,
        Hyperparameters = new TrainingHyperparameters { GlobalBatchSize = 2, MicroBatchSize = 2, Epochs = epochs, LearningRate = 5e-3, SaveEvery = saveEvery, DataWorkers = 1 },
    };

    private static async Task<List<TrainingProgress>> WatchAsync(Training.TrainingClient client, string id, Func<TrainingProgress, bool>? until = null)
    {
        var seen = new List<TrainingProgress>();
        using var timeout = new CancellationTokenSource(TrainingTimeout);
        using var call = client.Watch(new WatchTrainingRequest { JobId = id }, cancellationToken: timeout.Token);
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            seen.Add(call.ResponseStream.Current);
            if (until?.Invoke(call.ResponseStream.Current) == true)
            {
                break;
            }
        }
        return seen;
    }

    [Fact]
    public async Task A_submitted_stage1_job_streams_its_steps_to_SUCCEEDED_and_its_model_folder_loads()
    {
        var client = await StartAsync();

        var job = await client.SubmitAsync(Stage1("training/first", epochs: 2)).ResponseAsync.WithTimeout();
        var progress = await WatchAsync(client, job.Id);

        job.State.Should().BeOneOf(TrainingState.Queued, TrainingState.Running);
        job.OutputDir.Should().Be(Path.Combine(Data.FullName, "training", "first"), "a relative output_dir is under the data folder");
        progress.Should().OnlyContain(p => p.JobId == job.Id);
        var final = progress[^1];
        final.State.Should().Be(TrainingState.Succeeded, final.Message);
        var steps = progress.Where(p => p.State == TrainingState.Running && p.Step > 0).ToList();
        steps.Should().NotBeEmpty();
        steps.Select(p => p.Step).Should().BeInAscendingOrder();
        steps.Should().OnlyContain(p => double.IsFinite(p.Loss) && p.Loss > 0 && p.SamplesPerS > 0 && p.TokensPerS > 0 && p.TotalSteps == 6);
        // Warm-up is ceil(3 % of 6) = 1 step: the first update's rate is 0, then 5e-3 decays by the cosine.
        steps.Where(p => p.Step > 1).Should().NotBeEmpty().And.OnlyContain(p => p.LearningRate > 0 && p.LearningRate <= 5e-3);
        final.Step.Should().Be(6, "6 samples, batch 2, 2 epochs");
        final.ModelDir.Should().Be(Path.Combine(job.OutputDir, "model"));
        using (var trained = LlavaPipeline.Open(final.ModelDir))
        {
            trained.Model.named_parameters().Should().Contain(p => p.name.StartsWith("multi_modal_projector.", StringComparison.Ordinal));
        }
        var listed = await client.ListAsync(new ListTrainingRequest()).ResponseAsync.WithTimeout();
        listed.Jobs.Should().ContainSingle(j => j.Id == job.Id).Which.State.Should().Be(TrainingState.Succeeded);

        // Watching an ended job gives its final state and ends.
        var again = await WatchAsync(client, job.Id);
        again.Should().ContainSingle().Which.State.Should().Be(TrainingState.Succeeded);
    }

    [Fact]
    public async Task Bad_input_is_INVALID_ARGUMENT_naming_the_field_and_unknown_jobs_are_NOT_FOUND()
    {
        var client = await StartAsync();
        async Task<RpcException> Refused(Action<SubmitTrainingRequest> change)
        {
            var request = Stage1("training/bad", epochs: 1);
            change(request);
            var act = () => client.SubmitAsync(request).ResponseAsync.WithTimeout();
            return (await act.Should().ThrowAsync<RpcException>()).Which;
        }

        var rate = await Refused(r => r.Hyperparameters.LearningRate = 0);
        rate.StatusCode.Should().Be(StatusCode.InvalidArgument);
        rate.Status.Detail.Should().Contain("hyperparameters.learning_rate").And.Contain("LearningRate");
        (await Refused(r => r.Hyperparameters.MicroBatchSize = 3)).Status.Detail.Should().StartWith("hyperparameters.global_batch_size:");
        (await Refused(r => r.VisionDir = TinyModel)).Status.Detail.Should().StartWith("model_dir:").And.Contain("not both");
        (await Refused(r => r.ModelDir = "")).Status.Detail.Should().StartWith("model_dir:").And.Contain("missing");
        (await Refused(r => r.Datasets[0].Path = "datasets/none")).Status.Detail.Should().StartWith("datasets[0].path:").And.Contain("datasets/none");
        (await Refused(r => r.Datasets.Clear())).Status.Detail.Should().StartWith("datasets:");
        (await Refused(r => r.Datasets[0].Weight = -1)).Status.Detail.Should().StartWith("datasets[0].weight:");
        (await Refused(r => r.OutputDir = "../escape")).Status.Detail.Should().StartWith("output_dir:").And.Contain("leaves the data folder");
        (await Refused(r => r.Stage = TrainingStage.Unspecified)).Status.Detail.Should().StartWith("stage:");
        (await Refused(r => r.Hyperparameters.Full = true)).Status.Detail.Should().StartWith("hyperparameters.full:");
        (await Refused(r => r.Hyperparameters.LoraRank = 8)).Status.Detail.Should().StartWith("hyperparameters.lora_rank:").And.Contain("stage-2");
        (await client.ListAsync(new ListTrainingRequest()).ResponseAsync.WithTimeout()).Jobs.Should().BeEmpty("nothing refused is queued");

        var watch = async () => await WatchAsync(client, "train-nosuchjob");
        (await watch.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.NotFound);
        var cancel = () => client.CancelAsync(new CancelTrainingRequest { JobId = "train-nosuchjob" }).ResponseAsync.WithTimeout();
        (await cancel.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.NotFound);
    }

    [Fact]
    public async Task A_DPO_job_trains_on_preference_pairs_into_a_merged_model_and_bad_DPO_requests_name_the_field()
    {
        var client = await StartAsync();
        var pairs = Path.Combine(Data.FullName, "pairs.jsonl");
        var image = Path.Combine(Data.FullName, "datasets", "tiny", "0.png");
        File.WriteAllLines(pairs,
        [
            JsonSerializer.Serialize(new { image_id = "a", image, prompt = "Describe the image.", chosen = "A red bird.", rejected = "A red bird and a dog." }),
            JsonSerializer.Serialize(new { image_id = "b", image, prompt = "Describe the image.", chosen = "Snow.", rejected = "" }),
            JsonSerializer.Serialize(new { image_id = "c", image, prompt = "Describe the image.", chosen = "A mountain.", rejected = "A mountain with a boat." }),
        ]);
        SubmitTrainingRequest Dpo() => new()
        {
            Stage = TrainingStage.Dpo,
            ModelDir = TinyModel,
            PreferencePairs = "pairs.jsonl",
            OutputDir = "training/dpo",
            Hyperparameters = new TrainingHyperparameters { GlobalBatchSize = 2, MicroBatchSize = 1, LearningRate = 1e-2, LoraRank = 4, LoraAlpha = 8 },
            Dpo = new DpoHyperparameters { Beta = 0.1, LossType = "sigmoid" },
        };

        var job = await client.SubmitAsync(Dpo()).ResponseAsync.WithTimeout();
        var progress = await WatchAsync(client, job.Id);

        var final = progress[^1];
        final.State.Should().Be(TrainingState.Succeeded, final.Message);
        final.Message.Should().Contain("2 pairs").And.Contain("1 skipped", "the pair with an empty rejected caption is skipped with a record");
        progress.Where(p => p.Step > 0).Should().NotBeEmpty().And.OnlyContain(p => double.IsFinite(p.Loss));
        progress.First(p => p.Step == 1).Loss.Should().BeApproximately(Math.Log(2), 1e-4, "the LoRA starts at zero, so the policy equals its reference");
        using (LlavaPipeline.Open(final.ModelDir))
        {
        }
        File.Exists(Path.Combine(job.OutputDir, "skipped_pairs.jsonl")).Should().BeTrue();

        async Task<RpcException> Refused(Action<SubmitTrainingRequest> change)
        {
            var request = Dpo();
            request.OutputDir = "training/dpo-bad";
            change(request);
            var act = () => client.SubmitAsync(request).ResponseAsync.WithTimeout();
            return (await act.Should().ThrowAsync<RpcException>()).Which;
        }
        (await Refused(r => r.PreferencePairs = "")).Status.Detail.Should().StartWith("preference_pairs:");
        (await Refused(r => r.PreferencePairs = "none.jsonl")).Status.Detail.Should().StartWith("preference_pairs:").And.Contain("does not exist");
        (await Refused(r => r.Dpo.LossType = "hinge")).Status.Detail.Should().StartWith("dpo.loss_type:").And.Contain("hinge");
        (await Refused(r => r.Dpo.Beta = -1)).Status.Detail.Should().StartWith("dpo.beta:");
        (await Refused(r => r.Datasets.Add(new TrainingDataset { Path = "datasets/tiny" }))).Status.Detail.Should().StartWith("datasets:");
        (await Refused(r => r.ModelDir = "")).StatusCode.Should().Be(StatusCode.InvalidArgument);
    }

    [Fact]
    public async Task Cancel_stops_a_running_job_and_a_queued_one_and_a_resubmit_resumes_from_the_checkpoint()
    {
        var client = await StartAsync();
        var longJob = await client.SubmitAsync(Stage1("training/long", epochs: 200, saveEvery: 1)).ResponseAsync.WithTimeout();
        var queued = await client.SubmitAsync(Stage1("training/queued", epochs: 1)).ResponseAsync.WithTimeout();
        var busy = () => client.SubmitAsync(Stage1("training/long", epochs: 1)).ResponseAsync.WithTimeout();
        (await busy.Should().ThrowAsync<RpcException>()).Which.StatusCode.Should().Be(StatusCode.FailedPrecondition, "one job per output folder at a time");

        var cancelledQueued = await client.CancelAsync(new CancelTrainingRequest { JobId = queued.Id }).ResponseAsync.WithTimeout();
        cancelledQueued.State.Should().Be(TrainingState.Cancelled);
        await WatchAsync(client, longJob.Id, p => p.Step >= 2);
        await client.CancelAsync(new CancelTrainingRequest { JobId = longJob.Id }).ResponseAsync.WithTimeout();
        var end = (await WatchAsync(client, longJob.Id))[^1];

        end.State.Should().Be(TrainingState.Cancelled, end.Message);
        end.Step.Should().BeGreaterThanOrEqualTo(2).And.BeLessThan(600);
        File.Exists(Path.Combine(longJob.OutputDir, "checkpoints", "latest")).Should().BeTrue("the last checkpoint stays");
        Directory.Exists(Path.Combine(queued.OutputDir, "checkpoints")).Should().BeFalse("the queued job never ran");

        var resumed = await client.SubmitAsync(Stage1("training/long", epochs: 200, saveEvery: 1)).ResponseAsync.WithTimeout();
        var firstStep = (await WatchAsync(client, resumed.Id, p => p.Step > 0))[^1];
        await client.CancelAsync(new CancelTrainingRequest { JobId = resumed.Id }).ResponseAsync.WithTimeout();
        firstStep.Step.Should().BeGreaterThan(1, "the job resumed from the cancelled job's checkpoint");
        (await WatchAsync(client, resumed.Id))[^1].State.Should().Be(TrainingState.Cancelled);
    }

    [Fact]
    public async Task A_run_that_opts_in_is_trained_from_synthvlm_datasets_and_announced_on_synthvlm_models()
    {
        var redis = await StartRedisAsync("pw-train");
        var client = await StartAsync(new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = redis.ConnectionString,
            ["SynthVlm__Training__AutoTrain__ModelDir"] = TinyModel,
        });
        await using var mux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(redis.ConnectionString)).WithTimeout();
        var db = mux.GetDatabase();
        var store = new RunStore(db);
        const string traceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        await store.SubmitAsync(new RunConfig { Id = "trained", Captions = "/nowhere.json", Train = new RunTraining { Enabled = true, Hyperparameters = new TrainingHyperparameters { GlobalBatchSize = 2, MicroBatchSize = 2, Epochs = 1, SaveEvery = 0, DataWorkers = 1 } } }).WithTimeout();
        await store.SetTraceParentAsync("trained", traceParent).WithTimeout();
        await store.SubmitAsync(new RunConfig { Id = "untrained", Captions = "/nowhere.json", Train = new RunTraining { Enabled = false, ModelDir = TinyModel } }).WithTimeout();
        var producer = new StreamProducer(db);
        var folder = Path.Combine(Data.FullName, "datasets", "tiny");
        await producer.ProduceAsync(KnownStreams.Datasets, "untrained", "DatasetReady", new DatasetReady { Run = "untrained", Folder = folder, Count = 6 }.ToByteArray()).WithTimeout();
        await producer.ProduceAsync(KnownStreams.Datasets, "trained", "DatasetReady", new DatasetReady { Run = "trained", Folder = folder, Count = 6 }.ToByteArray()).WithTimeout();

        StackExchange.Redis.StreamEntry[] models = [];
        await TestTimeout.Until(async () => (models = await db.StreamRangeAsync(KnownStreams.Checkpoints)).Length > 0, TrainingTimeout, "a ModelReady on synthvlm:checkpoints");

        var jobs = (await client.ListAsync(new ListTrainingRequest()).ResponseAsync.WithTimeout()).Jobs;
        jobs.Should().ContainSingle("the run without train.enabled is not trained").Which.Run.Should().Be("trained");
        models.Should().ContainSingle();
        var fields = models[0].Values.ToDictionary(v => v.Name.ToString(), v => v.Value);
        fields[KnownStreamFields.Kind].ToString().Should().Be("ModelReady");
        fields[KnownStreamFields.Run].ToString().Should().Be("trained");
        fields[KnownStreamFields.TraceParent].ToString().Should().StartWith("00-0af7651916cd43dd8448eb211c80319c-", "the announcement continues the run's trace");
        var ready = ModelReady.Parser.ParseFrom((byte[])fields[KnownStreamFields.Data]!);
        ready.Run.Should().Be("trained");
        ready.Dataset.Should().Be(folder);
        ready.Steps.Should().Be(3);
        ready.ModelDir.Should().Be(Path.Combine(Data.FullName, "training", "runs", "trained", "stage1", "model"));
        using var trained = LlavaPipeline.Open(ready.ModelDir);
        trained.Model.Should().NotBeNull();
    }
}
