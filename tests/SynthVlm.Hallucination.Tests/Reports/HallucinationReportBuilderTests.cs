using System.Text.Json.Nodes;
using SynthVlm.ChatEndpoints;
using SynthVlm.Hallucination.Chair;
using SynthVlm.Hallucination.Claims;
using SynthVlm.Hallucination.Reports;
using SynthVlm.Testing;

namespace SynthVlm.Hallucination.Tests.Reports;

/// <summary>
/// <see cref="HallucinationReportBuilder"/> with a scripted captioner (captions chosen per image file): the CHAIR section
/// equals <see cref="ChairEvaluator.ScoreFileAsync"/> on the captions file it wrote (the CHAIR fixture's annotations),
/// the judged section equals <see cref="NonHallucinationRate.MeasureAsync"/> on the same captions with the judge's
/// garbage counted as unjudged, empty captions and captioner failures are counted and kept out of the file, and bad
/// input (no metric, a missing annotations folder) is refused before anything is captioned.
/// </summary>
public sealed class HallucinationReportBuilderTests : IDisposable
{
    private static readonly string Annotations = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Hallucination.Tests", "Fixtures", "chair", "annotations");
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-hallucination-report-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Answers with the caption scripted for the image's file name; "FAIL" throws as a failing endpoint does.</summary>
    private sealed class ScriptedCaptioner(IReadOnlyDictionary<string, string> byFile) : IChatModel
    {
        public List<ChatRequest> Requests { get; } = [];

        public string ModelName => "scripted-captioner";

        public Task<ChatReply> CompleteAsync(ChatRequest request, CancellationToken cancellationToken = default)
        {
            lock (Requests)
            {
                Requests.Add(request);
            }
            var caption = byFile[Path.GetFileName(request.Messages[^1].ImagePaths![0])];
            return caption == "FAIL" ? throw new ChatModelException("scripted failure") : Task.FromResult(new ChatReply(caption));
        }
    }

    private static readonly Dictionary<string, string> Captions = new(StringComparer.Ordinal)
    {
        ["101.png"] = "  A dog and a cat sit on a chair next to a man. ",
        ["COCO_val2014_000000000102.png"] = "A toilet seat next to a sink. A person stands by the toilet.",
        ["000000000103.png"] = "Two wine glasses beside hot dogs on the table.",
        ["empty.png"] = "   ",
        ["broken.png"] = "FAIL",
        ["named.png"] = "A cat on a bed.",
    };

    private List<ReportImage> Images()
    {
        var images = Captions.Keys.Select(name =>
        {
            var path = Path.Combine(_dir, name);
            File.WriteAllBytes(path, [0x89, 0x50, 0x4E, 0x47, 1, 2, 3]);
            return new ReportImage(Path.GetFileNameWithoutExtension(name), path);
        }).ToList();
        images.Add(new ReportImage("gone", null, "gone.jpg: not an image"));
        return images;
    }

    private HallucinationReportOptions Options(ChairReportRequest? chair = null, JudgeReportRequest? judge = null) => new()
    {
        CaptionsPath = Path.Combine(_dir, "out", "captions.jsonl"),
        Captioning = new CaptioningSettings("brief@1", "Describe it.", MaxTokens: 32, InFlight: 3),
        ImagesSource = _dir,
        Chair = chair,
        Judge = judge,
    };

