using System.Text;
using System.Text.Json;
using System.Xml.Linq;
using SynthVlm.Blobs;
using SynthVlm.Imaging.Codecs;
using SynthVlm.Testing;

namespace SynthVlm.Datasets.Tests;

public sealed class DatasetWriterTests : IDisposable
{
    private readonly TestData _data = new();

    public void Dispose() => _data.Dispose();

    [Fact]
    public async Task LlavaJson_follows_the_LLaVA_pretraining_schema()
    {
        var items = _data.Items(5);
        var result = await _data.WriteAsync("ds", items).WithTimeout();

        using var doc = JsonDocument.Parse(File.ReadAllBytes(result.LlavaJsonPath));
        doc.RootElement.ValueKind.Should().Be(JsonValueKind.Array);
        doc.RootElement.GetArrayLength().Should().Be(5);
        var i = 0;
        foreach (var entry in doc.RootElement.EnumerateArray())
        {
            var item = items[i];
            entry.EnumerateObject().Select(p => p.Name).Should().Equal("id", "image", "conversations");
            entry.GetProperty("id").GetString().Should().Be(item.Id);
            entry.GetProperty("image").GetString().Should().Be($"images/00000/{item.Id}.png");
            var turns = entry.GetProperty("conversations").EnumerateArray().ToList();
            turns.Should().HaveCount(2);
            turns[0].GetProperty("from").GetString().Should().Be("human");
            var human = turns[0].GetProperty("value").GetString()!;
            human.Should().EndWith("\n<image>");
            LlavaPrompts.BriefDescription.Should().Contain(human[..^"\n<image>".Length]);
            human.Should().Be(LlavaPrompts.For(item.Id) + "\n<image>");
            turns[1].GetProperty("from").GetString().Should().Be("gpt");
            turns[1].GetProperty("value").GetString().Should().Be(item.Caption);
            i++;
        }
        result.Count.Should().Be(5);
        result.AlreadyExisted.Should().BeFalse();
    }

    [Fact]
    public async Task Images_exist_are_the_source_bytes_and_decode()
    {
        var items = _data.Items(7);
        var result = await _data.WriteAsync("ds", items, new DatasetOptions { ImagesPerFolder = 3 }).WithTimeout();

        for (var rank = 0; rank < items.Count; rank++)
        {
            var path = Path.Combine(result.Directory, "images", (rank / 3).ToString("D5", System.Globalization.CultureInfo.InvariantCulture), items[rank].Id + ".png");
            File.Exists(path).Should().BeTrue(path);
            File.ReadAllBytes(path).Should().Equal(_data.Images[items[rank].ImageKey]);
            using var image = ImageCodec.DecodeFile(path);
            image.Width.Should().Be(8 + (rank % 3));
            image.Height.Should().Be(6);
        }
        Directory.GetDirectories(Path.Combine(result.Directory, "images")).Select(Path.GetFileName).Order(StringComparer.Ordinal)
            .Should().Equal("00000", "00001", "00002");
    }

