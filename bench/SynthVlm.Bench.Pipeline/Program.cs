using StackExchange.Redis;
using StreamConsumer = SynthVlm.Streams.StreamConsumer;
using StreamEntry = SynthVlm.Streams.StreamEntry;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using SynthVlm;
using SynthVlm.Bench.Pipeline;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Streams;
using SynthVlm.Runs;
using SynthVlm.Testing;

// Plumbing cost of a run (issue 7): N images through the four stages as the services chain them
// (captions → curated → generated → scored → score records) with zero-cost compute, next to the raw
// Redis XADD + XREADGROUP + XACK rate of one stage-hop on the same redis-server; the fsync'd score
// record write on tmpfs and on the data disk; and the finalize (best variant per caption, top K).
//   dotnet run -c Release --project bench/SynthVlm.Bench.Pipeline [-- --quick] [--items N] [--variants V] [--store DIR]
//   dotnet run -c Release --project bench/SynthVlm.Bench.Pipeline -- --selection 1000000
const int Batch = 32;
const int Concurrency = 16;
const int Stages = 4;

var options = BenchOptions.Parse(args);
var dataRoot = options.Store ?? Path.Combine(Path.GetTempPath(), $"synthvlm-bench-pipeline-{Environment.ProcessId}");
var shmRoot = Directory.Exists("/dev/shm") ? $"/dev/shm/synthvlm-bench-pipeline-{Environment.ProcessId}" : null;
var started = Stopwatch.StartNew();
try
{
    return options.Selection > 0 ? SelectionMode(options.Selection, options.Store ?? SelectionRoot(options.Selection, dataRoot, shmRoot)) : await PipelineModeAsync(options, dataRoot, shmRoot);
}
finally
{
    // A folder given with --store is the user's; what the bench made up itself goes.
    foreach (var root in new[] { options.Store is null ? dataRoot : null, shmRoot })
    {
        if (root is not null && Directory.Exists(root))
        {
            Directory.Delete(root, recursive: true);
        }
    }
    Console.WriteLine($"Total {started.Elapsed.TotalSeconds:0.0} s.");
}

