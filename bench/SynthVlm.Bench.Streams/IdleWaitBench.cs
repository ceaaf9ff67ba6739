using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;
using SynthVlm.Streams;
using StreamConsumer = SynthVlm.Streams.StreamConsumer;

/// <summary>
/// What the idle wait costs: CPU of idle consumers (this process + redis-server, as % of one core)
/// and the latency from XADD to the handler of an idle consumer, for StreamConsumer and for two
/// references written with raw ExecuteAsync — XREADGROUP BLOCK on a private multiplexer (the same
/// mechanism with nothing around it) and a 100 ms poll with a non-blocking XREADGROUP.
/// </summary>
internal static class IdleWaitBench
{
    private const int Consumers = 8;
    private static readonly TimeSpan Block = TimeSpan.FromSeconds(2);

    public static async Task RunAsync(ConnectionMultiplexer shared, bool quick)
    {
        var idleWindow = TimeSpan.FromSeconds(quick ? 4 : 10);
        var samples = quick ? 60 : 200;
        var gap = TimeSpan.FromMilliseconds(25);
        var db = shared.GetDatabase();

        // Baseline: the process with only the shared multiplexer (its heartbeat, GC, timers).
        var baseline = await MeasureCpuAsync(db, idleWindow);

        // A short unreported pass first, so no variant pays for JIT and first-use costs the others reuse.
        await MeasureVariantsAsync(shared, TimeSpan.FromSeconds(2), 16, gap, baseline);
        var rows = await MeasureVariantsAsync(shared, idleWindow, samples, gap, baseline);

        string[] header = ["idle wait", "client %core/consumer", "redis %core/consumer", "latency p50 ms", "latency p99 ms", "handled"];
        var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
        Console.WriteLine();
        Console.WriteLine($"Idle wait: {Consumers} idle consumers for {idleWindow.TotalSeconds:0} s (BLOCK {Block.TotalMilliseconds:0} ms), then {samples} single entries {gap.TotalMilliseconds:0} ms apart (XADD -> handler).");
        Console.WriteLine($"CPU above the baseline of this process with only the shared multiplexer ({baseline.ClientPct:0.000} % client, {baseline.ServerPct:0.000} % redis-server).");
        Console.WriteLine(string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))));
        Console.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
        foreach (var r in rows)
        {
            Console.WriteLine(string.Join(" | ", r.Select((c, i) => i >= 1 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))));
        }
    }

    private static async Task<List<string[]>> MeasureVariantsAsync(ConnectionMultiplexer shared, TimeSpan idleWindow, int samples, TimeSpan gap, (double ClientPct, double ServerPct) baseline)
    {
        var db = shared.GetDatabase();
        var rows = new List<string[]>();
        foreach (var variant in new[] { "StreamConsumer (BLOCK, dedicated mux)", "raw XREADGROUP BLOCK (dedicated mux)", "raw poll every 100 ms (shared mux)" })
        {
            var tag = new string(variant.Where(char.IsLetter).Take(6).ToArray()).ToLowerInvariant();
            var streams = Enumerable.Range(0, Consumers).Select(i => $"bench:idle:{tag}:{i}").ToArray();
            var latencies = new List<double>();
            var latencyLock = new Lock();
            void Handled(ReadOnlySpan<byte> data)
            {
                var sent = BitConverter.ToInt64(data);
                var ms = Stopwatch.GetElapsedTime(sent).TotalMilliseconds;
                lock (latencyLock)
                {
                    latencies.Add(ms);
                }
            }

            using var stop = new CancellationTokenSource();
            var loops = new List<Task>();
            for (var i = 0; i < Consumers; i++)
            {
                await db.ExecuteAsync("DEL", streams[i]);
                await db.StreamCreateConsumerGroupAsync(streams[i], "g", "$", createStream: true);
                loops.Add(variant switch
                {
                    _ when variant.StartsWith("StreamConsumer", StringComparison.Ordinal) => OursAsync(shared, streams[i], Handled, stop.Token),
                    _ when variant.StartsWith("raw XREADGROUP", StringComparison.Ordinal) => RawBlockingAsync(shared, streams[i], Handled, stop.Token),
                    _ => RawPollingAsync(db, streams[i], Handled, stop.Token),
                });
            }
            await Task.Delay(TimeSpan.FromSeconds(1)); // connections up, first reads parked

            var idle = await MeasureCpuAsync(db, idleWindow);

            // Latency: one entry at a time to an idle consumer (round robin over the streams).
            for (var n = 0; n < samples; n++)
            {
                var stamp = BitConverter.GetBytes(Stopwatch.GetTimestamp());
                await db.StreamAddAsync(streams[n % Consumers], [new("run", "bench"), new("kind", "Idle"), new("data", stamp)]);
                await Task.Delay(gap);
            }
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                lock (latencyLock)
                {
                    if (latencies.Count >= samples)
                    {
                        break;
                    }
                }
                if (deadline.Elapsed > TimeSpan.FromSeconds(10))
                {
                    break;
                }
                await Task.Delay(10);
            }
            await stop.CancelAsync();
            await Task.WhenAll(loops);
            foreach (var s in streams)
            {
                await db.ExecuteAsync("DEL", s);
            }

            double[] sorted;
            lock (latencyLock)
            {
                sorted = [.. latencies.Order()];
            }
            var clientPct = Math.Max(0, idle.ClientPct - baseline.ClientPct);
            var serverPct = Math.Max(0, idle.ServerPct - baseline.ServerPct);
            rows.Add([
                variant,
                F(clientPct / Consumers, "0.000"), F(serverPct / Consumers, "0.000"),
                sorted.Length == 0 ? "-" : F(Percentile(sorted, 0.5), "0.00"),
                sorted.Length == 0 ? "-" : F(Percentile(sorted, 0.99), "0.00"),
                $"{sorted.Length}/{samples}",
            ]);
        }
        return rows;
    }

    private static async Task OursAsync(ConnectionMultiplexer shared, string stream, Action<ReadOnlySpan<byte>> handled, CancellationToken stop)
    {
        var consumer = new StreamConsumer(shared, new StreamConsumerOptions { Stream = stream, Group = "g", Consumer = "c", BlockTimeout = Block });
        await consumer.RunAsync((e, _) =>
        {
            handled(e.Data.Span);
            return Task.CompletedTask;
        }, stop);
    }

    private static async Task RawBlockingAsync(ConnectionMultiplexer shared, string stream, Action<ReadOnlySpan<byte>> handled, CancellationToken stop)
    {
        await using var dedicated = await RedisConnections.OpenDedicatedAsync(shared, "raw-block", Block + TimeSpan.FromSeconds(5));
        var reader = dedicated.GetDatabase();
        var db = shared.GetDatabase();
        while (!stop.IsCancellationRequested)
        {
            RedisResult reply;
            try
            {
                reply = await reader.ExecuteAsync("XREADGROUP", "GROUP", "g", "c", "COUNT", 16, "BLOCK", (long)Block.TotalMilliseconds, "STREAMS", stream, ">").WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (reply.IsNull || reply.Length == 0)
            {
                continue;
            }
            var entries = reply.Resp3Type == ResultType.Map ? reply[1] : reply[0][1];
            for (var i = 0; i < entries.Length; i++)
            {
                var fields = entries[i][1];
                handled((byte[])fields[5]!);
                await db.StreamAcknowledgeAsync(stream, "g", entries[i][0].ToString());
            }
        }
    }

    private static async Task RawPollingAsync(IDatabase db, string stream, Action<ReadOnlySpan<byte>> handled, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var entries = await db.StreamReadGroupAsync(stream, "g", "c", ">", 16);
            foreach (var e in entries)
            {
                handled((byte[])e["data"]!);
                await db.StreamAcknowledgeAsync(stream, "g", e.Id);
            }
            if (entries.Length == 0)
            {
                await Task.Delay(100, stop).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
        }
    }

    private static async Task<(double ClientPct, double ServerPct)> MeasureCpuAsync(IDatabase db, TimeSpan window)
    {
        var process = Process.GetCurrentProcess();
        process.Refresh();
        var client0 = process.TotalProcessorTime;
        var server0 = await RedisCpuAsync(db);
        var wall = Stopwatch.StartNew();
        await Task.Delay(window);
        process.Refresh();
        var client = process.TotalProcessorTime - client0;
        var server = await RedisCpuAsync(db) - server0;
        var seconds = wall.Elapsed.TotalSeconds;
        return (100 * client.TotalSeconds / seconds, 100 * server.TotalSeconds / seconds);
    }

    private static async Task<TimeSpan> RedisCpuAsync(IDatabase db)
    {
        var info = (await db.ExecuteAsync("INFO", "cpu")).ToString();
        double total = 0;
        foreach (var line in info.Split('\n'))
        {
            var parts = line.Trim().Split(':');
            if (parts.Length == 2 && parts[0] is "used_cpu_sys" or "used_cpu_user")
            {
                total += double.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }
        return TimeSpan.FromSeconds(total);
    }

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private static string F(double value, string format) => value.ToString(format, CultureInfo.InvariantCulture);
}