    [Fact]
    public async Task The_chair_section_equals_the_chair_evaluator_on_the_captions_file_it_wrote()
    {
        var captioner = new ScriptedCaptioner(Captions);
        var report = await new HallucinationReportBuilder(Options(new ChairReportRequest(Annotations)))
            .BuildAsync(captioner, CaptionerIdentity.ForCheckpointPath(_dir), Images().ToAsyncEnumerable());

        var lines = File.ReadAllLines(report.CaptionsFile).Select(l => JsonNode.Parse(l)!).ToList();
        lines.Select(l => l["image_id"]!.ToJsonString()).Should().Equal("101", "102", "103", "\"named\"");
        lines[0]!["caption"]!.GetValue<string>().Should().Be("A dog and a cat sit on a chair next to a man.", "replies are trimmed");
        report.Captioning.Should().BeEquivalentTo(new { Images = 7, Captioned = 4, Empty = 1, Failed = 1, Unreadable = 1 });
        report.Captioning.Problems.Should().Contain(p => p.Contains("image empty", StringComparison.Ordinal) && p.Contains("empty caption", StringComparison.Ordinal))
            .And.Contain(p => p.Contains("image broken", StringComparison.Ordinal) && p.Contains("scripted failure", StringComparison.Ordinal))
            .And.Contain(p => p.Contains("gone.jpg: not an image", StringComparison.Ordinal));
        captioner.Requests.Should().OnlyContain(r => r.Temperature == 0 && r.MaxTokens == 32 && r.Messages.Last().Text == "Describe it.");

        var skipped = 0;
        var expected = await ChairEvaluator.ScoreFileAsync(report.CaptionsFile, Annotations, _ => ValueTask.CompletedTask, _ => skipped++);
        var chair = report.Chair!;
        chair["chair_s"]!.GetValue<double>().Should().Be(expected.ChairS!.Value).And.BeGreaterThan(0);
        chair["chair_i"]!.GetValue<double>().Should().Be(expected.ChairI!.Value);
        chair["captions_scored"]!.GetValue<long>().Should().Be(expected.Captions).And.Be(3);
        chair["object_mentions"]!.GetValue<long>().Should().Be(expected.Mentions);
        chair["hallucinated_mentions"]!.GetValue<long>().Should().Be(expected.HallucinatedMentions);
        chair["skipped"]!.GetValue<int>().Should().Be(skipped).And.Be(1, "the image named 'named' has no COCO id");
        report.NonHallucination.Should().BeNull();
        report.Pope.Should().BeNull();
        report.ToJson()["metrics"]!.AsObject().Select(p => p.Key).Should().Equal(HallucinationReport.ChairKey);
    }

    [Fact]
    public async Task The_judged_section_equals_the_rate_measured_on_the_same_captions_and_counts_garbage_as_unjudged()
    {
        await using var judge = new ClaimsFakeJudge();
        judge.Extract("A dog and a cat sit on a chair next to a man.", "There is a dog.", "There is a cat.");
        judge.Extract("A toilet seat next to a sink. A person stands by the toilet.", "There is a toilet.");
        judge.Extractions["Two wine glasses beside hot dogs on the table."] = FakeChatReply.Answer("I cannot help with that request, sorry.");
        judge.Extract("A cat on a bed.", "There is a cat.", "There is a bed.");
        judge.Verdict("There is a dog.", "Yes");
        judge.Verdict("There is a cat.", "No");
        judge.Verdict("There is a toilet.", "Yes");
        judge.Verdict("There is a bed.", "Yes");
        var claimJudge = new CaptionHallucinationJudge(judge.Client(), judge.Client());
        var records = Path.Combine(_dir, "judgements.jsonl");

        var report = await new HallucinationReportBuilder(Options(judge: new JudgeReportRequest(claimJudge, [judge.Server.BaseUri.ToString()], records)))
            .BuildAsync(new ScriptedCaptioner(Captions), CaptionerIdentity.ForEndpoint(new Uri("http://captioner:8000/v1"), "served"), Images().ToAsyncEnumerable());

        var expected = await NonHallucinationRate.MeasureAsync(claimJudge, ReadForJudge(report.CaptionsFile), null);
        var rate = report.NonHallucination!;
        rate["unjudged"]!.GetValue<int>().Should().Be(expected.Unjudged).And.Be(1, "the judge's garbage leaves one caption unjudged");
        rate["judged"]!.GetValue<int>().Should().Be(expected.Judged).And.Be(3);
        rate["rate"]!.GetValue<double>().Should().Be(expected.Rate!.Value).And.BeApproximately(1.0 / 3, 1e-12);
        rate["wilson95"]![0]!.GetValue<double>().Should().Be(expected.Wilson95.Low);
        rate["wilson95"]![1]!.GetValue<double>().Should().Be(expected.Wilson95.High);
        rate["extraction_prompt"]!.GetValue<string>().Should().Be(ClaimExtractionPrompt.Version);
        rate["verification_prompt"]!.GetValue<string>().Should().Be(ClaimVerificationPrompt.Version);
        rate["records"]!.GetValue<string>().Should().Be(records);
        File.ReadAllLines(records).Should().HaveCount(4);
        var json = report.ToJson();
        json["checkpoint"]!["kind"]!.GetValue<string>().Should().Be("endpoint");
        json["checkpoint"]!["served_model"]!.GetValue<string>().Should().Be("served");
        json["captions_file"]!.GetValue<string>().Should().Be(report.CaptionsFile);

        var markdownPath = await report.WriteAsync(Path.Combine(_dir, "out", "report.json"));
        markdownPath.Should().Be(Path.Combine(_dir, "out", "report.md"));
        JsonNode.DeepEquals(JsonNode.Parse(File.ReadAllText(Path.Combine(_dir, "out", "report.json"))), json).Should().BeTrue();
        File.ReadAllText(markdownPath).Should().Contain("| non-hallucination rate | 0.3333 |").And.Contain("1 unjudged");
    }

