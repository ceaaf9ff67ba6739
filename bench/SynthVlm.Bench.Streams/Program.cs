using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using StackExchange.Redis;
using SynthVlm.Streams;
using SynthVlm.Testing;
using StreamConsumer = SynthVlm.Streams.StreamConsumer;

// Streams throughput: StreamProducer (XADD) and StreamConsumer (XREADGROUP + XACK) against
// redis-benchmark's XADD rate on the same redis-server, measured in the same run.
//
// Fairness: both sides send the same four fields (run, kind, data, traceparent) with the same
// payload size, and each pair of rows keeps the same number of XADDs in flight:
//   in-flight 16:  ours = 16 concurrent ProduceAsync callers on ONE connection
//                  redis-benchmark = -c 16 (16 connections, no -P)
//   in-flight 256: ours = 256 concurrent callers on ONE connection
//                  redis-benchmark = -c 16 -P 16 (16 connections x 16 pipelined)
// An ActivityListener samples every span, as when OpenTelemetry is on, so traceparent is real.
//
// Idle wait (StackExchange.Redis has no blocking XREADGROUP; each StreamConsumer blocks on a
// dedicated multiplexer of its own): idle CPU of idle consumers and the latency from XADD to the
// handler, against the same loop written with raw ExecuteAsync (XREADGROUP BLOCK on a private
// multiplexer + XACK) and against 100 ms polling with a non-blocking XREADGROUP, in the same run.
var quick = args.Contains("--quick");
var repeats = quick ? 1 : 3;
var sizes = new[] { 256, 4096 };
var inFlights = new[] { 16, 256 };
var started = Stopwatch.StartNew();

using var listener = new ActivityListener
{
    ShouldListenTo = s => s.Name == StreamTelemetry.SourceName,
    Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
};
ActivitySource.AddActivityListener(listener);

await using var server = await RedisServer.StartAsync();
var options = RedisConnectionOptions.Parse(server.ConnectionString);
// allowAdmin: the bench reads INFO cpu, an admin command to StackExchange.Redis.
var adminConfig = options.ToConfigurationOptions();
adminConfig.AllowAdmin = true;
await using var multiplexer = await ConnectionMultiplexer.ConnectAsync(adminConfig);
var connection = multiplexer.GetDatabase();
var benchmarkExe = File.Exists("/usr/bin/redis-benchmark") ? "/usr/bin/redis-benchmark" : "redis-benchmark";
Console.WriteLine($"redis-server {multiplexer.GetServers()[0].Version} on 127.0.0.1:{server.Port}, {Environment.ProcessorCount} cores, {multiplexer.GetServers()[0].Protocol}, StackExchange.Redis {System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(ConnectionMultiplexer).Assembly)?.InformationalVersion.Split('+')[0]}");

await IdleWaitBench.RunAsync(multiplexer, quick);
if (args.Contains("--idle-only"))
{
    return 0;
}

var rows = new List<string[]>();
foreach (var size in sizes)
{
    var n = quick ? 10_000 : size <= 256 ? 100_000 : 40_000;
    var payload = new byte[size];
    Random.Shared.NextBytes(payload);
    foreach (var inFlight in inFlights)
    {
        var stream = $"bench:{size}:{inFlight}";
        var producer = new StreamProducer(connection);
        // Warm-up (JIT, pools) outside the timed window.
        await ProduceAsync(producer, stream + ":warm", payload, 2_000, inFlight);
        await connection.ExecuteAsync("DEL", stream + ":warm");

        // The machine is shared, so each side is measured repeats times, interleaved, keeping the best.
        double ours = 0, raw = 0, reference = 0;
        var pipeline = inFlight / 16;
        for (var rep = 0; rep < repeats; rep++)
        {
            await connection.ExecuteAsync("DEL", stream);
            var sw = Stopwatch.StartNew();
            await ProduceAsync(producer, stream, payload, n, inFlight);
            ours = Math.Max(ours, n / sw.Elapsed.TotalSeconds);

            // The same XADDs through StackExchange.Redis ExecuteAsync directly: the client without the
            // producer's span, to separate transport cost from telemetry cost.
            sw.Restart();
            await RawXAddAsync(connection, stream + ":raw", payload, n, inFlight);
            raw = Math.Max(raw, n / sw.Elapsed.TotalSeconds);
            await connection.ExecuteAsync("DEL", stream + ":raw");

            reference = Math.Max(reference, RunRedisBenchmark(benchmarkExe, server.Port, n, 16, pipeline, size));
            await connection.ExecuteAsync("DEL", "benchstream");
        }
        rows.Add([
            "produce (XADD)", Size(size), n.ToString(CultureInfo.InvariantCulture),
            $"ours {inFlight} callers/1 conn; rb -c 16{(pipeline > 1 ? $" -P {pipeline}" : "")}",
            Rate(ours), Rate(reference), (ours / reference).ToString("0.00", CultureInfo.InvariantCulture),
        ]);
        rows.Add([
            "  raw ExecuteAsync XADD", Size(size), n.ToString(CultureInfo.InvariantCulture),
            $"same, no span/traceparent lookup", Rate(raw), Rate(reference), (raw / reference).ToString("0.00", CultureInfo.InvariantCulture),
        ]);

        if (inFlight == inFlights[^1])
        {
            // Consume what was just produced: one group, one consumer, no-op handler, XACK per entry.
            var consumerOptions = new StreamConsumerOptions { Stream = stream, Group = "bench", Consumer = "c1", BatchSize = 128, BlockTimeout = TimeSpan.FromMilliseconds(100) };
            var consumer = new StreamConsumer(multiplexer, consumerOptions);
            await consumer.EnsureGroupAsync();
            using var stop = new CancellationTokenSource();
            var sw = Stopwatch.StartNew();
            var run = consumer.RunAsync((_, _) => Task.CompletedTask, stop.Token);
            while (consumer.Stats.Acked < n)
            {
                await Task.Delay(5);
            }
            var consumed = n / sw.Elapsed.TotalSeconds;
            await stop.CancelAsync();
            await run;
            rows.Add([
                "consume+ack", Size(size), n.ToString(CultureInfo.InvariantCulture),
                "1 consumer, COUNT 128, XACK each (pipelined)", Rate(consumed), Rate(reference),
                (consumed / reference).ToString("0.00", CultureInfo.InvariantCulture),
            ]);
        }
        await connection.ExecuteAsync("DEL", stream);
    }
}

