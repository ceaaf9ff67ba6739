using System.Buffers;
using System.Text;
using SynthVlm.Redis;

namespace SynthVlm.Redis.Tests;

public class RespParserTests
{
    public static TheoryData<string> WellFormed => new()
    {
        "+OK\r\n",
        "-ERR unknown command 'FOO'\r\n",
        ":0\r\n",
        ":-9223372036854775808\r\n",
        "$5\r\nhello\r\n",
        "$0\r\n\r\n",
        "$-1\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*3\r\n:1\r\n$3\r\nfoo\r\n*1\r\n+x\r\n",
        "_\r\n",
        "#t\r\n",
        "#f\r\n",
        ",3.25\r\n",
        ",-inf\r\n",
        ",inf\r\n",
        ",nan\r\n",
        ",1e10\r\n",
        "(3492890328409238509324850943850943825024385\r\n",
        "!21\r\nSYNTAX invalid syntax\r\n",
        "=15\r\ntxt:Some string\r\n",
        "%2\r\n+first\r\n:1\r\n+second\r\n_\r\n",
        "~2\r\n+a\r\n+b\r\n",
        ">3\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n",
        "|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n",
        "$6\r\nab\r\ncd\r\n",
    };

    [Fact]
    public void Each_type_parses_to_its_value()
    {
        Parse("+OK\r\n").Should().Match<RedisResult>(r => r.Type == RedisResultType.SimpleString && r.AsString() == "OK");
        var error = Parse("-WRONGTYPE Operation against a key\r\n");
        error.IsError.Should().BeTrue();
        error.AsString().Should().Be("WRONGTYPE Operation against a key");
        Parse(":-42\r\n").AsInt64().Should().Be(-42);
        Parse("$5\r\nhello\r\n").AsString().Should().Be("hello");
        Parse("$6\r\nab\r\ncd\r\n").AsBytes().Should().Equal(Encoding.ASCII.GetBytes("ab\r\ncd"));
        Parse("$0\r\n\r\n").AsString().Should().Be("");
        Parse("$-1\r\n").IsNull.Should().BeTrue();
        Parse("*-1\r\n").IsNull.Should().BeTrue();
        var array = Parse("*3\r\n:1\r\n$3\r\nfoo\r\n*1\r\n+x\r\n");
        array.Type.Should().Be(RedisResultType.Array);
        array.Length.Should().Be(3);
        array[0].AsInt64().Should().Be(1);
        array[1].AsString().Should().Be("foo");
        array[2][0].AsString().Should().Be("x");
    }

    [Fact]
    public void Resp3_types_parse_to_their_values()
    {
        Parse("_\r\n").IsNull.Should().BeTrue();
        Parse("#t\r\n").AsBoolean().Should().BeTrue();
        Parse("#f\r\n").AsBoolean().Should().BeFalse();
        Parse(",3.25\r\n").AsDouble().Should().Be(3.25);
        Parse(",-inf\r\n").AsDouble().Should().Be(double.NegativeInfinity);
        double.IsNaN(Parse(",nan\r\n").AsDouble()).Should().BeTrue();
        var big = Parse("(3492890328409238509324850943850943825024385\r\n");
        big.Type.Should().Be(RedisResultType.BigNumber);
        big.AsString().Should().Be("3492890328409238509324850943850943825024385");
        var bulkError = Parse("!21\r\nSYNTAX invalid syntax\r\n");
        bulkError.IsError.Should().BeTrue();
        bulkError.AsString().Should().Be("SYNTAX invalid syntax");
        var verbatim = Parse("=15\r\ntxt:Some string\r\n");
        verbatim.Type.Should().Be(RedisResultType.VerbatimString);
        verbatim.VerbatimFormat.Should().Be("txt");
        verbatim.AsString().Should().Be("Some string");
        var map = Parse("%2\r\n+first\r\n:1\r\n+second\r\n_\r\n");
        map.Type.Should().Be(RedisResultType.Map);
        map.AsMap()["first"].AsInt64().Should().Be(1);
        map.AsMap()["second"].IsNull.Should().BeTrue();
        var set = Parse("~2\r\n+a\r\n+b\r\n");
        set.Type.Should().Be(RedisResultType.Set);
        set.AsArray().Select(x => x.AsString()).Should().Equal("a", "b");
        Parse(">3\r\n+invalidate\r\n*1\r\n$1\r\nk\r\n:1\r\n").Type.Should().Be(RedisResultType.Push);
        // Attributes are skipped; the value after them is the reply.
        Parse("|1\r\n+ttl\r\n:3600\r\n$3\r\nval\r\n").AsString().Should().Be("val");
    }

