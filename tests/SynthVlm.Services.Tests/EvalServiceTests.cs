using System.Text.Json;
using System.Text.Json.Nodes;
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
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// The EvalService as a real process: the tiny LLaVA answers a tiny POPE set (written here in
/// LLaVA's layout) through Submit/Watch, the answers file and metrics are written, a benchmark
/// whose folder is missing is reported while the rest run, bad requests name the field, and a run
/// that opts in is evaluated from synthvlm:checkpoints and announced on synthvlm:evaluations.
/// </summary>
public sealed class EvalServiceTests() : StageServiceTest(KnownServices.Eval, "synthvlm-eval-")
{
    private static readonly TimeSpan EvalTimeout = TimeSpan.FromMinutes(3);
    private static readonly string[] Splits = ["adversarial", "popular", "random"];

    private static string TinyModel => Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Vlm.Tests", "Fixtures", "tiny-llava-hf");

    private string Bench => Path.Combine(Data.FullName, "bench");

    protected override Task PrepareAsync()
    {
        WritePope(Path.Combine(Bench, "pope"));
        return Task.CompletedTask;
    }

    /// <summary>POPE in LLaVA's layout: llava_pope_test.jsonl, coco/coco_pope_{split}.json, val2014/ — two questions per split.</summary>
    private static void WritePope(string folder)
    {
        Directory.CreateDirectory(Path.Combine(folder, "coco"));
        Directory.CreateDirectory(Path.Combine(folder, "val2014"));
        string[] objects = ["dog", "car", "tree", "person", "cup", "bird"];
        var questions = new List<string>();
        var id = 0;
        foreach (var split in Splits)
        {
            var labels = new List<string>();
            for (var k = 0; k < 2; k++, id++)
            {
                var image = $"COCO_val2014_{id:D12}.png";
                using (var rgb = RgbImage.Allocate(24 + id, 20 + (2 * id)))
                {
                    var px = rgb.Pixels;
                    for (var p = 0; p < px.Length; p++)
                    {
                        px[p] = (byte)((p * (id + 3)) >> 1);
                    }
                    ImageCodec.EncodeFile(rgb, Path.Combine(folder, "val2014", image));
                }
                var text = $"Is there a {objects[id]} in the image?";
                questions.Add(JsonSerializer.Serialize(new { question_id = id + 1, image, text = text + "\nAnswer the question using a single word or phrase.", category = split }));
                labels.Add(JsonSerializer.Serialize(new { question_id = id + 1, image, text, label = k == 0 ? "yes" : "no" }));
            }
            File.WriteAllLines(Path.Combine(folder, "coco", $"coco_pope_{split}.json"), labels);
        }
        File.WriteAllLines(Path.Combine(folder, "llava_pope_test.jsonl"), questions);
    }

    private async Task<Eval.EvalClient> StartAsync(Dictionary<string, string?>? extra = null) =>
        new(GrpcChannel.ForAddress(await StartServiceAsync(extra)));

    private static async Task<List<EvalJob>> WatchAsync(Eval.EvalClient client, string id)
    {
        var seen = new List<EvalJob>();
        using var timeout = new CancellationTokenSource(EvalTimeout);
        using var call = client.Watch(new WatchEvalRequest { JobId = id }, cancellationToken: timeout.Token);
        while (await call.ResponseStream.MoveNext(timeout.Token))
        {
            seen.Add(call.ResponseStream.Current);
        }
        return seen;
    }

    [Fact]
    public async Task The_tiny_model_answers_POPE_through_the_service_and_a_missing_benchmark_is_reported_while_the_rest_run()
    {
        var client = await StartAsync();

        var request = new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "bench", OutputDir = "evaluations/tiny", BatchSize = 4, Only = { "pope", "gqa" } };
        var job = await client.SubmitAsync(request).ResponseAsync.WithTimeout();
        var updates = await WatchAsync(client, job.Id);