string[] header = ["operation", "payload", "entries", "concurrency (ours vs redis-benchmark)", "ours/s", "redis-benchmark XADD/s", "ratio"];
var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
Console.WriteLine();
Console.WriteLine(string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))));
Console.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
foreach (var r in rows)
{
    Console.WriteLine(string.Join(" | ", r.Select((c, i) => i >= 4 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))));
}
Console.WriteLine();
Console.WriteLine($"Each produce/raw/redis-benchmark figure is the best of {repeats} interleaved runs; consume is one run over the entries produced.");
Console.WriteLine("ratio = ours / redis-benchmark XADD with the same in-flight count (consume rows: vs the 256-in-flight XADD rate).");
Console.WriteLine($"Total {started.Elapsed.TotalSeconds:0.0} s.");
return 0;

static async Task ProduceAsync(StreamProducer producer, string stream, byte[] payload, int count, int concurrency)
{
    var next = -1;
    var workers = new Task[concurrency];
    for (var w = 0; w < concurrency; w++)
    {
        workers[w] = Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await producer.ProduceAsync(stream, "bench-run", "BenchItem", payload);
            }
        });
    }
    await Task.WhenAll(workers);
}

static async Task RawXAddAsync(IDatabase connection, string stream, byte[] payload, int count, int concurrency)
{
    const string TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    var next = -1;
    var workers = new Task[concurrency];
    for (var w = 0; w < concurrency; w++)
    {
        workers[w] = Task.Run(async () =>
        {
            while (Interlocked.Increment(ref next) < count)
            {
                await connection.ExecuteAsync("XADD", stream, "*", "run", "bench-run", "kind", "BenchItem", "data", payload, "traceparent", TraceParent);
            }
        });
    }
    await Task.WhenAll(workers);
}

static double RunRedisBenchmark(string exe, int port, int n, int clients, int pipeline, int size)
{
    var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var a in new[] { "-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-n", n.ToString(CultureInfo.InvariantCulture), "-c", clients.ToString(CultureInfo.InvariantCulture), "-P", pipeline.ToString(CultureInfo.InvariantCulture), "-q",
        "XADD", "benchstream", "*", "run", "bench-run", "kind", "BenchItem", "data", new string('x', size), "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
    {
        psi.ArgumentList.Add(a);
    }
    using var p = Process.Start(psi)!;
    var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
    p.WaitForExit();
    var m = Regex.Matches(output, @"([\d.]+) requests per second");
    if (m.Count == 0)
    {
        throw new InvalidOperationException($"redis-benchmark printed no rate:\n{output[..Math.Min(output.Length, 2000)]}");
    }
    return double.Parse(m[^1].Groups[1].Value, CultureInfo.InvariantCulture);
}

static string Rate(double perSecond) => perSecond.ToString("N0", CultureInfo.InvariantCulture);

static string Size(int bytes) => bytes >= 1024 ? $"{bytes / 1024} KiB" : $"{bytes} B";