static async Task<int> PipelineModeAsync(BenchOptions options, string dataRoot, string? shmRoot)
{
    var variants = options.Variants;
    var images = options.Items;
    var captions = images / variants;
    // Spans are sampled, as when OpenTelemetry is on, so every entry carries a real traceparent.
    using var listener = new ActivityListener
    {
        ShouldListenTo = s => s.Name == StreamTelemetry.SourceName,
        Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
    };
    ActivitySource.AddActivityListener(listener);

    await using var server = await RedisServer.StartAsync();
    var redisOptions = RedisConnectionOptions.Parse(server.ConnectionString);
    // allowAdmin: the bench reads INFO cpu, an admin command to StackExchange.Redis.
var adminConfig = redisOptions.ToConfigurationOptions();
adminConfig.AllowAdmin = true;
await using var admin = await ConnectionMultiplexer.ConnectAsync(adminConfig);
    Console.WriteLine($"redis-server {admin.GetServers()[0].Version} on 127.0.0.1:{server.Port}, {Environment.ProcessorCount} cores, {admin.GetServers()[0].Protocol}, StackExchange.Redis {System.Reflection.CustomAttributeExtensions.GetCustomAttribute<System.Reflection.AssemblyInformationalVersionAttribute>(typeof(ConnectionMultiplexer).Assembly)?.InformationalVersion.Split('+')[0]}");
    Console.WriteLine($"{images:N0} images = {captions:N0} captions x {variants} variants; consumers: BatchSize {Batch}, MaxConcurrency {Concurrency}, one per stage, one connection per stage");
    Console.WriteLine($"load average at start: {LoadAverage()} (the machine is shared: wall times include waiting for a core)");
    Console.WriteLine($"data disk store: {dataRoot} ({FileSystemOf(dataRoot)}); tmpfs store: {shmRoot ?? "(none)"}");
    Directory.CreateDirectory(dataRoot);

    // 1. Raw reference payload: the mean size of the four entries the stages send.
    var payloadSize = MeanPayloadSize(variants);
    var payload = new byte[payloadSize];
    Random.Shared.NextBytes(payload);
    await RawHop.MeasureAsync(redisOptions, "bench:raw:warm", payload, 5_000, Concurrency, Batch);
    var rawCount = options.Quick ? 20_000 : 100_000;
    var (raw, rawCpuUs) = await MeasureRawAsync(redisOptions, admin, payload, rawCount);

    // 2. The pipeline, once with the store on the data disk and once on tmpfs (the fsync'd score record is the difference).
    var warmCaptions = options.Quick ? 200 : 1_000;
    var disk = await PipelinePassAsync(redisOptions, admin, dataRoot, "disk", captions, variants, warmCaptions);
    var tmpfs = shmRoot is null ? null : await PipelinePassAsync(redisOptions, admin, shmRoot, "tmpfs", captions, variants, warmCaptions);
    var (config, blobs, wall, cpu, redisCpu) = disk;
    var (rawAfter, rawCpuAfterUs) = await MeasureRawAsync(redisOptions, admin, payload, rawCount);
    raw = Math.Max(raw, rawAfter);
    rawCpuUs = Math.Min(rawCpuUs, rawCpuAfterUs);

    // Stage-hops: the caption hop once per caption, the three image hops once per image.
    var hopItems = captions + (3L * images);
    var endToEnd = images / wall.TotalSeconds;
    var hopRate = hopItems / wall.TotalSeconds;
    var hopWallUs = wall.TotalMicroseconds * Stages / hopItems;
    var hopCpuUs = (cpu + redisCpu).TotalMicroseconds / hopItems;
    var rawHopUs = 1e6 / raw;

    // 3. The fsync'd score record on its own: sequential latency and 16 concurrent writers.
    var record = RunRecords.EnumerateScores(blobs, config.Id).First().Location.Read();
    var writes = options.Quick ? 500 : 2_000;
    var diskWrite = await ScoreWritesAsync(dataRoot, record, writes);
    var shmWrite = shmRoot is null ? ((double SequentialUs, double ConcurrentUs, double GroupUs)?)null : await ScoreWritesAsync(shmRoot, record, writes);

    // 4. Finalize over the run's score records (K = N/10 from the config), checked against a naive sort.
    var finalize = FinalizeBench.Run(blobs, config.Id, config);
    if (finalize.Records != images)
    {
        throw new InvalidOperationException($"finalize read {finalize.Records} score records; the run recorded {images}.");
    }
    FinalizeBench.Verify(blobs, config.Id, config, finalize);
    var finalizeUs = finalize.Elapsed.TotalMicroseconds / finalize.Records;

    // 5. Per image: the diffusion, scoring and selection hops, plus the caption hop shared by the variants, plus finalize.
    var hopsPerImage = 3 + (1.0 / variants);
    var perImageUs = (hopWallUs * hopsPerImage) + finalizeUs;
    var perImageCpuUs = (hopCpuUs * hopsPerImage) + finalizeUs;
    var gpuShare = perImageUs / 1e6 * 100;

    var rows = new List<string[]>
    {
        Row("raw Redis hop (XADD+XREADGROUP+XACK)", raw, "hops/s", $"StackExchange.Redis ExecuteAsync only, {payloadSize} B data, {Concurrency} XADDs in flight, COUNT {Batch}, best of 2", "reference"),
        Row("pipeline end to end (store on data disk)", endToEnd, "images/s", $"{images:N0} images, {captions:N0} captions, wall {wall.TotalSeconds:0.00} s", ""),
        Row("pipeline stage-hops", hopRate, "hops/s", $"{hopItems:N0} hop-items = captions + 3 x images, 4 stages at once", Ratio(hopRate / raw)),
        RowUs("  per hop, wall x consumers / hop-items", hopWallUs, $"wall x {Stages} consumers / {hopItems:N0}; raw hop: {rawHopUs:0.0} us", Ratio(hopWallUs / rawHopUs)),
        RowUs("  per hop, CPU (bench + redis-server)", hopCpuUs, $"bench {cpu.TotalSeconds:0.00} s + redis {redisCpu.TotalSeconds:0.00} s CPU / hop-items; raw hop: {rawCpuUs:0.0} us CPU", Ratio(hopCpuUs / rawCpuUs)),
    };
    if (tmpfs is not null)
    {
        var tmpfsHop = hopItems / tmpfs.Wall.TotalSeconds;
        rows.Add(Row("pipeline end to end (store on tmpfs)", images / tmpfs.Wall.TotalSeconds, "images/s", $"same, score records on /dev/shm, wall {tmpfs.Wall.TotalSeconds:0.00} s; ratio tmpfs/disk", Ratio(tmpfs.Wall.TotalSeconds > 0 ? wall.TotalSeconds / tmpfs.Wall.TotalSeconds : 0)));
        rows.Add(Row("pipeline stage-hops (store on tmpfs)", tmpfsHop, "hops/s", "ratio vs raw hop", Ratio(tmpfsHop / raw)));
        rows.Add(RowUs("  per hop, wall x consumers (tmpfs)", tmpfs.Wall.TotalMicroseconds * Stages / hopItems, $"CPU: {(tmpfs.Cpu + tmpfs.RedisCpu).TotalMicroseconds / hopItems:0.0} us per hop (bench + redis-server)", ""));
    }
    rows.AddRange(
    [
        RowUs("score record write, data disk (fsync)", diskWrite.SequentialUs, $"{FileSystemOf(dataRoot)}; {writes} sequential; 16 writers: {diskWrite.ConcurrentUs:0.0} us/write", "reference"),
        RowUs("  file per record, 16 writers (before)", diskWrite.ConcurrentUs, "temporary file + fsync + rename per record", "reference"),
        RowUs("  score log, 16 writers (group commit)", diskWrite.GroupUs, "ScoreLogWriter: append, one fsync per batch; ratio file/log", Ratio(diskWrite.ConcurrentUs / diskWrite.GroupUs)),
    ]);
    if (shmWrite is { } shm)
    {
        rows.Add(RowUs("score record write, tmpfs /dev/shm", shm.SequentialUs, $"{writes} sequential; 16 writers: {shm.ConcurrentUs:0.0} us/write; score log, 16 writers: {shm.GroupUs:0.0} us/record", Ratio(shm.SequentialUs / diskWrite.SequentialUs)));
    }
    rows.Add(RowUs("finalize (enumerate+parse+best+top K)", finalizeUs, $"{finalize.Records:N0} records, {finalize.Captions:N0} captions, K {finalize.K:N0}, {finalize.Elapsed.TotalMilliseconds:0} ms", ""));
    rows.Add(Row("  finalize peak managed heap", finalize.PeakHeap / 1048576.0, "MiB", $"before {finalize.HeapBefore / 1048576.0:0.0} MiB (GC.GetTotalMemory, sampled every 4096 records)", ""));
    rows.Add(Row("  finalize retained by the selection", finalize.RetainedHeap / 1048576.0, "MiB", string.Create(CultureInfo.InvariantCulture, $"after a full GC with the K candidates alive: {(double)finalize.RetainedHeap / Math.Max(1, finalize.K):N0} B per selected"), ""));
    rows.Add(Row("  finalize peak working set", finalize.PeakWorkingSet / 1048576.0, "MiB", $"before {finalize.WorkingSetBefore / 1048576.0:0.0} MiB ({(finalize.PeakWasReset ? "VmHWM reset before finalize" : "process lifetime peak")})", ""));
    rows.Add(RowUs("plumbing per image", perImageUs, $"{hopsPerImage:0.###} hops x {hopWallUs:0.0} us + finalize; CPU-based: {perImageCpuUs:0.0} us", ""));
    rows.Add(Row("  share of one GPU-second per image", gpuShare, "%", "plumbing us per image / 1,000,000 us", ""));
    PrintTable(rows);
    Console.WriteLine();
    Console.WriteLine($"load average at end: {LoadAverage()}");
    Console.WriteLine($"Per-hop wall cost = (wall time x {Stages} consumers) / hop-items: each consumer is charged the whole wall time, so it is an upper bound; the CPU row is what the plumbing burns.");
    Console.WriteLine("Every stage checked with RunStore.GetAsync: processed == emitted (curation: captions; diffusion, scoring, selection: images), nothing dropped or dead.");
    Console.WriteLine($"Assumption: a GPU image costs 1 GPU-second for the percentage; SDXL base 1024x1024 at 60 steps on an H100 takes several seconds per image (not measured here), so the real share is smaller by that factor (e.g. {gpuShare / 4:0.000} % at 4 s/image).");
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"plumbing: {endToEnd:N0} items/s end to end, {hopWallUs:0.0} us per item per hop (wall x consumers; CPU {hopCpuUs:0.0} us vs raw {rawCpuUs:0.0} us); raw Redis {raw:N0} hops/s; ratio ours/raw = {hopRate / raw:0.00}; cost per image = {gpuShare:0.000} % of a GPU-second"));
    return 0;
}

