using System.Text;

namespace SynthVlm.Datasets.Tests;

public sealed class UstarWriterTests
{
    [Fact]
    public async Task Headers_have_ustar_magic_octal_fields_and_a_valid_checksum()
    {
        using var buffer = new MemoryStream();
        var tar = new UstarWriter(buffer);
        await tar.AddFileAsync("000000001_a.txt", "hello"u8.ToArray(), CancellationToken.None);
        await tar.FinishAsync(CancellationToken.None);
        var bytes = buffer.ToArray();

        bytes.Length.Should().Be(512 + 512 + 1024);
        tar.Length.Should().Be(bytes.Length);
        var header = bytes.AsSpan(0, 512).ToArray();
        Encoding.ASCII.GetString(header, 0, 15).Should().Be("000000001_a.txt");
        Encoding.ASCII.GetString(header, 100, 8).Should().Be("0000644\0");
        Encoding.ASCII.GetString(header, 124, 12).Should().Be("00000000005\0");
        Encoding.ASCII.GetString(header, 136, 12).Should().Be("00000000000\0");
        ((char)header[156]).Should().Be('0');
        Encoding.ASCII.GetString(header, 257, 8).Should().Be("ustar\000");

        var stored = Convert.ToInt32(Encoding.ASCII.GetString(header, 148, 6), 8);
        Array.Fill(header, (byte)' ', 148, 8);
        stored.Should().Be(header.Sum(b => b));
        Encoding.ASCII.GetString(bytes, 512, 5).Should().Be("hello");
        bytes.Skip(512 + 5).Should().OnlyContain(b => b == 0);
    }

    [Theory]
    [InlineData("")]
    [InlineData("/abs")]
    [InlineData("a/../b")]
    [InlineData("naïve.txt")]
    public void Bad_member_names_are_refused(string name)
    {
        FluentActions.Invoking(() => UstarWriter.WriteHeader(new byte[512], name, 1)).Should().Throw<ArgumentException>().WithParameterName("name");
    }

    [Fact]
    public void A_name_longer_than_100_bytes_is_refused()
    {
        FluentActions.Invoking(() => UstarWriter.WriteHeader(new byte[512], new string('a', 101), 1)).Should().Throw<ArgumentException>();
        UstarWriter.WriteHeader(new byte[512], new string('a', 100), 1);
    }
}
