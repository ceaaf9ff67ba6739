using StackExchange.Redis;
using SynthVlm.Testing;

namespace SynthVlm.Streams.Tests;

public sealed class StreamTrimmerTests(RedisFixture redis) : IClassFixture<RedisFixture>
{
    private IDatabase C => redis.Connection.GetDatabase();

    [Fact]
    public async Task Only_entries_every_group_has_delivered_and_acknowledged_are_trimmed()
    {
        var stream = RedisFixture.UniqueKey("trim");
        var ids = new List<string>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add((await C.ExecuteAsync("XADD", stream, "*", "n", i)).AsString()!);
        }
        (await StreamTrimmer.TrimAcknowledgedAsync(C, stream, approximate: false)).Should().Be(0, "no group has read anything");

        await C.ExecuteAsync("XGROUP", "CREATE", stream, "a", "0");
        await C.ExecuteAsync("XGROUP", "CREATE", stream, "b", "0");
        // Group a: 8 delivered, entries 0-3 and 5 acked, 4, 6, 7 pending. Group b: 6 delivered, all acked.
        await C.ExecuteAsync("XREADGROUP", "GROUP", "a", "c1", "COUNT", 8, "STREAMS", stream, ">");
        await C.ExecuteAsync("XACK", stream, "a", ids[0], ids[1], ids[2], ids[3], ids[5]);
        await C.ExecuteAsync("XREADGROUP", "GROUP", "b", "c1", "COUNT", 6, "STREAMS", stream, ">");
        await C.ExecuteAsync("XACK", stream, "b", ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]);

        (await StreamTrimmer.TrimAcknowledgedAsync(C, stream, approximate: false)).Should().Be(4, "entry 4 is still pending in group a");
        var left = (await C.ExecuteAsync("XRANGE", stream, "-", "+")).AsArray().Select(e => e[0].AsString()).ToList();
        left.Should().Equal(ids.Skip(4));
        (await C.ExecuteAsync("XCLAIM", stream, "a", "c2", 0, ids[4])).Length.Should().Be(1, "a pending entry can still be claimed after a trim");

        // Once group a acknowledges everything it was given, only group b's boundary (entry 5) holds.
        await C.ExecuteAsync("XACK", stream, "a", ids[4], ids[6], ids[7]);
        await StreamTrimmer.TrimAcknowledgedAsync(C, stream, approximate: false);
        (await C.ExecuteAsync("XRANGE", stream, "-", "+")).AsArray().Select(e => e[0].AsString()).Should().Equal(ids.Skip(5));
    }

    [Fact]
    public async Task A_missing_stream_is_not_an_error() =>
        (await StreamTrimmer.TrimAcknowledgedAsync(C, RedisFixture.UniqueKey("none"))).Should().Be(0);
}