// One pass: four consumers (one per stage) started, a warm-up run (JIT, pools) and the measured run
// through them, stopped, and every stage's progress checked with RunStore.GetAsync.
static async Task<PassResult> PipelinePassAsync(RedisConnectionOptions redisOptions, ConnectionMultiplexer admin, string root, string tag, int captions, int variants, int warmCaptions)
{
    var images = captions * variants;
    var blobs = new FileBlobStore(root);
    await using var connections = await StageConnections.ConnectAsync(redisOptions);
    await using var scoreLog = new ScoreLogWriter(blobs, $"bench-{tag}");
    var stages = new PipelineStages(connections, blobs, scoreLog);
    var stageSpecs = new (string Stream, string Group, ConnectionMultiplexer Connection, Func<StreamEntry, CancellationToken, Task> Handler)[]
    {
        (KnownStreams.Captions, "curation", connections.Curation, stages.CurateAsync),
        (KnownStreams.Curated, "diffusion", connections.Diffusion, stages.GenerateAsync),
        (KnownStreams.Generated, "scoring", connections.Scoring, stages.ScoreAsync),
        (KnownStreams.Scored, "selection", connections.Selection, stages.RecordAsync),
    };
    var consumers = stageSpecs.Select(c => new StreamConsumer(c.Connection, new StreamConsumerOptions
    {
        Stream = c.Stream,
        Group = c.Group,
        Consumer = "bench-1",
        BatchSize = Batch,
        MaxConcurrency = Concurrency,
        BlockTimeout = TimeSpan.FromMilliseconds(100),
    })).ToArray();
    foreach (var consumer in consumers)
    {
        await consumer.EnsureGroupAsync();
    }
    using var stop = new CancellationTokenSource();
    var loops = consumers.Select((c, i) => c.RunAsync(stageSpecs[i].Handler, stop.Token)).ToArray();

    var store = new RunStore(admin.GetDatabase());
    var warm = await SubmitAsync(store, root, $"bench-warm-{tag}-{Environment.ProcessId}", warmCaptions, variants, warmCaptions * variants);
    await FeedAsync(admin, store, warm, warmCaptions);
    await WaitAsync(consumers, warmCaptions * (long)variants);
    await CheckProgressAsync(store, warm.Id, warmCaptions, variants);

    var config = await SubmitAsync(store, root, $"bench-pipeline-{tag}-{Environment.ProcessId}", captions, variants, images);
    var cpuBefore = CpuNow();
    var redisCpuBefore = await RedisCpuAsync(admin);
    var sw = Stopwatch.StartNew();
    await FeedAsync(admin, store, config, captions);
    await WaitAsync(consumers, (warmCaptions + (long)captions) * variants);
    var wall = sw.Elapsed;
    var cpu = CpuNow() - cpuBefore;
    var redisCpu = await RedisCpuAsync(admin) - redisCpuBefore;
    await stop.CancelAsync();
    await Task.WhenAll(loops);
    await CheckProgressAsync(store, config.Id, captions, variants);
    return new PassResult(config, blobs, wall, cpu, redisCpu);
}

