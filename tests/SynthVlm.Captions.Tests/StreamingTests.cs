using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace SynthVlm.Captions.Tests;

public sealed class StreamingTests(ITestOutputHelper output) : IDisposable
{
    private readonly PoolFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public void A_200_MB_array_is_read_with_the_buffer_bounded_by_one_element()
    {
        // 10 kB captions keep the element count (and the test's time) small while the file is large; every 5000th
        // element is 3 MiB (under the 4 MiB bound, so it is buffered) and one is 6 MiB (over it, so it is skipped).
        var path = Path.Combine(_files.Folder, "big.json");
        var caption = new string('w', 10_000);
        var big = new string('b', 3 << 20);
        var huge = new string('h', 6 << 20);
        long elements = 0;
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            writer.Write('[');
            while (writer.BaseStream.Length < 200L << 20)
            {
                var text = elements == 7777 ? huge : elements % 5000 == 4999 ? big : caption;
                writer.Write(elements == 0 ? "\n" : ",\n");
                writer.Write("{\"id\":");
                writer.Write(elements);
                writer.Write(",\"caption\":\"");
                writer.Write(text);
                writer.Write("\"}");
                elements++;
            }
            writer.Write("\n]\n");
        }
        var options = new CaptionPoolOptions { MaxCaptionBytes = 1 << 20 };
        using var reader = CaptionPoolReader.Open(path, options);
        long captions = 0, rejects = 0, lastLine = 0;
        foreach (var record in reader.Read())
        {
            if (record is PoolCaption)
            {
                captions++;
            }
            else
            {
                rejects++;
            }
            lastLine = record.Line;
        }
        captions.Should().Be(elements - 1 - ((elements - 1) / 5000), "3 MiB captions exceed MaxCaptionBytes and are rejected after parsing");
        rejects.Should().Be(1 + ((elements - 1) / 5000));
        lastLine.Should().Be(elements + 1);
        // The window holds one element: its bound plus slack, rounded up to a power of two by the array pool.
        reader.PeakBufferBytes.Should().BeLessThanOrEqualTo(8 << 20);
        new FileInfo(path).Length.Should().BeGreaterThan(200L << 20);
        output.WriteLine($"{elements} elements, peak buffer {reader.PeakBufferBytes} bytes");
    }

    [Fact]
    public void A_million_line_jsonl_streams_through()
    {
        var path = Path.Combine(_files.Folder, "million.jsonl");
        using (var writer = new StreamWriter(path, false, new UTF8Encoding(false), 1 << 16))
        {
            for (var i = 0; i < 1_000_000; i++)
            {
                writer.Write("{\"id\":\"c");
                writer.Write(i);
                writer.Write("\",\"caption\":\"a photo of object number ");
                writer.Write(i);
                writer.Write(" on a wooden table near a window\"}\n");
            }
        }
        var stopwatch = Stopwatch.StartNew();
        using var reader = CaptionPoolReader.Open(path);
        long count = 0, lengths = 0;
        foreach (var record in reader.Read())
        {
            count++;
            lengths += ((PoolCaption)record).Caption.Length;
        }
        stopwatch.Stop();
        count.Should().Be(1_000_000);
        lengths.Should().BeGreaterThan(50_000_000);
        reader.PeakBufferBytes.Should().Be(64 * 1024, "short lines never grow the window");
        output.WriteLine($"1,000,000 JSONL lines ({new FileInfo(path).Length} bytes) read in {stopwatch.Elapsed.TotalSeconds:F2} s");
    }
}