        var final = updates[^1];
        final.State.Should().Be(EvalState.Succeeded, final.Message);
        final.Model.Should().Be("tiny-llava-hf");
        final.OutputDir.Should().Be(Path.Combine(Data.FullName, "evaluations", "tiny"));
        final.Message.Should().Be("1 of 2 benchmarks scored; 1 with errors");
        var gqa = final.Results.Single(r => r.Benchmark == "gqa");
        gqa.Error.Should().Contain(Path.Combine(Bench, "gqa")).And.Contain("llava_gqa_testdev_balanced.jsonl");
        var pope = final.Results.Single(r => r.Benchmark == "pope");
        pope.Error.Should().BeEmpty();
        pope.Scored.Should().Be(6);
        var metrics = JsonNode.Parse(pope.MetricsJson)!.AsObject();
        metrics.Select(m => m.Key).Should().BeEquivalentTo(Splits);
        foreach (var split in Splits)
        {
            var accuracy = metrics[split]!["accuracy"]!.GetValue<double>();
            accuracy.Should().BeOneOf([0.0, 0.5, 1.0], "two questions per split");
            metrics[split]!["yes_ratio"]!.GetValue<double>().Should().BeInRange(0, 1);
        }
        var answers = await File.ReadAllLinesAsync(Path.Combine(final.OutputDir, "pope", "answers.jsonl"));
        answers.Select(l => JsonNode.Parse(l)!["question_id"]!.GetValue<int>()).Should().Equal([1, 2, 3, 4, 5, 6], "LLaVA's answers format, in question order");
        answers.Should().OnlyContain(l => JsonNode.Parse(l)!["model_id"]!.GetValue<string>() == "tiny-llava-hf");
        File.Exists(Path.Combine(final.OutputDir, "pope", "metrics.json")).Should().BeTrue();
        var summary = JsonNode.Parse(await File.ReadAllTextAsync(final.SummaryPath))!;
        summary["benchmarks"]!["pope"]!["metrics"]!["random"]!["f1"].Should().NotBeNull();
        summary["benchmarks"]!["gqa"]!["error"]!.GetValue<string>().Should().Contain("no folder");