static int SelectionMode(int records, string root)
{
    const int Variants = 2;
    var captions = records / Variants;
    var run = $"bench-selection-{Environment.ProcessId}";
    var config = new RunConfig { Id = run, Variants = Variants, Lambda = 0.5, TopK = records / 10 };
    var blobs = new FileBlobStore(root);
    Console.WriteLine($"selection: {records:N0} score records = {captions:N0} captions x {Variants} variants, K = {config.TopK:N0}; store {root} ({FileSystemOf(root)})");

    // Setup, not measured: the records as the selection service writes them, through the score log.
    var sw = Stopwatch.StartNew();
    using (var setup = new ScoreLogSetup(blobs))
    {
        for (long c = 0; c < captions; c++)
        {
            for (var v = 0; v < Variants; v++)
            {
                setup.Append(run, c, v, ScoreRecord(run, c, v, Variants).ToByteArray());
            }
        }
    }
    Console.WriteLine($"setup: wrote {records:N0} records in {sw.Elapsed.TotalSeconds:0.0} s (score log, group commits of up to 1,024)");

    var result = FinalizeBench.Run(blobs, run, config);
    if (result.Records != records || result.Captions != captions)
    {
        throw new InvalidOperationException($"finalize read {result.Records} records of {result.Captions} captions; {records} of {captions} were written.");
    }
    var verify = Stopwatch.StartNew();
    FinalizeBench.Verify(blobs, run, config, result);
    verify.Stop();
    var verifyK = result.K;
    // Let the first selection go, so the second pass starts from an empty heap.
    result = result with { Selected = [] };

    // The same records with a small K: if memory follows K and not the pool, the retained heap drops with it.
    var smallConfig = config.Clone();
    smallConfig.TopK = Math.Max(1, records / 1000);
    var small = FinalizeBench.Run(blobs, run, smallConfig);
    var rows = new List<string[]>();
    foreach (var r in new[] { result, small })
    {
        rows.Add(Row($"finalize time, K {r.K:N0}", r.Elapsed.TotalSeconds, "s", $"{r.Records:N0} records, {r.Captions:N0} captions", ""));
        rows.Add(RowUs("  per record", r.Elapsed.TotalMicroseconds / r.Records, "enumerate (2 passes over the score logs) + parse + best variant + top K", ""));
        rows.Add(Row("  peak managed heap", r.PeakHeap / 1048576.0, "MiB", $"before {r.HeapBefore / 1048576.0:0.0} MiB; GC.GetTotalMemory(false) sampled every 4096 records (garbage included)", ""));
        rows.Add(Row("  retained by the selection", r.RetainedHeap / 1048576.0, "MiB", string.Create(CultureInfo.InvariantCulture, $"after a full GC with the K candidates alive: {(double)r.RetainedHeap / Math.Max(1, r.K):N0} B per selected"), ""));
        rows.Add(Row("  peak working set", r.PeakWorkingSet / 1048576.0, "MiB", $"before {r.WorkingSetBefore / 1048576.0:0.0} MiB ({(r.PeakWasReset ? "VmHWM reset before finalize" : "process lifetime peak")})", ""));
    }
    PrintTable(rows);
    Console.WriteLine();
    Console.WriteLine($"K {verifyK:N0} selection verified against a naive sort of all {result.Captions:N0} best variants ({verify.Elapsed.TotalSeconds:0.0} s, not in the timing).");
    Console.WriteLine($"Live memory is bounded by K (the selector holds K candidates, each with its caption id and record location, as RunFinalizer does) plus one bucket of {RunRecords.BucketSize} captions' records, not by the {records:N0} records; the peaks also hold garbage the GC has not collected yet.");
    return 0;
}

