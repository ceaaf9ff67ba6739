using System.Text;

namespace SynthVlm.Captions.Tests;

public sealed class JsonLinesTests : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Malformed_lines_are_rejected_with_line_numbers_and_reading_goes_on()
    {
        var path = _files.Write("pool.jsonl",
            "\uFEFF{\"id\":\"a\",\"caption\":\"first\",\"image\":\"img/a.png\"}\r\n" +
            "\r\n" +
            "{\"id\":\"b\",\"caption\":\"broken\"\r\n" +
            "   \r\n" +
            "[1,2]\n" +
            "{\"id\":3,\"caption\":\"third\",\"url\":\"https://example.com/3.jpg\"}\n" +
            "{\"id\":\"c\",\"caption\":\"\"}\n" +
            "{\"caption\":\"no newline at end\"}");
        using var reader = CaptionPoolReader.Open(path);
        reader.Format.Should().Be(CaptionPoolFormat.JsonLines);
        var records = reader.Read().ToList();
        records.Select(r => (r.Ordinal, r.Line, r.GetType().Name)).Should().Equal(
            (0, 1, "PoolCaption"), (1, 3, "PoolReject"), (2, 5, "PoolReject"), (3, 6, "PoolCaption"), (4, 7, "PoolReject"), (5, 8, "PoolCaption"));
        var first = (PoolCaption)records[0];
        first.Should().Be(new PoolCaption(0, 1, "a", true, "first", "img/a.png", null, false));
        var broken = (PoolReject)records[1];
        broken.Reason.Should().StartWith("malformed JSON");
        broken.Excerpt.Should().Be("{\"id\":\"b\",\"caption\":\"broken\"");
        ((PoolReject)records[2]).Reason.Should().Be("the line is not a JSON object");
        ((PoolCaption)records[3]).Should().Be(new PoolCaption(3, 6, "3", true, "third", null, "https://example.com/3.jpg", false));
        ((PoolCaption)records[5]).Id.Should().Be(CaptionIds.ForContent("no newline at end"));
    }

    [Fact]
    public void Excerpts_are_at_most_200_characters()
    {
        var path = _files.Write("pool.jsonl", "{\"caption\": " + new string('x', 1000) + "}\n");
        var reject = PoolFiles.ReadAll(path).Should().ContainSingle().Which.Should().BeOfType<PoolReject>().Subject;
        reject.Excerpt.Should().HaveLength(200).And.StartWith("{\"caption\": xxx");
    }

    [Fact]
    public void Invalid_utf8_is_replaced_and_flagged_per_line()
    {
        var bytes = Encoding.UTF8.GetBytes("{\"caption\":\"ok\"}\n{\"caption\":\"bad ## end\"}\n");
        var at = Array.IndexOf(bytes, (byte)'#');
        bytes[at] = 0xC3; // a lead byte followed by a non-continuation byte
        bytes[at + 1] = 0x28;
        var records = PoolFiles.ReadAll(_files.Write("pool.jsonl", bytes)).Cast<PoolCaption>().ToList();
        records[0].HadInvalidUtf8.Should().BeFalse();
        records[1].HadInvalidUtf8.Should().BeTrue();
        records[1].Caption.Should().Be("bad \uFFFD( end");
    }

    [Fact]
    public void A_line_over_the_bound_is_skipped_and_the_next_line_is_read()
    {
        var options = new CaptionPoolOptions { MaxCaptionBytes = 50, InitialBufferBytes = 32 };
        var path = _files.Write("pool.jsonl",
            "{\"caption\":\"a\"}\n{\"caption\":\"" + new string('q', 10_000) + "\"}\n{\"caption\":\"c\"}\n");
        using var reader = CaptionPoolReader.Open(path, options);
        var records = reader.Read().ToList();
        records.Should().HaveCount(3);
        records[1].Should().BeOfType<PoolReject>().Which.Reason.Should().Contain("longer than 200 bytes");
        records[2].Should().BeOfType<PoolCaption>().Which.Line.Should().Be(3);
        reader.PeakBufferBytes.Should().BeLessThan(4096);
    }

    [Fact]
    public void Configured_field_names_are_used()
    {
        var path = _files.Write("pool.jsonl", "{\"key\":\"k1\",\"alt\":\"hello\",\"caption\":\"ignored\",\"pic\":\"http://x/y.png\"}\n");
        var options = new CaptionPoolOptions { CaptionColumn = "alt", IdColumn = "key", ImageColumn = "pic" };
        PoolFiles.ReadAll(path, options).Should().Equal(new PoolCaption(0, 1, "k1", true, "hello", null, "http://x/y.png", false));
    }

    [Fact]
    public void A_small_buffer_gives_the_same_records()
    {
        var sb = new StringBuilder();
        for (var i = 0; i < 500; i++)
        {
            sb.Append(i % 11 == 5 ? "not json\r\n" : $"{{\"id\":{i},\"caption\":\"c{i} {new string('é', i % 40)}\"}}\r\n");
        }
        var path = _files.Write("pool.jsonl", sb.ToString());
        var expected = PoolFiles.ReadAll(path);
        expected.Should().HaveCount(500);
        PoolFiles.ReadAll(path, new CaptionPoolOptions { InitialBufferBytes = 16 }).Should().Equal(expected);
    }

    [Fact]
    public void Auto_detects_json_lines_in_a_json_file()
    {
        var path = _files.Write("pool.json", "{\"caption\":\"a\"}\n{\"caption\":\"b\"}\n");
        using var reader = CaptionPoolReader.Open(path);
        reader.Format.Should().Be(CaptionPoolFormat.JsonLines);
        reader.Read().Should().HaveCount(2);
    }

    [Fact]
    public void Lone_surrogate_escapes_and_trailing_content_are_rejected_per_line()
    {
        var path = _files.Write("pool.jsonl",
            "{\"caption\":\"bad \\ud800 half\"}\n" +
            "{\"caption\":\"one\"} {\"caption\":\"two\"}\n" +
            "{\"caption\":\"pair \\ud83d\\ude00 ok\"}\n");
        var records = PoolFiles.ReadAll(path);
        records.Should().HaveCount(3);
        records[0].Should().BeOfType<PoolReject>().Which.Reason.Should().StartWith("malformed JSON");
        records[1].Should().BeOfType<PoolReject>().Which.Line.Should().Be(2);
        records[2].Should().BeOfType<PoolCaption>().Which.Caption.Should().Be("pair 😀 ok");
    }
}
