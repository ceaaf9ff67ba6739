using System.Globalization;
using System.Text;
using System.Text.Json;
using SynthVlm.Protos.V1;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// A whole SynthVlm pipeline as real processes on free loopback ports: redis-server with AOF
/// (everysec) and curation, diffusion ×2, scoring ×2 and selection ×2 sharing one data folder, on
/// the tiny models at a small image size. Replicas can be killed (SIGKILL) and started again, and
/// Redis killed and restarted from its AOF, as the fault-injection tests need.
/// </summary>
internal sealed class PipelineCluster : IAsyncDisposable
{
    private readonly Dictionary<string, (ServiceInfo Service, Dictionary<string, string?> Environment)> _specs = [];
    private readonly Dictionary<string, ServiceProcess> _replicas = [];

    private PipelineCluster(RedisServer redis, DirectoryInfo data)
    {
        Redis = redis;
        Data = data;
    }

    public RedisServer Redis { get; }

    public DirectoryInfo Data { get; }

    /// <summary>The committed tiny BLIP ITM model folder (tests/SynthVlm.Blip.Tests/Fixtures/tiny-blip).</summary>
    public static string TinyBlipFolder { get; } = Path.Combine(RepoPaths.Root, "tests", "SynthVlm.Blip.Tests", "Fixtures", "tiny-blip");

    public IReadOnlyDictionary<string, ServiceProcess> Replicas => _replicas;

    public Uri CurationAddress => _replicas["curation-0"].GrpcAddress;

    public static async Task<PipelineCluster> StartAsync(int diffusion = 2, int scoring = 2, int selection = 2, int recaption = 0)
    {
        var data = Directory.CreateTempSubdirectory("synthvlm-pipeline-");
        var redis = await RedisServer.StartAsync(new RedisServerOptions { AppendOnly = true, AppendFsync = "everysec", Password = "pw-pipeline", DataDirectory = Path.Combine(data.FullName, "redis") });
        var cluster = new PipelineCluster(redis, data);
        try
        {
            var starts = new List<Task>();
            starts.Add(cluster.AddAsync(KnownServices.Curation, 0));
            for (var i = 0; i < diffusion; i++)
            {
                starts.Add(cluster.AddAsync(KnownServices.Diffusion, i));
            }
            for (var i = 0; i < scoring; i++)
            {
                starts.Add(cluster.AddAsync(KnownServices.Scoring, i));
            }
            for (var i = 0; i < selection; i++)
            {
                starts.Add(cluster.AddAsync(KnownServices.Selection, i));
            }
            for (var i = 0; i < recaption; i++)
            {
                starts.Add(cluster.AddAsync(KnownServices.Recaption, i));
            }
            await Task.WhenAll(starts);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private Task AddAsync(ServiceInfo service, int index)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"{service.Name}-{index}");
        var environment = new Dictionary<string, string?>
        {
            [KnownEnvironment.RedisConnectionStringEnv] = Redis.ConnectionString,
            [KnownEnvironment.DataDirectory] = Data.FullName,
            [KnownEnvironment.InstanceName] = name,
            // A killed replica's pending entries are taken over after 3 s instead of a minute.
            ["SynthVlm__Streams__Consumer__ClaimIdleTimeout"] = "00:00:03",
            ["SynthVlm__Streams__Consumer__ClaimInterval"] = "00:00:01",
            ["SynthVlm__Streams__Consumer__BlockTimeout"] = "00:00:00.500",
            ["SynthVlm__Diffusion__Width"] = "32",
            ["SynthVlm__Diffusion__Height"] = "32",
            ["SynthVlm__Diffusion__Steps"] = "2",
            ["SynthVlm__Diffusion__RefinerModel"] = "none",
            ["SynthVlm__Curation__ReconcileInterval"] = "00:00:02",
            ["SynthVlm__Curation__LeaseTimeout"] = "00:00:03",
            // The tiny BLIP of the Blip tests (its parity with a PyTorch BLIP is tested there); loaded only by runs that ask for matching.
            ["SynthVlm__Curation__BlipModel"] = TinyBlipFolder,
            ["SynthVlm__Selection__LeaseTimeout"] = "00:00:03",
        };
        _specs[name] = (service, environment);
        return StartReplicaAsync(name);
    }