// The raw hop's rate and its CPU per hop (bench process + redis-server), measured like the pipeline's.
static async Task<(double Rate, double CpuUs)> MeasureRawAsync(RedisConnectionOptions options, ConnectionMultiplexer admin, byte[] payload, int count)
{
    var cpuBefore = CpuNow();
    var redisBefore = await RedisCpuAsync(admin);
    var rate = await RawHop.MeasureAsync(options, "bench:raw", payload, count, Concurrency, Batch);
    var cpu = CpuNow() - cpuBefore + (await RedisCpuAsync(admin) - redisBefore);
    return (rate, cpu.TotalMicroseconds / count);
}

// tmpfs is used for the selection records when it has room for them twice over (a generous bound:
// the score log keeps them in a few segment files), and the choice is printed.
static string SelectionRoot(int records, string dataRoot, string? shmRoot)
{
    if (shmRoot is null)
    {
        return dataRoot;
    }
    var free = new DriveInfo("/dev/shm").AvailableFreeSpace;
    return free > 2L * records * 4096 ? shmRoot : dataRoot;
}

static async Task<RunConfig> SubmitAsync(RunStore store, string root, string id, int captions, int variants, int images)
{
    // Normalize wants a real caption pool; the bench is the ingestion, so the file is only read for its existence.
    Directory.CreateDirectory(root);
    var pool = Path.Combine(root, $"{id}.jsonl");
    await using (var writer = new StreamWriter(pool, append: false, Encoding.UTF8))
    {
        for (var i = 0; i < captions; i++)
        {
            await writer.WriteLineAsync($$"""{"id": "{{CaptionId(i)}}", "caption": "{{CaptionText(i)}}"}""");
        }
    }
    var config = RunConfigs.Normalize(new RunConfig
    {
        Id = id,
        Captions = pool,
        Variants = variants,
        Lambda = 0.5,
        TopK = Math.Max(1, images / 10),
        Seed = 42,
        Output = Path.Combine(root, "datasets", id),
    }, root, DateTimeOffset.UtcNow);
    var (_, created) = await store.SubmitAsync(config);
    if (!created)
    {
        throw new InvalidOperationException($"run '{id}' already existed in a fresh redis-server.");
    }
    await store.TransitionAsync(id, RunState.Running, null, [RunState.Pending]);
    return config;
}

