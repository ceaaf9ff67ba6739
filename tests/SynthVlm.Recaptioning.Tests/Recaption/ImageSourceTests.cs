using SynthVlm.Recaptioning.Sources;

namespace SynthVlm.Recaptioning.Tests.Recaption;

public sealed class ImageSourceTests
{
    private static async Task<List<RecaptionItem>> ReadAll(IImageSource source)
    {
        var list = new List<RecaptionItem>();
        await foreach (var item in source.ReadAsync(SynthVlm.Testing.TestTimeout.Token()))
        {
            list.Add(item);
        }
        return list;
    }

    [Fact]
    public async Task Folder_is_walked_recursively_in_ordinal_order_with_ids_from_relative_paths()
    {
        using var temp = new TempFolder();
        TinyImages.Write(temp.Combine("b", "z 1.png"), 1);
        TinyImages.Write(temp.Combine("a.jpg"), 2);
        TinyImages.Write(temp.Combine("b", "a.PNG"), 3);
        TinyImages.Write(temp.Combine(".hidden", "x.png"), 4);
        File.WriteAllText(temp.Combine("notes.txt"), "not an image");

        ImageSources.Detect(temp.Path).Should().Be(ImageSourceKind.Folder);
        var items = await ReadAll(ImageSources.Open(temp.Path));

        items.Select(i => i.Id).Should().Equal("a", "b/a", "b/z_1");
        items.Select(i => i.Source).Should().Equal("a.jpg", "b/a.PNG", "b/z 1.png");
        items.Should().OnlyContain(i => i.ImagePath != null && File.Exists(i.ImagePath) && i.OriginalCaption == null && i.Problem == null);
    }

    [Fact]
    public async Task Imagefolder_keeps_the_metadata_caption_and_records_bad_lines()
    {
        using var temp = new TempFolder();
        TinyImages.Write(temp.Combine("train", "0001.png"), 1);
        TinyImages.Write(temp.Combine("train", "0002.png"), 2);
        File.WriteAllLines(temp.Combine("metadata.jsonl"),
        [
            """{"file_name": "train/0001.png", "text": "a red tile"}""",
            """{"file_name": "train/0002.png", "caption": "a green tile"}""",
            """{"file_name": "train/missing.png", "text": "gone"}""",
            """{"file_name": "train/0001.png", "text": oops""",
        ]);

        ImageSources.Detect(temp.Path).Should().Be(ImageSourceKind.ImageFolder);
        var items = await ReadAll(ImageSources.Open(temp.Path));

        items.Should().HaveCount(4);
        items[0].Should().Match<RecaptionItem>(i => i.Id == "train/0001" && i.OriginalCaption == "a red tile" && i.Problem == null);
        items[1].Should().Match<RecaptionItem>(i => i.Id == "train/0002" && i.OriginalCaption == "a green tile");
        items[2].ProblemKind.Should().Be(RejectKinds.SourceError);
        items[2].Id.Should().Be("metadata.jsonl:3");
        items[3].ProblemKind.Should().Be(RejectKinds.SourceError);
        items[3].Problem.Should().StartWith("metadata.jsonl:4");
    }

    [Fact]
    public async Task Caption_pool_resolves_relative_image_paths_and_refuses_urls()
    {
        using var temp = new TempFolder();
        TinyImages.Write(temp.Combine("img", "cat.png"), 9);
        var pool = temp.Combine("pool.jsonl");
        File.WriteAllLines(pool,
        [
            """{"id": "c 1", "caption": "a cat", "image": "img/cat.png"}""",
            """{"id": "c2", "caption": "a web cat", "url": "https://example.com/cat.jpg"}""",
            """{"caption": "no id here", "image": "img/cat.png"}""",
        ]);

        ImageSources.Detect(pool).Should().Be(ImageSourceKind.CaptionPool);
        var items = await ReadAll(ImageSources.Open(pool));

        items[0].Should().Match<RecaptionItem>(i => i.Id == "c_1" && i.ImagePath == temp.Combine("img", "cat.png") && i.OriginalCaption == "a cat");
        items[1].Problem.Should().Contain("URL").And.Contain("pool.jsonl:2");
        items[2].Id.Should().StartWith("h").And.HaveLength(17, "a record without id keeps the pool reader's content-hash id");
    }