        // The same output folder again: every question is answered already, so nothing is asked and the metrics are the same.
        var again = await client.SubmitAsync(request).ResponseAsync.WithTimeout();
        var second = (await WatchAsync(client, again.Id))[^1];
        second.State.Should().Be(EvalState.Succeeded);
        second.Results.Single(r => r.Benchmark == "pope").MetricsJson.Should().Be(pope.MetricsJson);
        (await File.ReadAllLinesAsync(Path.Combine(final.OutputDir, "pope", "answers.jsonl"))).Should().Equal(answers);
    }

    [Fact]
    public async Task MM_Vet_is_graded_by_the_judge_endpoint_given_to_the_job()
    {
        var mmvet = Path.Combine(Bench, "mm-vet");
        Directory.CreateDirectory(Path.Combine(mmvet, "images"));
        var meta = new JsonObject();
        for (var i = 0; i < 3; i++)
        {
            using (var rgb = RgbImage.Allocate(16 + i, 16))
            {
                ImageCodec.EncodeFile(rgb, Path.Combine(mmvet, "images", $"v1_{i}.png"));
            }
            meta[$"v1_{i}"] = new JsonObject { ["imagename"] = $"v1_{i}.png", ["capability"] = new JsonArray(i == 2 ? "math" : "rec"), ["question"] = $"Question {i}?", ["answer"] = $"{i}" };
        }
        await File.WriteAllTextAsync(Path.Combine(mmvet, "mm-vet.json"), meta.ToJsonString());
        // The grader: 1.0 for question 0, 0.5 for question 1, garbage for question 2 (recorded as the official code records it: 0.0 after its retries).
        await using var grader = new FakeChatServer(r => FakeChatReply.Answer(
            r.LastText.Contains("Question 0?", StringComparison.Ordinal) ? "1.0" : r.LastText.Contains("Question 1?", StringComparison.Ordinal) ? "0.5" : "excellent"));
        var client = await StartAsync();

        var job = await client.SubmitAsync(new SubmitEvalRequest
        {
            ModelDir = TinyModel, BenchDir = "bench", OutputDir = "evaluations/mmvet", Only = { "mmvet" },
            JudgeEndpoint = grader.BaseUri.ToString(), JudgeModel = "gpt-4-0613",
        }).ResponseAsync.WithTimeout();
        var final = (await WatchAsync(client, job.Id))[^1];

        final.State.Should().Be(EvalState.Succeeded, final.Message);
        var result = final.Results.Should().ContainSingle().Subject;
        result.Error.Should().BeEmpty();
        var metrics = JsonNode.Parse(result.MetricsJson)!;
        metrics["total"]!.GetValue<double>().Should().Be(50.0, "(1.0 + 0.5 + 0.0) / 3 = 50.0 %");
        grader.Requests.Count(r => r.LastText.Contains("Question 2?", StringComparison.Ordinal)).Should().Be(6, "the official loop asks five more times, raising the temperature, when the score does not parse");
    }

    [Fact]
    public async Task Bad_requests_are_INVALID_ARGUMENT_naming_the_field_and_unknown_jobs_NOT_FOUND()
    {
        var client = await StartAsync();

        async Task<string> RefusedAsync(SubmitEvalRequest request, StatusCode code = StatusCode.InvalidArgument)
        {
            var e = await FluentActions.Awaiting(() => client.SubmitAsync(request).ResponseAsync).Should().ThrowAsync<RpcException>();
            e.Which.StatusCode.Should().Be(code, e.Which.Status.Detail);
            return e.Which.Status.Detail;
        }

        (await RefusedAsync(new SubmitEvalRequest { BenchDir = "bench" })).Should().StartWith("model:");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, Endpoint = "http://127.0.0.1:1/v1", EndpointModel = "m", BenchDir = "bench" })).Should().StartWith("model:");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel })).Should().StartWith("bench_dir:");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "nowhere" })).Should().StartWith("bench_dir:").And.Contain("does not exist");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "../outside" })).Should().StartWith("bench_dir:").And.Contain("leaves the data folder");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "bench", Only = { "pope", "imagenet" } })).Should().StartWith("only:").And.Contain("'imagenet' is not a benchmark").And.Contain("vqav2");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "bench", Concurrency = 0 })).Should().StartWith("concurrency:");
        (await RefusedAsync(new SubmitEvalRequest { ModelDir = TinyModel, BenchDir = "bench", Endpoint = "ftp://x" })).Should().StartWith("endpoint:");
        var watch = await FluentActions.Awaiting(() => WatchAsync(client, "eval-nope")).Should().ThrowAsync<RpcException>();
        watch.Which.StatusCode.Should().Be(StatusCode.NotFound);
        watch.Which.Status.Detail.Should().Contain("eval-nope");
    }

    [Fact]
    public async Task A_run_that_opts_in_is_evaluated_from_synthvlm_checkpoints_and_announced_on_synthvlm_evaluations()
    {
        var redis = await StartRedisAsync("pw-eval");
        await StartAsync(new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = redis.ConnectionString,
            ["SynthVlm__Eval__BenchDir"] = Bench,
        });
        await using var mux = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(redis.ConnectionString)).WithTimeout();
        var db = mux.GetDatabase();
        var store = new RunStore(db);
        const string traceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        await store.SubmitAsync(new RunConfig { Id = "evaluated", Captions = "/nowhere.json", Eval = new RunEvaluation { Enabled = true, Only = { "pope" } } }).WithTimeout();
        await store.SetTraceParentAsync("evaluated", traceParent).WithTimeout();
        await store.SubmitAsync(new RunConfig { Id = "not-evaluated", Captions = "/nowhere.json" }).WithTimeout();
        var producer = new StreamProducer(db);
        await producer.ProduceAsync(KnownStreams.Checkpoints, "not-evaluated", "ModelReady", new ModelReady { Run = "not-evaluated", ModelDir = TinyModel }.ToByteArray()).WithTimeout();
        await producer.ProduceAsync(KnownStreams.Checkpoints, "evaluated", "ModelReady", new ModelReady { Run = "evaluated", ModelDir = TinyModel }.ToByteArray()).WithTimeout();

        StackExchange.Redis.StreamEntry[] evaluations = [];
        await TestTimeout.Until(async () => (evaluations = await db.StreamRangeAsync(KnownStreams.Evaluations)).Length > 0, EvalTimeout, "an EvaluationReady on synthvlm:evaluations");

        evaluations.Should().ContainSingle("the run without eval.enabled is not evaluated");
        var fields = evaluations[0].Values.ToDictionary(v => v.Name.ToString(), v => v.Value);
        fields[KnownStreamFields.Kind].ToString().Should().Be("EvaluationReady");
        fields[KnownStreamFields.TraceParent].ToString().Should().StartWith("00-4bf92f3577b34da6a3ce929d0e0e4736-", "the announcement continues the run's trace");
        var ready = EvaluationReady.Parser.ParseFrom((byte[])fields[KnownStreamFields.Data]!);
        ready.Run.Should().Be("evaluated");
        ready.ModelDir.Should().Be(TinyModel);
        ready.SummaryPath.Should().Be(Path.Combine(Data.FullName, "evaluations", "runs", "evaluated", "summary.json"));
        ready.Results.Should().ContainSingle().Which.Benchmark.Should().Be("pope");
        File.Exists(ready.SummaryPath).Should().BeTrue();
    }
}