    private static async IAsyncEnumerable<CaptionToJudge> ReadForJudge(string path)
    {
        await foreach (var entry in ChairCaptionReader.ReadForJudgeAsync(path, issue => throw new InvalidOperationException(issue.Problem)))
        {
            yield return new CaptionToJudge(entry.ImageId, entry.Image!, entry.Caption);
        }
    }

    [Fact]
    public void No_metric_requested_is_refused_with_a_clear_message()
    {
        var act = () => new HallucinationReportBuilder(Options());
        act.Should().Throw<ArgumentException>().WithMessage("no metric requested*CHAIR annotations, a judge or a POPE benchmark*");
    }

    [Fact]
    public void A_missing_annotations_folder_is_named_before_any_image_is_captioned()
    {
        var missing = Path.Combine(_dir, "no-annotations");
        var act = () => new HallucinationReportBuilder(Options(new ChairReportRequest(missing)));
        act.Should().Throw<DirectoryNotFoundException>().WithMessage($"*{missing}*no such folder*");

        var incomplete = Directory.CreateDirectory(Path.Combine(_dir, "half")).FullName;
        File.WriteAllText(Path.Combine(incomplete, "instances_val2014.json"), "{}");
        var half = () => new HallucinationReportBuilder(Options(new ChairReportRequest(incomplete)));
        half.Should().Throw<FileNotFoundException>().WithMessage("*missing: instances_train2014.json, captions_val2014.json, captions_train2014.json*");
    }

    [Theory]
    [InlineData("42", 42L)]
    [InlineData("000000000042", 42L)]
    [InlineData("COCO_val2014_000000000042", 42L)]
    [InlineData("COCO_train2014_000000581929", 581929L)]
    [InlineData("cat", null)]
    [InlineData("42a", null)]
    [InlineData("", null)]
    public void Coco_image_ids_are_read_from_file_names(string id, long? expected) =>
        HallucinationReportBuilder.CocoImageId(id).Should().Be(expected);

    [Fact]
    public async Task A_checkpoint_hash_depends_on_content_and_names_not_on_where_the_folder_is()
    {
        var a = Directory.CreateDirectory(Path.Combine(_dir, "a")).FullName;
        var b = Directory.CreateDirectory(Path.Combine(_dir, "b", "c")).FullName;
        foreach (var folder in new[] { a, b })
        {
            File.WriteAllText(Path.Combine(folder, "config.json"), "{}");
            Directory.CreateDirectory(Path.Combine(folder, "sub"));
            File.WriteAllBytes(Path.Combine(folder, "sub", "w.bin"), [1, 2, 3]);
        }
        var first = await CaptionerIdentity.ForCheckpointAsync(a);
        (await CaptionerIdentity.ForCheckpointAsync(b)).ContentSha256.Should().Be(first.ContentSha256);
        first.Files.Should().Be(2);
        first.Bytes.Should().Be(5);
        File.WriteAllBytes(Path.Combine(b, "sub", "w.bin"), [1, 2, 4]);
        (await CaptionerIdentity.ForCheckpointAsync(b)).ContentSha256.Should().NotBe(first.ContentSha256).And.MatchRegex("^[0-9a-f]{64}$");
        var missing = () => CaptionerIdentity.ForCheckpointAsync(Path.Combine(_dir, "nothing"));
        await missing.Should().ThrowAsync<FileNotFoundException>().WithMessage("*nothing*");
    }
}
