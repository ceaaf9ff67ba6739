namespace SynthVlm.Captions.Tests;

public sealed class LlavaAndFolderTests : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Llava_json_gives_one_caption_per_gpt_turn()
    {
        var path = _files.Write("llava.json", """
            [
              {"id": "000000033471", "image": "coco/train2017/000000033471.jpg",
               "conversations": [
                 {"from": "human", "value": "<image>\nDescribe the image briefly."},
                 {"from": "gpt", "value": "A bus parked at a stop."}]},
              {"id": "m2", "image": "b.jpg", "conversations": [
                 {"from": "human", "value": "q1"}, {"from": "gpt", "value": "first answer"},
                 {"from": "human", "value": "q2"}, {"from": "gpt", "value": "second answer"}]},
              {"id": "none", "conversations": [{"from": "human", "value": "only a question"}]},
              {"image": "c.jpg", "conversations": [{"from": "gpt", "value": "no id"}]}
            ]
            """);
        using var reader = CaptionPoolReader.Open(path);
        reader.Format.Should().Be(CaptionPoolFormat.LlavaJson);
        var records = reader.Read().ToList();
        records.Should().Equal(
            new PoolCaption(0, 2, "000000033471", true, "A bus parked at a stop.", "coco/train2017/000000033471.jpg", null, false),
            new PoolCaption(1, 6, "m2#1", true, "first answer", "b.jpg", null, false),
            new PoolCaption(2, 6, "m2#2", true, "second answer", "b.jpg", null, false),
            new PoolReject(3, 9, "conversations has no gpt turn", "{\"id\": \"none\", \"conversations\": [{\"from\": \"human\", \"value\": \"only a question\"}]}"),
            new PoolCaption(4, 10, CaptionIds.ForContent("no id"), false, "no id", "c.jpg", null, false));
    }

    [Fact]
    public void Image_folder_resolves_files_and_rejects_missing_or_escaping_ones()
    {
        _files.Write("set/train/a.png", [1, 2, 3]);
        _files.Write("set/train/sub/b.png", [1]);
        _files.Write("outside.png", [1]);
        _files.Write("set/metadata.jsonl",
            "{\"file_name\": \"train/a.png\", \"text\": \"a red ball\"}\n" +
            "{\"file_name\": \"train/sub/b.png\", \"caption\": \"blue\", \"id\": \"b\"}\n" +
            "{\"file_name\": \"train/missing.png\", \"text\": \"gone\"}\n" +
            "{\"file_name\": \"../outside.png\", \"text\": \"escape\"}\n" +
            "{\"file_name\": \"/etc/passwd\", \"text\": \"absolute\"}\n" +
            "{\"text\": \"no file\"}\n" +
            "{\"file_name\": \"train/a.png\"}\n");
        var folder = Path.Combine(_files.Folder, "set");
        using var reader = CaptionPoolReader.Open(folder);
        reader.Format.Should().Be(CaptionPoolFormat.ImageFolder);
        var records = reader.Read().ToList();
        records.Should().HaveCount(7);
        records[0].Should().Be(new PoolCaption(0, 1, CaptionIds.ForContent("a red ball"), false, "a red ball",
            Path.Combine(folder, "train", "a.png"), null, false));
        records[1].Should().BeOfType<PoolCaption>().Which.ImagePath.Should().Be(Path.Combine(folder, "train", "sub", "b.png"));
        records.Skip(2).Cast<PoolReject>().Select(r => (r.Line, r.Reason)).Should().Equal(
            (3, "image file 'train/missing.png' does not exist"),
            (4, "'file_name' escapes the folder: '../outside.png'"),
            (5, "'file_name' must be a path inside the folder, found '/etc/passwd'"),
            (6, "no 'file_name' field"),
            (7, "no caption field 'caption' or 'text'"));
    }

    [Fact]
    public void A_folder_without_metadata_and_a_missing_file_are_format_errors()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_files.Folder, "empty")).FullName;
        FluentActions.Invoking(() => CaptionPoolReader.Open(empty)).Should().Throw<CaptionPoolFormatException>()
            .Which.Message.Should().Contain(empty).And.Contain("metadata.jsonl");
        var missing = Path.Combine(_files.Folder, "nope.json");
        FluentActions.Invoking(() => CaptionPoolReader.Open(missing)).Should().Throw<CaptionPoolFormatException>()
            .Which.Message.Should().Be($"Caption pool '{missing}': no such file or folder.");
    }

    [Fact]
    public void Invalid_options_are_rejected_by_name()
    {
        var path = _files.Write("p.jsonl", "");
        FluentActions.Invoking(() => CaptionPoolReader.Open(path, new CaptionPoolOptions { MaxCaptionBytes = 0 }))
            .Should().Throw<ArgumentOutOfRangeException>().Which.ParamName.Should().Be("MaxCaptionBytes");
        FluentActions.Invoking(() => CaptionPoolReader.Open(path, new CaptionPoolOptions { CaptionColumn = " " }))
            .Should().Throw<ArgumentException>().Which.ParamName.Should().Be("CaptionColumn");
    }
}
