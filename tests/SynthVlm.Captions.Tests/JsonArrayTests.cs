using System.Text;

namespace SynthVlm.Captions.Tests;

public sealed class JsonArrayTests : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Reads_string_and_number_ids_keeps_number_text_and_ignores_extra_fields()
    {
        var path = _files.Write("pool.json", """
            [
              {"id": "a1", "caption": "a red bus", "extra": {"nested": [1, 2]}},
              {"id": 1.50, "caption": "a dog"},
              {
                "caption": "no id here", "id": 1.5e3
              }, {"id": "  ", "caption": "blank id"}
            ]
            """);
        using var reader = CaptionPoolReader.Open(path);
        reader.Format.Should().Be(CaptionPoolFormat.SynthVlmJson);
        var records = reader.Read().Cast<PoolCaption>().ToList();
        records.Select(r => (r.Ordinal, r.Line, r.Id, r.IdGiven, r.Caption)).Should().Equal(
            (0, 2, "a1", true, "a red bus"),
            (1, 3, "1.50", true, "a dog"),
            (2, 4, "1.5e3", true, "no id here"),
            (3, 6, CaptionIds.ForContent("blank id"), false, "blank id"));
        records.Should().OnlyContain(r => !r.HadInvalidUtf8 && r.ImagePath == null && r.Url == null);
    }

    [Fact]
    public void Bad_elements_become_rejects_with_their_lines_and_reading_goes_on()
    {
        var path = _files.Write("pool.json",
            "[{\"id\":\"a\",\"caption\":\"ok\"},\n" +
            "{\"id\":\"b\"},\n" +
            "{\"id\":\"c\",\"caption\":\"\"},\n" +
            "{\"id\":\"d\",\"caption\":\" \\t \"},\n" +
            "\"just a string\",\n" +
            "[1,2],\n" +
            "{\"id\":\"e\",\"caption\":42},\n" +
            "{\"id\":[1],\"caption\":\"x\"},\n" +
            "{\"id\":\"f\",\"caption\":\"last\"}]");
        var records = PoolFiles.ReadAll(path);
        records.Select(r => r.Ordinal).Should().Equal(0, 1, 2, 3, 4, 5, 6, 7, 8);
        records.Select(r => r.Line).Should().Equal(1, 2, 3, 4, 5, 6, 7, 8, 9);
        records[0].Should().BeOfType<PoolCaption>();
        records[8].Should().BeOfType<PoolCaption>().Which.Caption.Should().Be("last");
        var rejects = records.Skip(1).Take(7).Cast<PoolReject>().ToList();
        rejects.Select(r => r.Reason).Should().Equal(
            "no caption field 'caption'",
            "caption field 'caption' is empty",
            "caption field 'caption' is whitespace only",
            "array element must be an object, found a string",
            "array element must be an object, found an array",
            "caption must be a string, found a number",
            "id must be a string or a number, found an array");
        rejects[0].Excerpt.Should().Be("{\"id\":\"b\"}");
    }

    [Fact]
    public void A_syntax_error_is_a_reject_at_its_line_and_ends_the_pass()
    {
        var path = _files.Write("pool.json", "[\n{\"caption\":\"one\"},\n{\"caption\":\"two\"},\n{\"caption\": oops},\n{\"caption\":\"never\"}\n]");
        var records = PoolFiles.ReadAll(path);
        records.Should().HaveCount(3);
        records[1].Should().BeOfType<PoolCaption>().Which.Line.Should().Be(3);
        var reject = records[2].Should().BeOfType<PoolReject>().Subject;
        reject.Line.Should().Be(4);
        reject.Ordinal.Should().Be(2);
        reject.Reason.Should().StartWith("malformed JSON, reading stops here");
        PoolFiles.ReadAll(path, new CaptionPoolOptions { InitialBufferBytes = 16 }).Should().Equal(records,
            "line numbers carry over buffer refills");
    }

    [Fact]
    public void Garbage_after_the_array_is_reported()
    {
        var path = _files.Write("pool.json", "[{\"caption\":\"one\"}]\n\nxyz");
        var records = PoolFiles.ReadAll(path);
        records.Should().HaveCount(2);
        records[1].Should().BeOfType<PoolReject>().Which.Line.Should().Be(3);
    }

    [Fact]
    public void A_truncated_array_is_reported()
    {
        var path = _files.Write("pool.json", "[{\"caption\":\"one\"},\n{\"caption\":\"tw");
        var records = PoolFiles.ReadAll(path);
        records.Should().HaveCount(2);
        records[1].Should().BeOfType<PoolReject>().Which.Reason.Should().StartWith("malformed JSON");
    }

    [Theory]
    [InlineData("")]
    [InlineData("[]")]
    [InlineData("  \r\n [ \r\n ] \r\n")]
    [InlineData("\uFEFF[]")]
    public void Empty_pools_have_no_records(string text)
    {
        var path = _files.Write("pool.json", text);
        PoolFiles.ReadAll(path).Should().BeEmpty();
    }

    [Fact]
    public void Bom_and_crlf_are_accepted_and_unicode_survives()
    {
        var path = _files.Write("pool.json",
            "\uFEFF[\r\n{\"id\":\"ü\",\"caption\":\"日本語の猫 🐱 \\u00e9\\ud83d\\ude00 tab\\there\"},\r\n{\"id\":\"c\",\"caption\":\"bell\\u0007 kept\"}\r\n]\r\n");
        var records = PoolFiles.ReadAll(path).Cast<PoolCaption>().ToList();
        records[0].Id.Should().Be("ü");
        records[0].Caption.Should().Be("日本語の猫 🐱 é😀 tab\there");
        records[0].Line.Should().Be(2);
        records[1].Caption.Should().Be("bell\u0007 kept", "control characters are kept for curation to judge");
        records[1].Line.Should().Be(3);
    }

    [Fact]
    public void Invalid_utf8_is_replaced_and_flagged()
    {
        var bytes = Encoding.UTF8.GetBytes("[{\"id\":\"x\",\"caption\":\"caf\u00e9 A\"},{\"caption\":\"fine\"}]");
        var at = Array.IndexOf(bytes, (byte)'A');
        bytes[at] = 0xFF;
        var records = PoolFiles.ReadAll(_files.Write("pool.json", bytes)).Cast<PoolCaption>().ToList();
        records[0].Caption.Should().Be("café \uFFFD");
        records[0].HadInvalidUtf8.Should().BeTrue();
        records[1].HadInvalidUtf8.Should().BeFalse();
    }

    [Fact]
    public void Not_an_array_is_a_format_error_naming_the_file()
    {
        var path = _files.Write("pool.json", "\n  \"hello\"");
        FluentActions.Invoking(() => CaptionPoolReader.Open(path)).Should().Throw<CaptionPoolFormatException>()
            .Which.Message.Should().Contain(path).And.Contain("line 2");
        var jsonl = _files.Write("lines.txt", "{\"caption\":\"x\"}\n");
        FluentActions.Invoking(() => CaptionPoolReader.Open(jsonl, new CaptionPoolOptions { Format = CaptionPoolFormat.SynthVlmJson }))
            .Should().Throw<CaptionPoolFormatException>().Which.Message.Should().Contain("must be a JSON array");
    }

    [Fact]
    public void An_element_over_the_bound_is_rejected_without_buffering_it_and_reading_goes_on()
    {
        var options = new CaptionPoolOptions { MaxCaptionBytes = 100, InitialBufferBytes = 64 };
        var huge = new string('z', 5000);
        var path = _files.Write("pool.json",
            $"[{{\"caption\":\"before\"}},\n{{\"caption\":\"{huge}\",\n\"more\":[{{\"a\":\"{huge}\"}}]}},\n{{\"caption\":\"{new string('y', 150)}\"}},\n{{\"caption\":\"after\"}}]");
        using var reader = CaptionPoolReader.Open(path, options);
        var records = reader.Read().ToList();
        records.Select(r => r.GetType().Name).Should().Equal("PoolCaption", "PoolReject", "PoolReject", "PoolCaption");
        ((PoolReject)records[1]).Reason.Should().Contain("longer than 400 bytes");
        records[1].Line.Should().Be(2);
        ((PoolReject)records[2]).Reason.Should().Be("caption is 150 UTF-8 bytes, over MaxCaptionBytes (100)");
        records[2].Line.Should().Be(4);
        records[3].Line.Should().Be(5, "the skipped element spans lines 2 and 3");
        reader.PeakBufferBytes.Should().BeLessThanOrEqualTo(1024 + 400 + 1024, "the buffer never holds the 10 kB element");
    }

    [Fact]
    public void A_tiny_buffer_gives_the_same_records_as_the_default()
    {
        var sb = new StringBuilder("[\n");
        for (var i = 0; i < 300; i++)
        {
            sb.Append(i % 7 == 3 ? "  {\"id\": 12, \"caption\": \"\"},\r\n" : $"  {{\"id\": \"n{i}\", \"caption\": \"caption ✓ {i} {new string('k', i % 50)}\"}},\r\n");
        }
        sb.Append("  {\"id\": \"end\", \"caption\": \"end\"}\n]\n");
        var path = _files.Write("pool.json", sb.ToString());
        var expected = PoolFiles.ReadAll(path);
        expected.Should().HaveCount(301);
        PoolFiles.ReadAll(path, new CaptionPoolOptions { InitialBufferBytes = 16 }).Should().Equal(expected);
    }

    [Fact]
    public void Cancellation_stops_the_pass()
    {
        var path = _files.Write("pool.json", "[{\"caption\":\"a\"},{\"caption\":\"b\"},{\"caption\":\"c\"}]");
        using var cts = new CancellationTokenSource();
        using var reader = CaptionPoolReader.Open(path);
        var seen = new List<PoolRecord>();
        FluentActions.Invoking(() =>
        {
            foreach (var record in reader.Read(cts.Token))
            {
                seen.Add(record);
                cts.Cancel();
            }
        }).Should().Throw<OperationCanceledException>();
        seen.Should().HaveCount(1);
        reader.Read().Should().HaveCount(3, "a new pass reads from the start");
    }

    [Fact]
    public void A_lone_surrogate_escape_rejects_only_its_element()
    {
        var path = _files.Write("pool.json", "[{\"caption\":\"half \\udc00\"},\n{\"caption\":\"whole\"}]");
        var records = PoolFiles.ReadAll(path);
        records.Should().HaveCount(2);
        records[0].Should().BeOfType<PoolReject>().Which.Reason.Should().StartWith("malformed JSON");
        records[1].Should().BeOfType<PoolCaption>().Which.Line.Should().Be(2);
    }

    [Fact]
    public void Reading_twice_at_once_and_after_dispose_are_refused()
    {
        var path = _files.Write("pool.json", "[{\"caption\":\"a\"},{\"caption\":\"b\"}]");
        var reader = CaptionPoolReader.Open(path);
        using (var first = reader.Read().GetEnumerator())
        {
            first.MoveNext().Should().BeTrue();
            FluentActions.Invoking(() => reader.Read().ToList()).Should().Throw<InvalidOperationException>();
        }
        reader.Read().Should().HaveCount(2);
        reader.Dispose();
        FluentActions.Invoking(() => reader.Read()).Should().Throw<ObjectDisposedException>();
    }

    [Fact]
    public void Oversized_scalars_and_last_elements_are_skipped_and_the_array_checked_after_them()
    {
        var options = new CaptionPoolOptions { MaxCaptionBytes = 10, InitialBufferBytes = 16 };
        var huge = new string('s', 3000);
        var path = _files.Write("pool.json", $"[{{\"caption\":\"a\"}}, \"{huge}\\\"\",\n {{\"caption\":\"{huge}\"}}\n]");
        var records = PoolFiles.ReadAll(path, options);
        records.Select(r => (r.Line, r.GetType().Name)).Should().Equal((1, "PoolCaption"), (1, "PoolReject"), (2, "PoolReject"));
        records.OfType<PoolReject>().Should().OnlyContain(r => r.Reason.Contains("longer than 40 bytes", StringComparison.Ordinal));

        var trailingComma = _files.Write("comma.json", $"[{{\"caption\":\"{huge}\"}},\n]");
        var afterComma = PoolFiles.ReadAll(trailingComma, options);
        afterComma.Should().HaveCount(2);
        afterComma[0].Should().BeOfType<PoolReject>().Which.Reason.Should().Contain("longer than 40 bytes");
        afterComma[1].Should().BeOfType<PoolReject>().Which.Reason.Should().Be("malformed JSON, reading stops here: expected an element after ','");
        afterComma[1].Line.Should().Be(2);
    }
}
