using StackExchange.Redis;
using SynthVlm.Streams;

namespace SynthVlm.Bench.Pipeline;

/// <summary>
/// The reference: one stage-hop done with nothing but StackExchange.Redis ExecuteAsync. A producer keeps
/// <c>inFlight</c> XADDs (the same four fields as StreamProducer) outstanding on one connection while
/// a consumer reads with XREADGROUP COUNT <c>batch</c> on its own connection and XACKs every entry of
/// a read pipelined before reading again, as StreamConsumer does; no spans, no handler, no run state.
/// </summary>
internal static class RawHop
{
    public static async Task<double> MeasureAsync(RedisConnectionOptions options, string stream, byte[] payload, int count, int inFlight, int batch)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        await using var sharedMux = await RedisConnections.ConnectAsync(options);
        await using var blockingMux = await RedisConnections.ConnectAsync(options);
        var shared = sharedMux.GetDatabase();
        var blocking = blockingMux.GetDatabase();
        await shared.ExecuteAsync("DEL", stream);
        await shared.ExecuteAsync("XGROUP", "CREATE", stream, "raw", "0", "MKSTREAM");
        const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

        var started = System.Diagnostics.Stopwatch.StartNew();
        var next = -1;
        var producers = new Task[inFlight];
        for (var w = 0; w < inFlight; w++)
        {
            producers[w] = Task.Run(async () =>
            {
                while (Interlocked.Increment(ref next) < count)
                {
                    await shared.ExecuteAsync("XADD", stream, "*", "run", "bench-raw", "kind", "RawItem", "data", payload, "traceparent", TraceParent);
                }
            });
        }

        var acked = 0;
        var acks = new List<Task>(batch);
        while (acked < count)
        {
            var reply = await blocking.ExecuteAsync("XREADGROUP", "GROUP", "raw", "c1", "COUNT", batch, "BLOCK", 100, "STREAMS", stream, ">");
            if (reply.IsNull)
            {
                continue;
            }
            var entries = reply.Resp3Type == ResultType.Map ? reply[1] : reply[0][1];
            acks.Clear();
            for (var i = 0; i < entries.Length; i++)
            {
                acks.Add(shared.ExecuteAsync("XACK", stream, "raw", entries[i][0].ToString()));
            }
            await Task.WhenAll(acks);
            acked += acks.Count;
        }
        var rate = count / started.Elapsed.TotalSeconds;
        await Task.WhenAll(producers);
        await shared.ExecuteAsync("DEL", stream);
        return rate;
    }
}