    [Fact]
    public async Task Manifest_is_one_to_one_with_llava_json_and_has_no_timings()
    {
        var items = _data.Items(4);
        var result = await _data.WriteAsync("ds", items).WithTimeout();

        var lines = File.ReadAllLines(result.ManifestPath);
        using var llava = JsonDocument.Parse(File.ReadAllBytes(result.LlavaJsonPath));
        var entries = llava.RootElement.EnumerateArray().ToList();
        lines.Should().HaveCount(entries.Count).And.HaveCount(4);
        for (var i = 0; i < lines.Length; i++)
        {
            using var record = JsonDocument.Parse(lines[i]);
            var r = record.RootElement;
            r.EnumerateObject().Select(p => p.Name).Should().Equal(
                "id", "image", "caption", "rank", "variant", "seed", "clip", "ssim", "weighted", "lambda",
                "cosine", "caption_truncated", "generation_model", "clip_model", "settings");
            r.GetProperty("id").GetString().Should().Be(entries[i].GetProperty("id").GetString());
            r.GetProperty("image").GetString().Should().Be(entries[i].GetProperty("image").GetString());
            r.GetProperty("caption").GetString().Should().Be(items[i].Caption);
            r.GetProperty("rank").GetInt64().Should().Be(i);
            r.GetProperty("variant").GetInt32().Should().Be(items[i].Variant);
            r.GetProperty("seed").GetUInt64().Should().Be(items[i].Seed);
            r.GetProperty("clip").GetDouble().Should().Be(items[i].Clip); // exact: printed round-trip
            r.GetProperty("weighted").GetDouble().Should().Be(items[i].Weighted);
            r.GetProperty("caption_truncated").GetBoolean().Should().Be(items[i].CaptionTruncated);
            r.GetProperty("settings").EnumerateObject().Select(p => p.Name).Should().Equal("a_first", "guidance", "height", "steps");
        }
        File.ReadAllText(result.ManifestPath).Should().NotContain("timings").And.NotContain("generate");

        var timings = File.ReadAllLines(result.TimingsPath);
        timings.Should().HaveCount(4);
        using var t0 = JsonDocument.Parse(timings[2]);
        t0.RootElement.GetProperty("id").GetString().Should().Be(items[2].Id);
        t0.RootElement.GetProperty("timings").GetProperty("generate").GetDouble().Should().Be(3.5);
    }

    [Fact]
    public async Task Manifest_numbers_are_shortest_round_trip_in_invariant_culture()
    {
        var item = _data.Item("n", 0) with { Clip = 0.1, Ssim = 1.0 / 3, Weighted = 0.1 + (0.5 / 3), Cosine = -0.04 };
        var result = await _data.WriteAsync("ds", [item]).WithTimeout();
        var line = File.ReadAllText(result.ManifestPath);
        line.Should().Contain("\"clip\":0.1,").And.Contain("\"ssim\":0.3333333333333333,").And.Contain("\"cosine\":-0.04,");
        line.Should().EndWith("}\n");
    }

    [Fact]
    public async Task Two_writes_of_the_same_inputs_are_byte_identical()
    {
        var items = _data.Items(6);
        var options = new DatasetOptions { ItemsPerTarShard = 4, ImagesPerFolder = 4 };
        var a = await _data.WriteAsync("a", items, options).WithTimeout();
        var b = await _data.WriteAsync("b", items, options).WithTimeout();

        string[] Files(string root) => Directory.GetFiles(root, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(root, f)).Order(StringComparer.Ordinal).ToArray();
        Files(a.Directory).Should().Equal(Files(b.Directory));
        Files(a.Directory).Should().Contain(["llava.json", "manifest.jsonl", "shards/run-1-000000.tar", "shards/run-1-000001.tar", "dataset.json"]);
        foreach (var file in Files(a.Directory))
        {
            File.ReadAllBytes(Path.Combine(a.Directory, file)).Should().Equal(File.ReadAllBytes(Path.Combine(b.Directory, file)), file);
        }
        a.FilesWritten.Should().Be(Files(a.Directory).Length);
        a.Shards.Should().Be(2);
    }