// What CurationService's RunIngestor does per kept record: the entry, then curation "emitted", then ingest "processed".
static async Task FeedAsync(ConnectionMultiplexer connection, RunStore store, RunConfig config, int captions)
{
    var producer = new StreamProducer(connection.GetDatabase());
    var next = -1;
    var workers = new Task[Concurrency];
    for (var w = 0; w < workers.Length; w++)
    {
        workers[w] = Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < captions)
            {
                var caption = new PoolCaption { Run = config.Id, Index = i, CaptionId = CaptionId(i), Caption = CaptionText(i), Line = i + 1 };
                await producer.ProduceAsync(KnownStreams.Captions, config.Id, PipelineStages.PoolCaptionKind, caption.ToByteArray());
                await store.MarkAsync(config.Id, RunStages.Curation, ProgressMark.Emitted, i);
                await store.MarkAsync(config.Id, RunStages.Ingest, ProgressMark.Processed, i);
            }
        });
    }
    await Task.WhenAll(workers);
    await store.CompleteIngestAsync(config.Id, captions);
}

static async Task WaitAsync(StreamConsumer[] consumers, long selectionTarget)
{
    var last = -1L;
    var lastChange = Stopwatch.StartNew();
    while (consumers[^1].Stats.Acked < selectionTarget)
    {
        if (consumers.FirstOrDefault(c => c.Stats.Failed > 0 || c.Stats.DeadLettered > 0) is { } bad)
        {
            throw new InvalidOperationException($"a stage failed entries: {bad.Stats} (see {KnownStreams.Dead}).");
        }
        var acked = consumers.Sum(c => c.Stats.Acked);
        if (acked != last)
        {
            last = acked;
            lastChange.Restart();
        }
        else if (lastChange.Elapsed > TimeSpan.FromSeconds(60))
        {
            throw new TimeoutException($"no stage made progress for 60 s; acked per stage: {string.Join(", ", consumers.Select(c => c.Stats.Acked))}, selection needs {selectionTarget}.");
        }
        await Task.Delay(2);
    }
}

static async Task CheckProgressAsync(RunStore store, string id, long captions, int variants)
{
    var run = await store.GetAsync(id) ?? throw new InvalidOperationException($"run '{id}' is not in Redis.");
    var problems = new List<string>();
    foreach (var stage in run.Stages)
    {
        var expected = RunStages.CountsImages(stage.Stage) ? captions * variants : captions;
        if (stage.Emitted != expected || stage.Processed != expected || stage.Dropped != 0 || stage.DeadLettered != 0 || !stage.Done)
        {
            problems.Add($"{stage.Stage}: emitted {stage.Emitted}, processed {stage.Processed}, dropped {stage.Dropped}, dead {stage.DeadLettered}, done {stage.Done}; expected {expected}");
        }
    }
    if (problems.Count > 0)
    {
        throw new InvalidOperationException($"run '{id}' progress is wrong:\n  {string.Join("\n  ", problems)}");
    }
}