    [Theory]
    [MemberData(nameof(WellFormed))]
    public void Every_split_point_needs_more_bytes_and_two_segments_parse_the_same(string wire)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        var whole = Parse(wire);
        for (var split = 0; split < bytes.Length; split++)
        {
            RespParser.TryRead(new ReadOnlySequence<byte>(bytes, 0, split), out _, out var consumed)
                .Should().BeFalse($"{split} of {bytes.Length} bytes of {Escape(wire)} are not a complete value");
            consumed.GetInteger().Should().Be(0);

            var sequence = Segments(bytes[..split], bytes[split..]);
            RespParser.TryRead(sequence, out var result, out var end).Should().BeTrue($"split at {split} of {Escape(wire)}");
            sequence.Slice(0, end).Length.Should().Be(bytes.Length);
            Describe(result).Should().Be(Describe(whole));
        }
    }

    [Fact]
    public void Byte_at_a_time_segments_parse()
    {
        var bytes = Encoding.UTF8.GetBytes("*2\r\n%1\r\n+k\r\n$3\r\nv\r\n\r\n,1.5\r\n");
        var sequence = Segments(bytes.Select(b => new[] { b }).ToArray());
        RespParser.TryRead(sequence, out var result, out var end).Should().BeTrue();
        sequence.Slice(0, end).Length.Should().Be(bytes.Length);
        result[0].AsMap()["k"].AsBytes().Should().Equal((byte)'v', (byte)'\r', (byte)'\n');
        result[1].AsDouble().Should().Be(1.5);
    }

    [Fact]
    public void Pipelined_replies_are_read_one_at_a_time()
    {
        var bytes = Encoding.UTF8.GetBytes("+OK\r\n:7\r\n$1\r\nx\r\n");
        var sequence = new ReadOnlySequence<byte>(bytes);
        var reader = new SequenceReader<byte>(sequence);
        var values = new List<string?>();
        while (RespParser.TryRead(ref reader, out var r))
        {
            values.Add(r.AsString());
        }
        values.Should().Equal("OK", "7", "x");
        reader.End.Should().BeTrue();
    }

    [Theory]
    [InlineData("?foo\r\n")]
    [InlineData(":12a\r\n")]
    [InlineData(":\r\n")]
    [InlineData(":+5\r\n")]
    [InlineData("$abc\r\n")]
    [InlineData("$-2\r\n")]
    [InlineData("$3\r\nabcX\r\n")]
    [InlineData("*-5\r\n")]
    [InlineData("%-1\r\n")]
    [InlineData("#x\r\n")]
    [InlineData(",abc\r\n")]
    [InlineData("_x\r\n")]
    [InlineData("+OK\rX")]
    [InlineData("+O\nK\r\n")]
    [InlineData("=3\r\nabc\r\n")]
    [InlineData("(12a\r\n")]
    [InlineData("*2\r\n+a\r\n!x\r\n")]
    [InlineData("$536870913\r\n")]
    public void Malformed_input_throws_protocol_exception(string wire)
    {
        var act = () => RespParser.TryRead(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(wire)), out _, out _);
        act.Should().Throw<RedisProtocolException>().WithMessage("Malformed RESP*");
    }

    [Fact]
    public void Overlong_line_without_crlf_is_malformed_not_need_more()
    {
        var bytes = Encoding.ASCII.GetBytes("+" + new string('a', RespParser.MaxLineLength + 10));
        var act = () => RespParser.TryRead(new ReadOnlySequence<byte>(bytes), out _, out _);
        act.Should().Throw<RedisProtocolException>();
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_malformed()
    {
        var wire = string.Concat(Enumerable.Repeat("*1\r\n", RespParser.MaxDepth + 2)) + ":1\r\n";
        var act = () => RespParser.TryRead(new ReadOnlySequence<byte>(Encoding.ASCII.GetBytes(wire)), out _, out _);
        act.Should().Throw<RedisProtocolException>().WithMessage("*nesting*");
    }

    [Fact]
    public void Wrong_type_accessors_fail_clearly()
    {
        var act = () => Parse("*1\r\n:1\r\n").AsInt64();
        act.Should().Throw<InvalidOperationException>().WithMessage("*Array*integer*");
        var act2 = () => Parse(":1\r\n").AsArray();
        act2.Should().Throw<InvalidOperationException>().WithMessage("*Integer*array*");
    }

    private static RedisResult Parse(string wire)
    {
        var bytes = Encoding.UTF8.GetBytes(wire);
        RespParser.TryRead(new ReadOnlySequence<byte>(bytes), out var result, out var end).Should().BeTrue(Escape(wire));
        new ReadOnlySequence<byte>(bytes).Slice(0, end).Length.Should().Be(bytes.Length);
        return result;
    }

    private static string Describe(RedisResult r) => r.Type switch
    {
        RedisResultType.Array or RedisResultType.Map or RedisResultType.Set or RedisResultType.Push =>
            $"{r.Type}[{string.Join(",", r.AsArray().Select(Describe))}]",
        RedisResultType.Null => "null",
        RedisResultType.Double => $"D:{r.AsDouble()}",
        _ => $"{r.Type}:{r.AsString()}",
    };

    private static string Escape(string s) => s.Replace("\r", "\\r", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    private static ReadOnlySequence<byte> Segments(params byte[][] parts)
    {
        var nonEmpty = parts.Where(p => p.Length > 0).ToArray();
        if (nonEmpty.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(nonEmpty[0], 0);
        var last = first;
        foreach (var part in nonEmpty.Skip(1))
        {
            last = last.Append(part);
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(byte[] data, long runningIndex)
        {
            Memory = data;
            RunningIndex = runningIndex;
        }

        public Segment Append(byte[] data)
        {
            var next = new Segment(data, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}

public class RespFrameScannerTests
{
    [Theory]
    [MemberData(nameof(RespParserTests.WellFormed), MemberType = typeof(RespParserTests))]
    public void Scanner_resumes_across_growing_reads_and_finds_the_exact_end(string wire)
    {
        var bytes = Encoding.UTF8.GetBytes(wire + "+NEXT\r\n");
        var frame = Encoding.UTF8.GetByteCount(wire);
        var scanner = new RespFrameScanner();
        for (var k = 0; k < frame; k++)
        {
            scanner.TryFindEnd(new ReadOnlySequence<byte>(bytes, 0, k), out _).Should().BeFalse($"{k} of {frame} bytes");
        }
        scanner.TryFindEnd(new ReadOnlySequence<byte>(bytes), out var length).Should().BeTrue();
        length.Should().Be(frame);
        scanner.TryFindEnd(new ReadOnlySequence<byte>(bytes, frame, bytes.Length - frame), out var next).Should().BeTrue("the scanner resets after a frame");
        next.Should().Be(7);
    }

    [Fact]
    public void Scanner_rejects_unknown_markers()
    {
        var act = () => new RespFrameScanner().TryFindEnd(new ReadOnlySequence<byte>("?x\r\n"u8.ToArray()), out _);
        act.Should().Throw<RedisProtocolException>();
    }
}