    [Fact]
    public async Task Tar_shards_read_back_with_python_tarfile()
    {
        var items = _data.Items(5);
        items[3] = items[3] with { Id = "with.dots.in.id", Caption = "ünïcödé caption ✓" };
        var result = await _data.WriteAsync("ds", items, new DatasetOptions { ItemsPerTarShard = 2 }).WithTimeout();
        result.Shards.Should().Be(3);

        var script = Path.Combine(_data.Root, "read_tar.py");
        await File.WriteAllTextAsync(script, """
            import hashlib, json, sys, tarfile
            out = []
            for path in sys.argv[1:]:
                with tarfile.open(path, "r:") as tar:
                    for m in tar.getmembers():
                        data = tar.extractfile(m).read()
                        out.append([m.name, m.size, m.mode, m.mtime, m.uid, m.gid, m.isreg(), hashlib.sha256(data).hexdigest()])
            print(json.dumps(out))
            """);
        var shards = Enumerable.Range(0, 3).Select(n => Path.Combine(result.Directory, DatasetLayout.ShardPath("run-1", n))).ToList();
        var run = await ChildProcess.RunPythonAsync(script, shards, TimeSpan.FromSeconds(60));
        run.ExitCode.Should().Be(0, run.StandardError);

        var manifest = File.ReadAllLines(result.ManifestPath);
        var expected = new List<(string Name, byte[] Data)>();
        for (var rank = 0; rank < items.Count; rank++)
        {
            var key = $"{rank:D9}_{BlobKey.Segment(items[rank].Id).Replace('.', '_')}";
            key.Should().NotContain(".");
            expected.Add(($"{key}.png", _data.Images[items[rank].ImageKey]));
            expected.Add(($"{key}.txt", Encoding.UTF8.GetBytes(items[rank].Caption)));
            expected.Add(($"{key}.json", Encoding.UTF8.GetBytes(manifest[rank])));
        }
        using var members = JsonDocument.Parse(run.StandardOutput);
        var actual = members.RootElement.EnumerateArray().ToList();
        actual.Should().HaveCount(expected.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var m = actual[i];
            m[0].GetString().Should().Be(expected[i].Name);
            m[1].GetInt64().Should().Be(expected[i].Data.Length);
            m[2].GetInt32().Should().Be(420); // 0644
            m[3].GetInt64().Should().Be(0);
            m[4].GetInt32().Should().Be(0);
            m[5].GetInt32().Should().Be(0);
            m[6].GetBoolean().Should().BeTrue();
            m[7].GetString().Should().Be(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(expected[i].Data)), expected[i].Name);
        }
        foreach (var shard in shards)
        {
            (new FileInfo(shard).Length % 512).Should().Be(0);
        }
    }

    [Theory]
    [InlineData("../../x")]
    [InlineData("/etc/passwd")]
    [InlineData("a\u0001b")]
    [InlineData("..")]
    [InlineData(".hidden")]
    [InlineData("a/b\\c")]
    [InlineData("C:\\Windows\\evil")]
    [InlineData("日本語のキャプション")]
    public async Task Hostile_ids_never_leave_the_dataset_folder(string id)
    {
        var items = new List<DatasetItem> { _data.Item(id, 0), _data.Item("plain", 1) };
        var result = await _data.WriteAsync("ds", items).WithTimeout();

        // Only the dataset folder was created beside it, and everything is inside.
        Directory.GetFileSystemEntries(_data.Root).Select(Path.GetFileName).Should().Equal("ds");
        var root = result.Directory + Path.DirectorySeparatorChar;
        foreach (var file in Directory.GetFiles(result.Directory, "*", SearchOption.AllDirectories))
        {
            Path.GetFullPath(file).Should().StartWith(root);
        }
        using var llava = JsonDocument.Parse(File.ReadAllBytes(result.LlavaJsonPath));
        var first = llava.RootElement[0];
        first.GetProperty("id").GetString().Should().Be(id);
        var image = first.GetProperty("image").GetString()!;
        image.Should().StartWith("images/00000/").And.EndWith(".png");
        var fileName = image["images/00000/".Length..];
        fileName.Should().NotContain("/").And.NotStartWith(".");
        fileName.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-').Should().BeTrue(fileName);
        File.Exists(Path.Combine(result.Directory, image)).Should().BeTrue();
        File.Exists(Path.Combine(_data.Root, "x")).Should().BeFalse();
    }

    [Fact]
    public async Task Second_write_of_the_same_run_returns_the_dataset_unchanged()
    {
        var items = _data.Items(3);
        var first = await _data.WriteAsync("ds", items).WithTimeout();
        var before = File.ReadAllBytes(first.ManifestPath);
        var readsBefore = _data.Reads;
        var stamp = File.GetLastWriteTimeUtc(first.MarkerPath);

        var second = await _data.WriteAsync("ds", _data.Items(5)).WithTimeout();

        second.AlreadyExisted.Should().BeTrue();
        second.Count.Should().Be(3);
        second.FilesWritten.Should().Be(first.FilesWritten);
        second.Directory.Should().Be(first.Directory);
        _data.Reads.Should().Be(readsBefore);
        File.ReadAllBytes(second.ManifestPath).Should().Equal(before);
        File.GetLastWriteTimeUtc(first.MarkerPath).Should().Be(stamp);
    }

    [Fact]
    public async Task A_dataset_of_another_run_is_refused_and_left_alone()
    {
        var items = _data.Items(2);
        var first = await _data.WriteAsync("ds", items).WithTimeout();
        var manifest = File.ReadAllBytes(first.ManifestPath);

        var act = () => _data.WriteAsync("ds", items, run: TestData.Run("run-2"));

        var error = (await act.Should().ThrowAsync<DatasetException>()).Which;
        error.Message.Should().Contain(first.Directory).And.Contain("run-1").And.Contain("run-2");
        File.ReadAllBytes(first.ManifestPath).Should().Equal(manifest);
        Directory.GetFileSystemEntries(_data.Root).Select(Path.GetFileName).Should().Equal("ds");
    }

    [Fact]
    public async Task A_folder_with_other_files_is_refused_and_left_alone()
    {
        var folder = Path.Combine(_data.Root, "ds");
        Directory.CreateDirectory(folder);
        await File.WriteAllTextAsync(Path.Combine(folder, "notes.txt"), "mine");

        var act = () => _data.WriteAsync("ds", _data.Items(2));

        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain(folder).And.Contain("dataset.json");
        Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).Should().Equal("notes.txt");
        Directory.GetFileSystemEntries(_data.Root).Select(Path.GetFileName).Should().Equal("ds");
    }

    [Fact]
    public async Task An_existing_empty_folder_is_filled()
    {
        Directory.CreateDirectory(Path.Combine(_data.Root, "ds"));
        var result = await _data.WriteAsync("ds", _data.Items(1)).WithTimeout();
        result.Count.Should().Be(1);
        File.Exists(result.MarkerPath).Should().BeTrue();
    }

    [Fact]
    public async Task An_empty_selection_still_writes_a_complete_dataset_that_says_why()
    {
        var generated = _data.Items(4);
        var run = TestData.Run() with { Notes = ["the caption pool was empty"] };
        var result = await _data.WriteAsync("ds", [], run: run, all: TestData.Statistics(generated)).WithTimeout();

        result.Count.Should().Be(0);
        result.Shards.Should().Be(0);
        File.ReadAllText(result.LlavaJsonPath).Should().Be("[]");
        File.ReadAllBytes(result.ManifestPath).Should().BeEmpty();
        File.ReadAllBytes(result.TimingsPath).Should().BeEmpty();
        var report = File.ReadAllText(result.ReportPath);
        report.Should().Contain("The dataset is empty").And.Contain("the caption pool was empty");
        report.Should().Contain("| selected | 0 | n/a | n/a | n/a |");
        report.Should().Contain("| all generated | 4 |");
        foreach (var svg in new[] { "clip.svg", "ssim.svg", "weighted.svg" })
        {
            XDocument.Load(Path.Combine(result.Directory, "histograms", svg)).Root!.Name.LocalName.Should().Be("svg");
        }
        using var marker = JsonDocument.Parse(File.ReadAllBytes(result.MarkerPath));
        marker.RootElement.GetProperty("count").GetInt64().Should().Be(0);
        marker.RootElement.GetProperty("run_id").GetString().Should().Be("run-1");
        marker.RootElement.GetProperty("format").GetString().Should().Be("synthvlm-dataset");
    }

    [Fact]
    public async Task A_failing_image_read_leaves_no_folder_and_no_staging_leftovers()
    {
        var items = _data.Items(4);
        items[2] = items[2] with { ImageKey = "runs/r/images/missing/0.png" };

        var act = () => _data.WriteAsync("ds", items);

        var error = (await act.Should().ThrowAsync<DatasetException>()).Which;
        error.Message.Should().Contain("runs/r/images/missing/0.png").And.Contain(items[2].Id);
        error.InnerException.Should().BeOfType<FileNotFoundException>();
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Fact]
    public async Task Cancellation_leaves_no_folder_and_no_staging_leftovers()
    {
        using var cts = new CancellationTokenSource();
        var items = _data.Items(5);
        async IAsyncEnumerable<DatasetItem> CancelAfterTwo()
        {
            for (var i = 0; i < items.Count; i++)
            {
                if (i == 2)
                {
                    await cts.CancelAsync();
                }
                yield return items[i];
            }
        }

        var act = () => DatasetWriter.WriteAsync(Path.Combine(_data.Root, "ds"), TestData.Run(), CancelAfterTwo(),
            TestData.Statistics(items), _data.ReadImage, new DatasetOptions(), cts.Token);

        await act.Should().ThrowAsync<OperationCanceledException>();
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public async Task A_non_finite_score_is_refused_naming_the_item(double bad)
    {
        var items = _data.Items(3);
        items[1] = items[1] with { Ssim = bad };
        var act = () => _data.WriteAsync("ds", items, all: TestData.Statistics(_data.Items(3)));
        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain("Ssim").And.Contain(items[1].Id);
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Fact]
    public async Task A_lone_surrogate_in_an_id_is_refused()
    {
        var items = new List<DatasetItem> { _data.Item("bad\uD800id", 0) };
        var act = () => _data.WriteAsync("ds", items);
        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain("Id").And.Contain("surrogate");
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Theory]
    [InlineData(ImageFormat.Jpeg, "jpg")]
    [InlineData(ImageFormat.WebP, "webp")]
    public async Task Jpeg_and_WebP_options_re_encode_the_images(ImageFormat format, string extension)
    {
        var items = _data.Items(3);
        var result = await _data.WriteAsync("ds", items, new DatasetOptions { Format = format, Quality = 80 }).WithTimeout();

        using var llava = JsonDocument.Parse(File.ReadAllBytes(result.LlavaJsonPath));
        for (var rank = 0; rank < items.Count; rank++)
        {
            var image = llava.RootElement[rank].GetProperty("image").GetString()!;
            image.Should().Be($"images/00000/{items[rank].Id}.{extension}");
            var bytes = File.ReadAllBytes(Path.Combine(result.Directory, image));
            ImageCodec.DetectFormat(bytes).Should().Be(format);
            using var decoded = ImageCodec.Decode(bytes);
            decoded.Width.Should().Be(8 + (rank % 3));
            decoded.Height.Should().Be(6);
        }
        var shard = File.ReadAllBytes(Path.Combine(result.Directory, DatasetLayout.ShardPath("run-1", 0)));
        Encoding.ASCII.GetString(shard, 0, 100).TrimEnd('\0').Should().Be($"000000000_{items[0].Id}.{extension}");
        using var marker = JsonDocument.Parse(File.ReadAllBytes(result.MarkerPath));
        marker.RootElement.GetProperty("image_format").GetString().Should().Be(extension);
    }

    [Fact]
    public async Task A_source_that_is_not_an_image_is_refused_naming_its_key()
    {
        var items = _data.Items(1);
        var readNotImage = (string key, CancellationToken _) => ValueTask.FromResult("not an image"u8.ToArray());
        var act = () => DatasetWriter.WriteAsync(Path.Combine(_data.Root, "ds"), TestData.Run(), TestData.Stream(items),
            TestData.Statistics(items), readNotImage, new DatasetOptions(), CancellationToken.None);
        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain(items[0].ImageKey);
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Fact]
    public async Task Report_has_the_score_table_rule_lambda_curation_counts_and_histogram_links()
    {
        var generated = _data.Items(10);
        var selected = generated.Take(4).ToList();
        var all = TestData.Statistics(generated);
        var result = await _data.WriteAsync("ds", selected, all: all).WithTimeout();

        var report = File.ReadAllText(result.ReportPath);
        report.Should().Contain("| set | count | CLIPScore | SSIMScore | weighted |");
        report.Should().Contain($"| all generated | 10 | {all.MeanClip:F4} | {all.MeanSsim:F4} | {all.MeanWeighted:F4} |");
        var sel = TestData.Statistics(selected);
        report.Should().Contain($"| selected | 4 | {sel.MeanClip:F4} | {sel.MeanSsim:F4} | {sel.MeanWeighted:F4} |");
        report.Should().Contain("top 5 of 12 by weighted score").And.Contain("0.5");
        report.Should().Contain("| duplicate caption | 3 |").And.Contain("| alnum_ratio below 0.6 | 1 |");
        report.Should().Contain("](histograms/clip.svg)").And.Contain("](histograms/ssim.svg)").And.Contain("](histograms/weighted.svg)");
        report.Should().Contain("2026-11-22T07:00:00Z");
    }

    [Fact]
    public async Task Histogram_svgs_parse_and_show_both_sets()
    {
        var generated = _data.Items(10);
        var result = await _data.WriteAsync("ds", generated.Take(3).ToList(), all: TestData.Statistics(generated)).WithTimeout();

        XNamespace svg = "http://www.w3.org/2000/svg";
        foreach (var name in new[] { "clip", "ssim", "weighted" })
        {
            var doc = XDocument.Load(Path.Combine(result.Directory, "histograms", name + ".svg"));
            doc.Root!.Name.Should().Be(svg + "svg");
            var groups = doc.Root.Elements(svg + "g").ToList();
            groups.Select(g => (string?)g.Attribute("class")).Should().Equal("all-generated", "selected");
            groups[0].Elements(svg + "rect").Should().HaveCount(20);
            groups[1].Elements(svg + "rect").Should().HaveCount(20);
            var texts = doc.Descendants(svg + "text").Select(t => t.Value).ToList();
            texts.Should().Contain("all generated (n = 10)").And.Contain("selected (n = 3)").And.Contain("count");
        }
    }

    [Fact]
    public async Task Statistics_that_do_not_match_the_run_are_refused()
    {
        var items = _data.Items(2);
        var wrongLambda = () => _data.WriteAsync("ds", items, all: new ScoreStatistics(0.7));
        (await wrongLambda.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("lambda");
        var wrongBins = () => _data.WriteAsync("ds", items, all: new ScoreStatistics(0.5, 10));
        (await wrongBins.Should().ThrowAsync<ArgumentException>()).Which.Message.Should().Contain("HistogramBins");
        var badOptions = () => _data.WriteAsync("ds", items, new DatasetOptions { ItemsPerTarShard = 0 });
        (await badOptions.Should().ThrowAsync<ArgumentOutOfRangeException>()).Which.ParamName.Should().Be("ItemsPerTarShard");
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }
    [Fact]
    public async Task The_same_id_twice_in_one_image_folder_is_refused()
    {
        var items = new List<DatasetItem> { _data.Item("dup", 0), _data.Item("other", 1), _data.Item("dup", 2) };
        var act = () => _data.WriteAsync("ds", items);
        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain("'dup'").And.Contain("twice");
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Fact]
    public async Task An_empty_id_is_refused()
    {
        var act = () => _data.WriteAsync("ds", [_data.Item("", 0)]);
        (await act.Should().ThrowAsync<DatasetException>()).Which.Message.Should().Contain("empty Id");
        Directory.GetFileSystemEntries(_data.Root).Should().BeEmpty();
    }

    [Fact]
    public async Task Concurrent_writers_of_the_same_run_end_with_one_complete_dataset()
    {
        var items = _data.Items(6);
        var writes = Enumerable.Range(0, 4).Select(_ => Task.Run(() => _data.WriteAsync("ds", items))).ToList();
        var results = await Task.WhenAll(writes).WithTimeout();

        results.Should().OnlyContain(r => r.Count == 6 && r.Directory == results[0].Directory);
        Directory.GetFileSystemEntries(_data.Root).Select(Path.GetFileName).Should().Equal("ds");
        File.ReadAllLines(results[0].ManifestPath).Should().HaveCount(6);
        Directory.GetFiles(results[0].Directory, "*", SearchOption.AllDirectories).Should().HaveCount((int)results[0].FilesWritten);
    }
}