static async Task<(double SequentialUs, double ConcurrentUs, double GroupUs)> ScoreWritesAsync(string root, byte[] record, int count)
{
    var store = new FileBlobStore(Path.Combine(root, "writes"));
    var run = $"bench-writes-{Environment.ProcessId}";
    for (var i = 0; i < 64; i++)
    {
        await store.WriteAsync(RunRecords.Score(run + "-warm", i, 0), record);
    }
    var sw = Stopwatch.StartNew();
    for (var i = 0; i < count; i++)
    {
        await store.WriteAsync(RunRecords.Score(run, i, 0), record);
    }
    var sequential = sw.Elapsed.TotalMicroseconds / count;
    var next = -1;
    sw.Restart();
    await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < count)
        {
            await store.WriteAsync(RunRecords.Score(run, i, 1), record);
        }
    })));
    var concurrent = sw.Elapsed.TotalMicroseconds / count;

    // The same records through the selection service's group-committed score log, 16 at a time.
    await using (var log = new ScoreLogWriter(store, "bench-writes"))
    {
        for (var i = 0; i < 64; i++)
        {
            await log.AppendAsync(run + "-warm", i, 1, record);
        }
        next = -1;
        sw.Restart();
        await Task.WhenAll(Enumerable.Range(0, Concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                await log.AppendAsync(run, i, 2, record);
            }
        })));
    }
    var group = sw.Elapsed.TotalMicroseconds / count;
    Directory.Delete(store.Root, recursive: true);
    return (sequential, concurrent, group);
}

static int MeanPayloadSize(int variants)
{
    const string Run = "bench-pipeline-000000";
    var pool = new PoolCaption { Run = Run, Index = 1234, CaptionId = CaptionId(1234), Caption = CaptionText(1234), Line = 1235 };
    var curated = new CuratedCaption { Run = Run, CaptionId = pool.CaptionId, Caption = pool.Caption, Variants = variants, RunSeed = 42, Spec = new GenerationSpec(), CaptionIndex = 1234 };
    var scored = ScoreRecord(Run, 1234, 0, variants);
    var sizes = new[] { pool.CalculateSize(), curated.CalculateSize(), scored.Image.CalculateSize(), scored.CalculateSize() };
    return (int)Math.Round(sizes.Average());
}

static ScoredImage ScoreRecord(string run, long captionIndex, int variant, int variants)
{
    var (clip, ssim) = PipelineStages.SyntheticScores(captionIndex, variant);
    var image = new GeneratedImage
    {
        Run = run,
        CaptionId = CaptionId(captionIndex),
        Caption = CaptionText(captionIndex),
        Variant = variant,
        ImageKey = BlobKey.GeneratedImage(run, CaptionId(captionIndex), variant),
        Seed = 42 + (captionIndex * variants) + variant,
        Model = "zero-cost-sdxl",
        CaptionIndex = captionIndex,
        Variants = variants,
    };
    image.Settings.Add(new Dictionary<string, string>
    {
        ["width"] = "1024", ["height"] = "1024", ["steps"] = "60", ["guidance"] = "5",
        ["negative_prompt"] = "(none)", ["refiner"] = "0.8", ["scheduler"] = "(model)",
    });
    return new ScoredImage
    {
        Image = image,
        Score = new ScoreResult
        {
            Id = $"{image.CaptionId}/{variant}", Clip = clip, Ssim = ssim, Weighted = clip + (0.5 * ssim), Cosine = clip, Lambda = 0.5,
            CaptionTokens = 12, Width = 1024, Height = 1024, Timings = new ScoreTimings { BatchSize = 1 },
        },
        ClipModel = "zero-cost-clip",
    };
}

static string CaptionId(long i) => string.Create(CultureInfo.InvariantCulture, $"cap-{i:D8}");

// About the length of a COCO/BLIP caption of the pools SynthVLM curates.
static string CaptionText(long i) => string.Create(CultureInfo.InvariantCulture, $"a photo of a red bicycle leaning against a brick wall next to a wooden door, number {i}");