    public async Task StartReplicaAsync(string name)
    {
        var (service, environment) = _specs[name];
        var process = await ServiceProcess.StartAsync(service, environment);
        lock (_replicas)
        {
            _replicas[name] = process;
        }
    }

    /// <summary>SIGKILL, as a crash or an OOM kill would.</summary>
    public async Task KillAsync(string name)
    {
        var process = _replicas[name];
        await process.DisposeAsync();
    }

    public async Task<Run> SubmitAsync(RunConfig config)
    {
        using var channel = GrpcChannel.ForAddress(CurationAddress);
        return await new Protos.V1.Runs.RunsClient(channel).SubmitAsync(new SubmitRunRequest { Config = config }).ResponseAsync.WithTimeout();
    }

    public async Task<Run> GetAsync(string id)
    {
        using var channel = GrpcChannel.ForAddress(CurationAddress);
        return await new Protos.V1.Runs.RunsClient(channel).GetAsync(new GetRunRequest { Id = id }).ResponseAsync.WithTimeout();
    }

    /// <summary>Polls the run until it has finished (any replica answers; Redis may be restarting meanwhile).</summary>
    public async Task<Run> WaitFinishedAsync(string id, TimeSpan timeout)
    {
        Run? last = null;
        await TestTimeout.Until(async () =>
        {
            try
            {
                last = await GetAsync(id);
            }
            catch (Exception e) when (e is RpcException or HttpRequestException or TimeoutException)
            {
                return false;
            }
            return last.State is RunState.Completed or RunState.Failed or RunState.Cancelled;
        }, timeout, $"run {id} to finish (last: {last})\n{Logs()}");
        return last!;
    }

    public string Logs()
    {
        var text = new StringBuilder();
        foreach (var (name, process) in _replicas)
        {
            var output = process.Output;
            text.AppendLine(CultureInfo.InvariantCulture, $"--- {name} ---");
            text.AppendLine(output.Length > 3000 ? output[^3000..] : output);
        }
        return text.ToString();
    }

    /// <summary>A caption pool in SynthVLM's JSON format: <paramref name="count"/> distinct captions plus junk that must be dropped.</summary>
    public static string WritePool(string folder, int count)
    {
        string[] subjects = ["a red bus", "two cats", "an old man", "a bowl of ramen", "a lighthouse", "a wooden boat", "a child with a kite", "three horses", "a city street", "a snowy mountain", "a bicycle", "a market stall", "a yellow taxi", "a cup of coffee", "a sleeping dog"];
        string[] places = ["on a sunny beach", "in a busy market", "under a grey sky", "beside a river", "at night in the rain", "in a quiet park", "on a kitchen table", "near an old bridge", "in a field of flowers", "at the train station"];
        string[] details = ["with soft morning light", "seen from above", "in warm colours", "with people walking past", "and a blue door behind it", "with trees in the background"];
        var items = new List<object>();
        for (var i = 0; i < count; i++)
        {
            var caption = $"{subjects[i % subjects.Length]} {places[i / subjects.Length % places.Length]} {details[i / (subjects.Length * places.Length) % details.Length]}";
            items.Add(new { id = string.Create(CultureInfo.InvariantCulture, $"cap-{i:D4}"), caption });
        }
        // Junk: a duplicate id, a duplicate caption (different case and spaces), an id that would
        // escape the output folder, an id with a control character, an empty caption.
        items.Add(new { id = "cap-0003", caption = "a different caption under a taken id" });
        items.Add(new { id = "dup-caption", caption = "  A RED BUS on a sunny beach   with soft morning light " });
        items.Add(new { id = "../../escape", caption = "a small green frog sitting on a lily pad in a pond" });
        items.Add(new { id = "ctl\u0001id", caption = "a tall glass of orange juice on a white table" });
        items.Add(new { id = "empty", caption = "   " });
        var path = Path.Combine(folder, "pool.json");
        File.WriteAllText(path, JsonSerializer.Serialize(items));
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var process in _replicas.Values)
        {
            await process.DisposeAsync();
        }
        await Redis.DisposeAsync();
        try
        {
            Data.Delete(recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process; the OS temp cleaner gets it.
        }
    }
}
