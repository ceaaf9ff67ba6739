using FluentAssertions;

namespace SynthVlm.Rpc.Tests;

public sealed class GrpcProtocolTests
{
    [Theory]
    [InlineData("1S", 1000.0)]
    [InlineData("250m", 250.0)]
    [InlineData("2M", 120_000.0)]
    [InlineData("1H", 3_600_000.0)]
    [InlineData("1500u", 1.5)]
    [InlineData("2000000n", 2.0)]
    [InlineData("99999999m", 99_999_999.0)]
    public void Timeout_parses_every_unit(string text, double milliseconds)
    {
        GrpcProtocol.TryParseTimeout(text, out var timeout).Should().BeTrue();
        timeout.TotalMilliseconds.Should().BeApproximately(milliseconds, 0.001);
    }

    [Theory]
    [InlineData("")]
    [InlineData("S")]
    [InlineData("10")]
    [InlineData("123456789S")]
    [InlineData("10s")]
    [InlineData("-1S")]
    [InlineData("1 S")]
    public void Timeout_rejects_malformed_values(string text) =>
        GrpcProtocol.TryParseTimeout(text, out _).Should().BeFalse();

    [Fact]
    public void Timeout_format_rounds_up_and_fits_eight_digits()
    {
        GrpcProtocol.FormatTimeout(TimeSpan.FromMilliseconds(1.2)).Should().Be("2m");
        GrpcProtocol.FormatTimeout(TimeSpan.FromSeconds(5)).Should().Be("5000m");
        GrpcProtocol.FormatTimeout(TimeSpan.FromDays(5)).Should().Be("432000S");
        GrpcProtocol.FormatTimeout(TimeSpan.FromDays(20000)).Should().Be("28800000M");
        GrpcProtocol.FormatTimeout(TimeSpan.FromTicks(-5)).Should().Be("0m");
    }

    [Theory]
    [InlineData("plain text", "plain text")]
    [InlineData("100%", "100%25")]
    [InlineData("ü", "%C3%BC")]
    [InlineData("a\nb", "a%0Ab")]
    public void Message_is_percent_encoded(string message, string wire)
    {
        GrpcProtocol.PercentEncode(message).Should().Be(wire);
        GrpcProtocol.PercentDecode(wire).Should().Be(message);
    }

    [Theory]
    [InlineData("bad %zz escape", "bad %zz escape")]
    [InlineData("trailing %", "trailing %")]
    [InlineData("trailing %4", "trailing %4")]
    public void Bad_escapes_do_not_fail_decoding(string wire, string expected) =>
        GrpcProtocol.PercentDecode(wire).Should().Be(expected);

    [Theory]
    [InlineData("AAEC/w")]
    [InlineData("AAEC/w==")]
    public void Binary_metadata_accepts_padded_and_unpadded_base64(string value) =>
        GrpcProtocol.DecodeBinary(value).Should().Equal(0, 1, 2, 255);

    [Fact]
    public void Joined_binary_values_are_split_before_decoding()
    {
        var metadata = new Metadata();
        GrpcProtocol.AddReceived(metadata, "x-bin", "AAE,Ag==");
        metadata.Select(e => e.ValueBytes).Should().BeEquivalentTo(new[] { new byte[] { 0, 1 }, new byte[] { 2 } });
    }

    [Fact]
    public void Metadata_rejects_invalid_keys_and_values()
    {
        var metadata = new Metadata();
        ((Action)(() => metadata.Add("Bad Key", "v"))).Should().Throw<ArgumentException>();
        ((Action)(() => metadata.Add("x-bin", "text"))).Should().Throw<ArgumentException>();
        ((Action)(() => metadata.Add("x-text", new byte[] { 1 }))).Should().Throw<ArgumentException>();
        ((Action)(() => metadata.Add("x-text", "caf\u00e9"))).Should().Throw<ArgumentException>();
        metadata.Add("X-Upper", "ok");
        metadata.Single().Key.Should().Be("x-upper");
    }

    [Fact]
    public void Status_codes_have_the_standard_numbers()
    {
        Enum.GetValues<RpcStatusCode>().Select(c => (int)c).Should().Equal(Enumerable.Range(0, 17));
        ((int)RpcStatusCode.DeadlineExceeded).Should().Be(4);
        ((int)RpcStatusCode.Unimplemented).Should().Be(12);
        ((int)RpcStatusCode.Unauthenticated).Should().Be(16);
    }

    [Theory]
    [InlineData(8, RpcStatusCode.Cancelled)]
    [InlineData(7, RpcStatusCode.Unavailable)]
    [InlineData(11, RpcStatusCode.ResourceExhausted)]
    [InlineData(12, RpcStatusCode.PermissionDenied)]
    [InlineData(0, RpcStatusCode.Internal)]
    [InlineData(2, RpcStatusCode.Internal)]
    public void Rst_stream_codes_map_per_protocol(long code, RpcStatusCode expected) =>
        GrpcProtocol.FromHttp2ErrorCode(code).Should().Be(expected);
}