static TimeSpan CpuNow()
{
    using var self = Process.GetCurrentProcess();
    return self.TotalProcessorTime;
}

static async Task<TimeSpan> RedisCpuAsync(ConnectionMultiplexer connection)
{
    var info = (await connection.GetDatabase().ExecuteAsync("INFO", "cpu")).ToString();
    double seconds = 0;
    foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries))
    {
        if (line.StartsWith("used_cpu_sys:", StringComparison.Ordinal) || line.StartsWith("used_cpu_user:", StringComparison.Ordinal))
        {
            seconds += double.Parse(line.AsSpan(line.IndexOf(':') + 1), NumberStyles.Float, CultureInfo.InvariantCulture);
        }
    }
    return TimeSpan.FromSeconds(seconds);
}

static string LoadAverage() =>
    File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown";

static string FileSystemOf(string path)
{
    var full = Path.GetFullPath(path);
    var best = DriveInfo.GetDrives().Where(d => full.StartsWith(d.RootDirectory.FullName, StringComparison.Ordinal))
        .OrderByDescending(d => d.RootDirectory.FullName.Length).FirstOrDefault();
    return best is null ? "unknown fs" : $"{best.DriveFormat} at {best.RootDirectory.FullName}";
}

static string[] Row(string what, double value, string unit, string how, string ratio) =>
    [what, value.ToString(value >= 100 ? "N0" : "0.000", CultureInfo.InvariantCulture), unit, how, ratio];

static string[] RowUs(string what, double us, string how, string ratio) =>
    [what, us.ToString("0.0", CultureInfo.InvariantCulture), "us", how, ratio];

static string Ratio(double r) => r.ToString("0.00", CultureInfo.InvariantCulture);

static void PrintTable(List<string[]> rows)
{
    string[] header = ["measure", "value", "unit", "how", "ratio"];
    var widths = header.Select((h, i) => Math.Max(h.Length, rows.Max(r => r[i].Length))).ToArray();
    Console.WriteLine();
    Console.WriteLine(string.Join(" | ", header.Select((h, i) => h.PadRight(widths[i]))));
    Console.WriteLine(string.Join("-|-", widths.Select(w => new string('-', w))));
    foreach (var r in rows)
    {
        Console.WriteLine(string.Join(" | ", r.Select((c, i) => i == 1 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]))));
    }
}

/// <summary>Command line of the bench.</summary>
internal sealed record BenchOptions(bool Quick, int Items, int Variants, int Selection, string? Store)
{
    public static BenchOptions Parse(string[] args)
    {
        var quick = false;
        int? items = null;
        var variants = 2;
        var selection = 0;
        string? store = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--quick":
                    quick = true;
                    break;
                case "--items":
                    items = Positive(args, ref i);
                    break;
                case "--variants":
                    variants = Positive(args, ref i);
                    break;
                case "--selection":
                    selection = Positive(args, ref i);
                    break;
                case "--store":
                    store = ++i < args.Length ? args[i] : throw new ArgumentException("--store needs a folder.", nameof(args));
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}'; expected --quick, --items N, --variants V, --selection N, --store DIR.", nameof(args));
            }
        }
        var n = items ?? (quick ? 2_000 : 20_000);
        if (variants > 64 || n % variants != 0)
        {
            throw new ArgumentException($"--items {n} must be a multiple of --variants {variants} (at most 64).", nameof(args));
        }
        if (selection is > 0 and < 20)
        {
            throw new ArgumentException($"--selection {selection} must be at least 20 (2 variants, K = N/10).", nameof(args));
        }
        return new BenchOptions(quick, n, variants, selection, store);
    }

    private static int Positive(string[] args, ref int i)
    {
        var name = args[i];
        return ++i < args.Length && int.TryParse(args[i], NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n > 0
            ? n
            : throw new ArgumentException($"{name} needs a positive whole number; got '{(i < args.Length ? args[i] : "nothing")}'.", nameof(args));
    }
}

/// <summary>What one pipeline pass measured.</summary>
internal sealed record PassResult(RunConfig Config, FileBlobStore Blobs, TimeSpan Wall, TimeSpan Cpu, TimeSpan RedisCpu);
