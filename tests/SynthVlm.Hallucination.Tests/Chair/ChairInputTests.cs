using System.Text;
using System.Text.Json;
using SynthVlm.Hallucination.Chair;

namespace SynthVlm.Hallucination.Tests.Chair;

/// <summary>
/// CHAIR's inputs: JSONL captions with bad lines (reported by line, the rest scored), a JSON array
/// with a bad element and one that breaks off, missing annotation files, an unknown category, and
/// annotation files far larger than the reading buffer (streamed, one caption longer than it).
/// </summary>
public sealed class ChairInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("synthvlm-chair-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Annotations => Path.Combine(ChairParityTests.Fixtures, "annotations");

    private async Task<(List<ChairCaptionResult> Results, List<ChairInputIssue> Issues, ChairSummary Summary)> ScoreAsync(string captions, string? annotations = null)
    {
        var results = new List<ChairCaptionResult>();
        var issues = new List<ChairInputIssue>();
        var summary = await ChairEvaluator.ScoreFileAsync(captions, annotations ?? Annotations, r => { results.Add(r); return ValueTask.CompletedTask; }, issues.Add);
        return (results, issues, summary);
    }

    [Fact]
    public async Task Jsonl_bad_lines_are_reported_by_line_and_the_rest_scored()
    {
        var path = Path.Combine(_dir, "captions.jsonl");
        File.WriteAllLines(path,
        [
            """{"image_id": 101, "caption": "A dog on a chair."}""",
            "",
            """{"image_id": "101", "caption": "A string id."}""",
            "{\"image_id\": 102, \"caption\": \"A cat.\"",
            """{"image_id": 102}""",
            """[1, 2]""",
            """{"image_id": 102, "caption": "A cat next to a toilet."}""",
        ]);

        var (results, issues, summary) = await ScoreAsync(path);

        results.Select(r => (r.ImageId, string.Join('|', r.HallucinatedObjects))).Should().Equal((101, ""), (102, "cat"));
        issues.Select(i => i.Where).Should().Equal("line 3", "line 4", "line 5", "line 6");
        issues[0].Problem.Should().Contain("integer image_id").And.Contain("\"101\"");
        issues[2].Problem.Should().Contain("image 102").And.Contain("caption");
        summary.Captions.Should().Be(2);
        summary.ChairS.Should().Be(0.5);
        summary.ChairI.Should().Be(1.0 / 4);
    }

    [Fact]
    public async Task Json_array_bad_element_is_skipped_and_a_broken_array_keeps_what_was_read()
    {
        var path = Path.Combine(_dir, "captions.json");
        File.WriteAllText(path, """
            [
              {"image_id": 777, "caption": "A cat."},
              {"caption": "No id."},
              {"image_id": 101, "caption": "A dog."},
              {"image_id": 101, "caption": "broken
            """);

        var (results, issues, summary) = await ScoreAsync(path);

        results.Select(r => r.ImageId).Should().Equal(777, 101);
        issues.Should().HaveCount(2);
        issues[0].Should().Be(new ChairInputIssue("element 2", "expected an integer image_id (a COCO image id), found none"));
        issues[1].Where.Should().Be("line 5");
        issues[1].Problem.Should().Contain("not read");
        // An image the annotations do not know has no objects: its cat is hallucinated (as in the official code).
        results[0].HallucinatedObjects.Should().Equal("cat");
        summary.ChairS.Should().Be(0.5);
    }

    [Fact]
    public async Task Json_array_larger_than_the_buffer_is_streamed_element_by_element()
    {
        var path = Path.Combine(_dir, "captions.json");
        var captions = Enumerable.Range(0, 3000).Select(i => new { image_id = 101L + (i % 2), caption = i == 1500
            ? string.Concat(Enumerable.Repeat("a long caption ", 6000)) + "with a cat."
            : $"Caption {i}: a dog and a toilet." }).ToList();
        File.WriteAllText(path, JsonSerializer.Serialize(captions));

        var (results, issues, summary) = await ScoreAsync(path);

        issues.Should().BeEmpty();
        results.Should().HaveCount(3000);
        results[1500].HallucinatedObjects.Should().Equal("cat");
        // image 101 has a dog and no toilet; 102 a toilet and no dog: every caption but the long one hallucinates one of two.
        summary.HallucinatedCaptions.Should().Be(3000);
        summary.Mentions.Should().Be((2 * 2999) + 1);
        summary.HallucinatedMentions.Should().Be(2999 + 1);
    }

    [Fact]
    public async Task No_caption_or_no_mention_leaves_the_metric_undefined_instead_of_dividing_by_zero()
    {
        var path = Path.Combine(_dir, "captions.jsonl");
        File.WriteAllText(path, """{"image_id": 101, "caption": "An empty room."}""" + "\n");
        var (_, _, summary) = await ScoreAsync(path);
        summary.ChairS.Should().Be(0);
        summary.ChairI.Should().BeNull();

        File.WriteAllText(path, "");
        (_, _, summary) = await ScoreAsync(path);
        summary.ChairS.Should().BeNull();
    }

    [Fact]
    public void Missing_annotation_files_are_named()
    {
        var folder = Path.Combine(_dir, "coco");
        Directory.CreateDirectory(folder);
        File.Copy(Path.Combine(Annotations, "instances_val2014.json"), Path.Combine(folder, "instances_val2014.json"));

        var act = () => ChairGroundTruth.LoadCoco(folder, new HashSet<long> { 101 }, ChairVocabulary.Official);

        act.Should().Throw<FileNotFoundException>()
            .Which.Message.Should().Contain("missing: instances_train2014.json, captions_val2014.json, captions_train2014.json");
    }

    [Fact]
    public void An_annotation_with_a_category_the_train_file_lacks_is_named()
    {
        var folder = CopyAnnotations();
        var val = Path.Combine(folder, "instances_val2014.json");
        File.WriteAllText(val, File.ReadAllText(val).Replace("\"category_id\": 62", "\"category_id\": 999", StringComparison.Ordinal));

        var act = () => ChairGroundTruth.LoadCoco(folder, new HashSet<long> { 101 }, ChairVocabulary.Official);

        act.Should().Throw<InvalidDataException>().Which.Message.Should()
            .Contain("instances_val2014.json: annotation 3 (image 101): category_id 999 is not in");
        // Images whose annotations are fine are not affected: the official code only looks at asked-for images.
        ChairGroundTruth.LoadCoco(folder, new HashSet<long> { 102 }, ChairVocabulary.Official).ObjectsIn(102).Should().Contain("toilet");
    }

    [Fact]
    public void Annotation_files_larger_than_the_buffer_are_streamed()
    {
        var folder = CopyAnnotations();
        // 20,000 segmentations with long polygons (~6 MB) after the categories, and a ground-truth
        // caption longer than the 64 KiB reading buffer.
        var instances = JsonNodeFile(Path.Combine(folder, "instances_train2014.json"));
        var annotations = new StringBuilder();
        var polygon = string.Join(", ", Enumerable.Range(0, 120));
        for (var i = 0; i < 20_000; i++)
        {
            var image = i == 19_999 ? 300 : 400 + (i % 50);
            annotations.Append(System.Globalization.CultureInfo.InvariantCulture, $"{{\"segmentation\": [[{polygon}]], \"id\": {10_000 + i}, \"image_id\": {image}, \"category_id\": 22}},\n");
        }
        File.WriteAllText(Path.Combine(folder, "instances_train2014.json"),
            "{\"annotations\": [" + annotations.ToString().TrimEnd(',', '\n') + "], \"categories\": " + instances.GetProperty("categories").GetRawText() + "}");
        var captions = Path.Combine(folder, "captions_train2014.json");
        var longCaption = string.Concat(Enumerable.Repeat("a very long caption ", 5000)) + "with a laptop.";
        File.WriteAllText(captions, JsonSerializer.Serialize(new { annotations = new[] { new { id = 1, image_id = 300, caption = longCaption } } }));

        var truth = ChairGroundTruth.LoadCoco(folder, new HashSet<long> { 300, 401 }, ChairVocabulary.Official);

        truth.ObjectsIn(300).Should().BeEquivalentTo("elephant", "laptop");
        truth.ObjectsIn(401).Should().BeEquivalentTo("elephant");
        truth.ObjectsIn(402).Should().BeEmpty("only the images asked for are kept");
    }

    private static JsonElement JsonNodeFile(string path) => JsonDocument.Parse(File.ReadAllText(path)).RootElement;

    private string CopyAnnotations()
    {
        var folder = Path.Combine(_dir, "coco");
        Directory.CreateDirectory(folder);
        foreach (var file in ChairGroundTruth.RequiredFiles)
        {
            File.Copy(Path.Combine(Annotations, file), Path.Combine(folder, file));
        }
        return folder;
    }
}