    [Fact]
    public async Task WebDataset_groups_members_by_key_and_reads_captions_from_txt_or_json()
    {
        using var temp = new TempFolder();
        var first = TinyImages.Encoded(10);
        var second = TinyImages.Encoded(20, SynthVlm.Imaging.Codecs.ImageFormat.Jpeg);
        TinyImages.WriteTar(temp.Combine("shard-000.tar"),
        [
            ("s/000.jpg", second),
            ("s/000.txt", TinyImages.Text("alt text zero")),
            ("s/001.png", first),
            ("s/001.json", TinyImages.Text("""{"caption": "from json", "width": 4}""")),
            ("s/002.txt", TinyImages.Text("a sample without an image")),
        ]);
        TinyImages.WriteTar(temp.Combine("shard-001.tar"),
        [
            ("003.seg.png", first),
            ("003.png", second),
        ]);

        ImageSources.Detect(temp.Combine("shard-*.tar")).Should().Be(ImageSourceKind.WebDataset);
        var items = await ReadAll(ImageSources.Open(temp.Combine("shard-{000..001}.tar")));

        items.Select(i => i.Id).Should().Equal("s/000", "s/001", "003");
        items[0].ImageBytes.Should().Equal(second);
        items[0].OriginalCaption.Should().Be("alt text zero");
        items[1].ImageBytes.Should().Equal(first);
        items[1].OriginalCaption.Should().Be("from json");
        items[2].ImageBytes.Should().Equal(first, "the first image member of a sample is its image");
        items[2].Source.Should().Be("shard-001.tar:003.seg.png");
        items.Should().OnlyContain(i => i.ImagePath == null);
    }

    [Fact]
    public async Task WebDataset_records_a_huge_member_unread_and_a_truncated_shard_after_the_samples_before_it()
    {
        using var temp = new TempFolder();
        var image = TinyImages.Encoded(30);
        TinyImages.WriteTar(temp.Combine("a.tar"),
        [
            ("k0.png", image),
            ("k1.png", new byte[4096]),
            ("k2.png", image),
            ("k3.png", image),
        ]);
        var bytes = File.ReadAllBytes(temp.Combine("a.tar"));
        // Cut inside k3's data: the shard stops being a tar there.
        var cut = bytes.AsSpan().LastIndexOf(image.AsSpan()) + (image.Length / 2);
        File.WriteAllBytes(temp.Combine("a.tar"), bytes[..cut]);

        var items = await ReadAll(new WebDatasetSource([temp.Combine("a.tar")], maxImageBytes: 1024));

        items.Select(i => (i.Id, i.ProblemKind)).Should().Equal(
            ("k0", null), ("k1", RejectKinds.HugeImage), ("k2", null), ("a.tar:shard", RejectKinds.SourceError));
        items[1].Problem.Should().Contain("4096 bytes").And.Contain("MaxImageBytes");
    }

    [Theory]
    [InlineData("a/b.jpg", true, "a/b")]
    [InlineData("a\\b c.png", true, "a/b_c")]
    [InlineData("/x/y/", false, "x/y")]
    [InlineData("é.png", true, "_")]
    [InlineData(".png", true, ".png")]
    [InlineData("///", false, null)]
    [InlineData("../../etc/passwd", false, "__/__/etc/passwd")]
    [InlineData("a//./b", false, "a/_/b")]
    public void Ids_are_sanitised_stably(string input, bool dropExtension, string? expected) =>
        RecaptionIds.Sanitize(input, dropExtension).Should().Be(expected);

    [Theory]
    [InlineData("a/b.seg.jpg", "a/b", "seg.jpg")]
    [InlineData("dir.v1/000.txt", "dir.v1/000", "txt")]
    public void WebDataset_keys_split_at_the_first_dot_of_the_file_name(string member, string key, string extension) =>
        WebDatasetSource.KeyOf(member).Should().Be((key, extension));

    [Fact]
    public void A_missing_input_is_named()
    {
        var act = () => ImageSources.Detect("/nonexistent/recaption/input.jsonl");
        act.Should().Throw<FileNotFoundException>().WithMessage("*/nonexistent/recaption/input.jsonl*");
    }
}
