using System.Text;

namespace SynthVlm.Captions.Tests;

public sealed class DelimitedTests : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void Csv_with_header_quotes_embedded_newlines_and_url_column()
    {
        var path = _files.Write("pool.csv",
            "\uFEFFId, Caption ,url\r\n" +
            "a,\"a cat, sitting\",https://ex.com/a.jpg\r\n" +
            "b,\"she said \"\"hi\"\"\nacross lines\",\r\n" +
            "\r\n" +
            "c,,https://ex.com/c.jpg\r\n" +
            ",plain caption\r\n" +
            "onlyone\r\n" +
            "d,\"never closed");
        using var reader = CaptionPoolReader.Open(path);
        reader.Format.Should().Be(CaptionPoolFormat.Csv);
        var records = reader.Read().ToList();
        records.Select(r => (r.Ordinal, r.Line)).Should().Equal((0, 2), (1, 3), (2, 6), (3, 7), (4, 8), (5, 9));
        records[0].Should().Be(new PoolCaption(0, 2, "a", true, "a cat, sitting", null, "https://ex.com/a.jpg", false));
        records[1].Should().BeOfType<PoolCaption>().Which.Caption.Should().Be("she said \"hi\"\nacross lines");
        records[2].Should().BeOfType<PoolReject>().Which.Reason.Should().Be("caption field 'caption' is empty");
        records[3].Should().Be(new PoolCaption(3, 7, CaptionIds.ForContent("plain caption"), false, "plain caption", null, null, false));
        records[4].Should().BeOfType<PoolReject>().Which.Reason.Should().Be("the row has 1 field(s) but the caption is field 2");
        records[5].Should().BeOfType<PoolReject>().Which.Reason.Should().Contain("not closed");
    }

    [Fact]
    public void Cc3m_tsv_without_header_is_caption_then_url()
    {
        var path = _files.Write("Train_GCC-training.tsv",
            "a very typical bus station\thttp://lh6.ggpht.com/x.jpg\n" +
            "sierra looked stunning in this top and this skirt\thttps://i.pinimg.com/y.jpg\n" +
            "local image row\timages/z.png\n");
        var options = new CaptionPoolOptions { HasHeader = false };
        using var reader = CaptionPoolReader.Open(path, options);
        reader.Format.Should().Be(CaptionPoolFormat.Tsv);
        var records = reader.Read().Cast<PoolCaption>().ToList();
        records.Select(r => (r.Line, r.Caption, r.Url, r.ImagePath, r.IdGiven)).Should().Equal(
            (1, "a very typical bus station", "http://lh6.ggpht.com/x.jpg", null, false),
            (2, "sierra looked stunning in this top and this skirt", "https://i.pinimg.com/y.jpg", null, false),
            (3, "local image row", null, "images/z.png", false));
    }

    [Fact]
    public void Tsv_with_header_and_image_path_column()
    {
        var path = _files.Write("pool.tsv", "caption\timage\tid\r\nred apple\tapples/1.png\t17\r\n");
        PoolFiles.ReadAll(path).Should().Equal(new PoolCaption(0, 2, "17", true, "red apple", "apples/1.png", null, false));
    }

    [Fact]
    public void A_missing_caption_column_is_a_format_error_naming_file_and_columns()
    {
        var path = _files.Write("pool.csv", "id,text\n1,hello\n");
        var act = () => PoolFiles.ReadAll(path);
        var ex = act.Should().Throw<CaptionPoolFormatException>().Which;
        ex.Message.Should().Contain(path).And.Contain("no caption column 'caption'").And.Contain("'text'");
        ex.PoolPath.Should().Be(path);
        PoolFiles.ReadAll(path, new CaptionPoolOptions { CaptionColumn = "TEXT" }).Should().ContainSingle()
            .Which.Should().BeOfType<PoolCaption>().Which.Caption.Should().Be("hello");
    }

    [Fact]
    public void Empty_and_header_only_files_have_no_records()
    {
        PoolFiles.ReadAll(_files.Write("empty.csv", "")).Should().BeEmpty();
        PoolFiles.ReadAll(_files.Write("header.csv", "id,caption\r\n")).Should().BeEmpty();
    }

    [Fact]
    public void Invalid_utf8_is_replaced_and_flagged()
    {
        var bytes = Encoding.UTF8.GetBytes("caption\nab#c\nfine\n");
        bytes[Array.IndexOf(bytes, (byte)'#')] = 0x80;
        var records = PoolFiles.ReadAll(_files.Write("pool.csv", bytes)).Cast<PoolCaption>().ToList();
        records[0].Caption.Should().Be("ab\uFFFDc");
        records[0].HadInvalidUtf8.Should().BeTrue();
        records[1].HadInvalidUtf8.Should().BeFalse();
    }

    [Fact]
    public void A_stray_quote_cannot_swallow_the_file()
    {
        var options = new CaptionPoolOptions { MaxCaptionBytes = 20, InitialBufferBytes = 16 };
        var sb = new StringBuilder("caption\n\"unbalanced start\n");
        for (var i = 0; i < 40; i++)
        {
            sb.Append("row ").Append(i).Append('\n');
        }
        var records = PoolFiles.ReadAll(_files.Write("pool.csv", sb.ToString()), options);
        records[0].Should().BeOfType<PoolReject>().Which.Line.Should().Be(2);
        records.OfType<PoolCaption>().Should().NotBeEmpty();
        records.OfType<PoolCaption>().Last().Caption.Should().Be("row 39");
        records.OfType<PoolCaption>().Last().Line.Should().Be(42);
    }

    [Fact]
    public void A_small_buffer_gives_the_same_records()
    {
        var sb = new StringBuilder("id,caption,url\r\n");
        for (var i = 0; i < 400; i++)
        {
            sb.Append(i).Append(",\"cap, ").Append(i).Append(i % 9 == 0 ? "\r\nline two\"\"x\"" : "\"").Append(",http://h/").Append(i).Append("\r\n");
        }
        var path = _files.Write("pool.csv", sb.ToString());
        var expected = PoolFiles.ReadAll(path);
        expected.Should().HaveCount(400).And.AllBeOfType<PoolCaption>();
        expected.Last().Line.Should().Be(2 + 400 + 45 - 1);
        PoolFiles.ReadAll(path, new CaptionPoolOptions { InitialBufferBytes = 16 }).Should().Equal(expected);
    }
}
