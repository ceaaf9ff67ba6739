using System.Collections.Concurrent;
using System.Globalization;
using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Recaptioning.ContinuousDpo;
using SynthVlm.Recaptioning.Preferences;
using SynthVlm.Testing;

namespace SynthVlm.Recaptioning.Tests;

/// <summary>
/// The continuous-DPO orchestrator with fakes: a captioner whose held-out captions lose one hallucinated "dog" per
/// DPO generation, a trainer that writes a folder per round, and an in-process judge whose extractor makes one claim
/// per word and whose verifier rejects "dog". Rates and pairs per round, seeds per round, "no valid pair" without
/// training, and resume of finished rounds.
/// </summary>
public sealed class ContinuousDpoRunnerTests : IDisposable
{
    private const string Prompt = "Describe the image.";
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-cdpo-").FullName;
    private readonly List<PreferenceImageSource> _training = [];
    private readonly List<PreferenceImageSource> _heldOut = [];

    public ContinuousDpoRunnerTests()
    {
        var images = Directory.CreateDirectory(Path.Combine(_dir, "images")).FullName;
        for (var i = 0; i < 3; i++)
        {
            _training.Add(new PreferenceImageSource($"t{i}", Touch(Path.Combine(images, $"t{i}.png"))));
            _heldOut.Add(new PreferenceImageSource($"h{i}", Touch(Path.Combine(images, $"h{i}.png"))));
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Two_rounds_build_pairs_train_and_measure_the_rate_after_each()
    {
        var world = new World(StartFolder);
        var runner = Runner(world, Out);

        var summary = await runner.RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();

        summary["rate_by_round"]!.AsArray().Select(r => r!.GetValue<double>()).Should().Equal(0.0, 1.0 / 3, 2.0 / 3);
        summary["pairs_by_round"]!.AsArray().Select(r => r!.GetValue<int>()).Should().Equal(6, 6);
        summary["rounds_trained"]!.GetValue<int>().Should().Be(2);
        summary["stopped"].Should().BeNull();
        world.Trained.Should().Equal((world.Start, Path.Combine(Out, "round-1", "pairs.jsonl")), (Checkpoint(1), Path.Combine(Out, "round-2", "pairs.jsonl")));
        summary["final_checkpoint"]!.GetValue<string>().Should().Be(Checkpoint(2));
        File.ReadAllLines(Path.Combine(Out, "round-1", "pairs.jsonl")).Should().HaveCount(6);
        world.SampleSeeds.Distinct().Should().BeEquivalentTo(new[] { 1000, 1001, 1002, 1003, 2000, 2001, 2002, 2003 }, "each round draws with its own seeds");

        var round1 = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "round-1", "round.json")))!;
        round1["status"]!.GetValue<string>().Should().Be(ContinuousDpoRunner.Trained);
        round1["policy"]!.GetValue<string>().Should().Be(world.Start);
        round1["checkpoint"]!.GetValue<string>().Should().Be(Checkpoint(1));
        round1["pairs"]!["ties"]!.GetValue<int>().Should().Be(6, "two dog and two cat captions per image: 2 ties among each");
        round1["pairs"]!["over_cap"]!.GetValue<int>().Should().Be(6);
        round1["dpo"]!["steps"]!.GetValue<int>().Should().Be(1);
        round1["heldout"]!["judged"]!.GetValue<int>().Should().Be(3);
        var (low, high) = Core.Statistics.WilsonInterval.Compute(1, 3);
        round1["heldout"]!["wilson95"]!.AsArray().Select(v => v!.GetValue<double>()).Should().Equal(low, high);
        File.ReadAllLines(Path.Combine(Out, "round-2", "heldout-captions.jsonl")).Should().HaveCount(3);
        File.ReadAllLines(Path.Combine(Out, "round-2", "heldout-judgements.jsonl")).Should().HaveCount(3);
        foreach (var (round, path) in new[] { (0, "round-0"), (1, "round-1"), (2, "round-2") })
        {
            // Each round's report: the same rate as its round.json, for the checkpoint the round measured.
            var roundJson = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, path, "round.json")))!;
            var report = JsonNode.Parse(File.ReadAllText(roundJson["report"]!.GetValue<string>()))!;
            report["format"]!.GetValue<string>().Should().Be(Hallucination.Reports.HallucinationReport.Format);
            report["checkpoint"]!["path"]!.GetValue<string>().Should().Be(round == 0 ? world.Start : Checkpoint(round));
            report["metrics"]!["non_hallucination_rate"]!["rate"]!.GetValue<double>().Should().Be(roundJson["heldout"]!["rate"]!.GetValue<double>());
            report["images"]!["count"]!.GetValue<int>().Should().Be(3);
            report["captions_file"]!.GetValue<string>().Should().Be(Path.Combine(Out, path, "heldout-captions.jsonl"));
            File.Exists(Path.Combine(Out, path, "report.md")).Should().BeTrue();
        }
        var svg = File.ReadAllText(Path.Combine(Out, "rate.svg"));
        svg.Split("<circle class=\"rate\"").Should().HaveCount(4, "one point per round, round 0 included");
        svg.Should().Contain("round 2: 66.7 %");
        world.OpenCaptioners.Should().Be(0, "every captioner was disposed");
    }

    [Fact]
    public async Task A_round_where_every_sample_ties_says_no_valid_pair_and_does_not_train()
    {
        var world = new World(StartFolder) { SampleDogs = _ => false };
        var summary = await Runner(world, Out).RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();

        world.Trained.Should().BeEmpty();
        summary["rounds_trained"]!.GetValue<int>().Should().Be(0);
        summary["stopped"]!.GetValue<string>().Should().StartWith("round 1: no valid pair: 18 candidate pairs from 3 images: 18 ties");
        summary["rate_by_round"]!.ToJsonString().Should().Be("[0,null]", "round 1 measured nothing: it did not train");
        summary["pairs_by_round"]!.ToJsonString().Should().Be("[0]");
        var round1 = JsonNode.Parse(File.ReadAllText(Path.Combine(Out, "round-1", "round.json")))!;
        round1["status"]!.GetValue<string>().Should().Be(ContinuousDpoRunner.NoValidPair);
        round1["checkpoint"].Should().BeNull();
        round1["reason"]!.GetValue<string>().Should().StartWith("no valid pair");
        Directory.Exists(Path.Combine(Out, "round-2")).Should().BeFalse();
        File.ReadAllText(Path.Combine(Out, "round-1", "pairs.jsonl")).Should().BeEmpty();
    }

    [Fact]
    public async Task A_rerun_reuses_finished_rounds_and_runs_only_the_unfinished_one()
    {
        var world = new World(StartFolder);
        var first = await Runner(world, Out).RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();
        File.Delete(Path.Combine(Out, "round-2", "round.json"));
        world.Trained.Clear();
        world.SampleSeeds.Clear();

        var again = await Runner(world, Out).RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();

        world.Trained.Should().Equal([(Checkpoint(1), Path.Combine(Out, "round-2", "pairs.jsonl"))], "round 1 was reused, round 2 ran again from its checkpoint");
        world.SampleSeeds.Should().OnlyContain(s => s >= 2000);
        again["rate_by_round"]!.ToJsonString().Should().Be(first["rate_by_round"]!.ToJsonString());

        world.Trained.Clear();
        var third = await Runner(world, Out).RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();
        world.Trained.Should().BeEmpty("every round is finished");
        third["rate_by_round"]!.ToJsonString().Should().Be(first["rate_by_round"]!.ToJsonString());
    }

    [Fact]
    public async Task A_rerun_with_other_settings_redoes_the_rounds_instead_of_reusing_them()
    {
        var world = new World(StartFolder);
        await Runner(world, Out).RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();
        world.Trained.Clear();

        var otherTrainer = new ContinuousDpoRunner(world, world, world.Judge(), new ContinuousDpoOptions
        {
            OutputDirectory = Out,
            Prompt = Prompt,
            Rounds = 2,
            Sampling = new PreferenceSamplingOptions { SamplesPerImage = 4, Temperature = 1.0, MaxTokens = 16 },
            TrainerSettings = new JsonObject { ["beta"] = 0.5 },
        });
        var again = await otherTrainer.RunAsync(world.Start, Images(_training), Images(_heldOut), TestTimeout.Token()).WithTimeout();

        world.Trained.Should().HaveCount(2, "both rounds were made with another trainer setting, so both are trained again");
        again["rounds"]![1]!["settings"]!["trainer"]!["beta"]!.GetValue<double>().Should().Be(0.5);
    }

    [Fact]
    public void Unusable_options_are_named()
    {
        var world = new World(StartFolder);
        var judge = world.Judge();
        var act = () => new ContinuousDpoRunner(world, world, judge, new ContinuousDpoOptions { OutputDirectory = Out, Prompt = Prompt, Rounds = 0 });
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("ContinuousDpoOptions.Rounds must be at least 1; found 0.*");
        var noPrompt = () => new ContinuousDpoRunner(world, world, judge, new ContinuousDpoOptions { OutputDirectory = Out, Prompt = " " });
        noPrompt.Should().Throw<ArgumentException>().WithMessage("*Prompt*");
    }

    private string Out => Path.Combine(_dir, "out");

    private string StartFolder => Path.Combine(_dir, "start");

    private string Checkpoint(int round) => Path.Combine(Out, $"round-{round}", "dpo", "model");

    private ContinuousDpoRunner Runner(World world, string output) => new(world, world, world.Judge(), new ContinuousDpoOptions
    {
        OutputDirectory = output,
        Prompt = Prompt,
        Rounds = 2,
        Sampling = new PreferenceSamplingOptions { SamplesPerImage = 4, Temperature = 1.0, MaxTokens = 16 },
    });

    private static Func<IAsyncEnumerable<PreferenceImageSource>> Images(IReadOnlyList<PreferenceImageSource> images) => () => images.ToAsyncEnumerable();

    private static string Touch(string path)
    {
        File.WriteAllBytes(path, [0x89, 0x50, 0x4E, 0x47]);
        return path;
    }

    /// <summary>
    /// The fakes. A checkpoint's generation is the number of DPO rounds behind it; held-out image hK's greedy caption
    /// mentions a dog (a rejected claim) while K ≥ generation. Sample s mentions a dog when <see cref="SampleDogs"/> says so.
    /// </summary>
    private sealed class World : ICaptionerFactory, IPreferenceTrainer
    {
        private readonly ConcurrentDictionary<string, int> _generation = new();
        private int _open;

        public World(string start)
        {
            Start = Directory.CreateDirectory(start).FullName;
            _generation[Start] = 0;
        }

        public string Start { get; }

        public Func<int, bool> SampleDogs { get; init; } = seed => seed % 2 == 0;

        public List<(string Checkpoint, string Pairs)> Trained { get; } = [];

        public ConcurrentBag<int> SampleSeeds { get; } = [];

        public int OpenCaptioners => _open;

        public CaptionHallucinationJudge Judge()
        {
            var judgeModel = new Model("judge", request =>
            {
                var text = request.Messages[^1].Text;
                if (Between(text, "Statement: \"", "\"") is { } claim)
                {
                    return claim.Contains("dog", StringComparison.Ordinal) ? "No" : "Yes";
                }
                var caption = Between(text, "Caption: \"", "\"\n") ?? string.Empty;
                return string.Join('\n', caption.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(w => $"- There is {w.TrimEnd('.')}."));
            }, null);
            return new CaptionHallucinationJudge(judgeModel, judgeModel);
        }

        public IChatModel Open(string checkpoint)
        {
            var generation = _generation.TryGetValue(checkpoint, out var g) ? g : throw new InvalidOperationException($"unknown checkpoint {checkpoint}");
            Interlocked.Increment(ref _open);
            return new Model(checkpoint, request =>
            {
                var image = Path.GetFileNameWithoutExtension(request.Messages[0].ImagePaths![0]);
                if (request.Temperature > 0)
                {
                    SampleSeeds.Add(request.Seed!.Value);
                    return SampleDogs(request.Seed!.Value) ? $"a dog near {image}" : $"a cat near {image}";
                }
                var index = int.Parse(image[1..], CultureInfo.InvariantCulture);
                return index >= generation ? "a dog here" : "a cat here";
            }, () => Interlocked.Decrement(ref _open));
        }

        public Task<PreferenceTrainingResult> TrainAsync(string checkpoint, string pairsPath, string outputDirectory, CancellationToken cancellationToken = default)
        {
            Trained.Add((checkpoint, pairsPath));
            var model = Directory.CreateDirectory(Path.Combine(outputDirectory, "model")).FullName;
            _generation[model] = _generation[checkpoint] + 1;
            return Task.FromResult(new PreferenceTrainingResult(model, new JsonObject { ["steps"] = 1, ["pairs_read"] = File.ReadAllLines(pairsPath).Length }));
        }

        private static string? Between(string text, string start, string end)
        {
            var i = text.IndexOf(start, StringComparison.Ordinal);
            if (i < 0)
            {
                return null;
            }
            i += start.Length;
            var j = text.IndexOf(end, i, StringComparison.Ordinal);
            return j < 0 ? null : text[i..j];
        }
    }

    private sealed class Model(string name, Func<ChatRequest, string> answer, Action? disposed) : IChatModel, IDisposable
    {
        public string ModelName => name;

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default) => Task.FromResult(new ChatReply(answer(request)));

        public void Dispose() => disposed?.Invoke();
    }
}
