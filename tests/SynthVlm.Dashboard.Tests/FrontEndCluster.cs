using System.Net;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.Tests;

/// <summary>
/// A real redis-server, a real CurationService (the Runs API) and the real WebFrontend process,
/// each on free loopback ports, with one small run submitted and curated. Everything is killed
/// and the data folder deleted on dispose.
/// </summary>
public sealed class FrontEndCluster : IAsyncLifetime
{
    public const string Token = "front-end-test-token";
    public const string RunId = "small-run";
    public static readonly Uri AspireDashboard = new("http://127.0.0.1:18888/");

    /// <summary>The pool: four captions the rule filters keep, an id used twice and an empty caption (both dropped at ingest).</summary>
    public static readonly (string Id, string Caption)[] Pool =
    [
        ("c0", "A red bicycle leaning against a blue door in the morning sun."),
        ("c1", "Two ducks swimming on a quiet pond at sunrise near tall reeds."),
        ("c2", "A bowl of ripe oranges on a wooden kitchen table by the window."),
        ("c3", "A lighthouse on a rocky cliff under a stormy grey sky at dusk."),
        ("c1", "A different caption under an id that is already taken."),
        ("empty", "   "),
    ];

    private readonly List<ProjectProcess> _webs = [];

    public string Data { get; } = Directory.CreateTempSubdirectory("synthvlm-web-").FullName;

    public string BlobRoot => Path.Combine(Data, "blobs");

    public RedisServer Redis { get; private set; } = null!;

    public ProjectProcess Curation { get; private set; } = null!;

    public Uri CurationGrpc { get; private set; } = null!;

    /// <summary>The front end every test shares (token <see cref="Token"/>, the cluster's Redis and Runs API).</summary>
    public WebProcess Web { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync();
        await StartCurationAsync();
        Web = await StartWebAsync(new Dictionary<string, string?>
        {
            ["SynthVlm__Web__Token"] = Token,
            ["SynthVlm__Web__AspireDashboardUrl"] = AspireDashboard.ToString(),
        });

        var pool = Path.Combine(Data, "pool.json");
        await File.WriteAllTextAsync(pool, JsonSerializer.Serialize(Pool.Select(p => new { id = p.Id, caption = p.Caption })));
        using var channel = GrpcChannel.ForAddress(CurationGrpc);
        var runs = new Protos.V1.Runs.RunsClient(channel);
        await runs.SubmitAsync(new SubmitRunRequest { Config = new RunConfig { Id = RunId, Captions = pool, Variants = 2, Output = Path.Combine(Data, "out", RunId) } }).ResponseAsync.WithTimeout();
        // Only curation runs here: the run is as far as it gets once curation has handled every caption ingest emitted.
        Run? last = null;
        await TestTimeout.Until(async () =>
        {
            try
            {
                last = await runs.GetAsync(new GetRunRequest { Id = RunId }).ResponseAsync.WithTimeout();
            }
            catch (RpcException)
            {
                return false;
            }
            var ingest = last.Stages.Single(s => s.Stage == RunStages.Ingest);
            var curation = last.Stages.Single(s => s.Stage == RunStages.Curation);
            return ingest.Done && curation.Emitted > 0 && curation.Processed + curation.Dropped + curation.DeadLettered >= curation.Emitted;
        }, TimeSpan.FromSeconds(120), $"run {RunId} to be curated (last: {last})\n{Curation.Output}");
    }

    private async Task StartCurationAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var grpc = FreePort.Next();
            var http = FreePort.Next();
            var process = ProjectProcess.Start("CurationService", new Dictionary<string, string?>
            {
                [KnownEnvironment.GrpcEndpointUrlEnv] = $"http://127.0.0.1:{grpc}",
                [KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{http}",
                [KnownEnvironment.RedisConnectionStringEnv] = Redis.ConnectionString,
                [KnownEnvironment.DataDirectory] = Data,
                [KnownEnvironment.InstanceName] = "curation-0",
                ["SynthVlm__Streams__Consumer__BlockTimeout"] = "00:00:00.500",
            });
            try
            {
                await process.WaitReadyAsync($"serving gRPC on http://127.0.0.1:{grpc}/", new Uri($"http://127.0.0.1:{http}/alive"), TimeSpan.FromSeconds(120));
                Curation = process;
                CurationGrpc = new Uri($"http://127.0.0.1:{grpc}");
                return;
            }
            catch (InvalidOperationException) when (attempt < 3 && process.Output.Contains("cannot listen", StringComparison.Ordinal))
            {
                // Another process took the port between the probe and the bind.
                await process.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Starts a WebFrontend process on a free port. By default it gets the cluster's Redis, the
    /// Runs API through <c>services__curation__grpc__0</c> and the data folder; a null value in
    /// <paramref name="environment"/> removes a setting.
    /// </summary>
    public async Task<WebProcess> StartWebAsync(IReadOnlyDictionary<string, string?> environment)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = FreePort.Next();
            var settings = new Dictionary<string, string?>
            {
                [KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{port}",
                [KnownEnvironment.RedisConnectionStringEnv] = Redis.ConnectionString,
                [KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)] = CurationGrpc.ToString(),
                [KnownEnvironment.DataDirectory] = Data,
            };
            foreach (var (key, value) in environment)
            {
                settings[key] = value;
            }
            var process = ProjectProcess.Start("WebFrontend", settings);
            var url = new Uri($"http://127.0.0.1:{port}/");
            try
            {
                await process.WaitReadyAsync($"serving on http://127.0.0.1:{port}", new Uri(url, "/alive"), TimeSpan.FromSeconds(90));
                lock (_webs)
                {
                    _webs.Add(process);
                }
                return new WebProcess(process, url);
            }
            catch (InvalidOperationException) when (attempt < 3 && process.Output.Contains("cannot listen", StringComparison.Ordinal))
            {
                await process.DisposeAsync();
            }
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var web in _webs)
        {
            await web.DisposeAsync();
        }
        if (Curation is not null)
        {
            await Curation.DisposeAsync();
        }
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
        try
        {
            Directory.Delete(Data, recursive: true);
        }
        catch (IOException)
        {
            // A file still held by a dying process; the OS temp cleaner gets it.
        }
    }
}

/// <summary>A running front end and its address.</summary>
public sealed record WebProcess(ProjectProcess Process, Uri Url)
{
    /// <summary>A client that keeps cookies and does not follow redirects (so a test sees them).</summary>
    public static HttpClient Client() =>
        new(new HttpClientHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = true, CookieContainer = new CookieContainer() }) { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>A client logged in with <paramref name="token"/>.</summary>
    public async Task<HttpClient> LoggedInAsync(string token)
    {
        var http = Client();
        var response = await http.GetAsync(new Uri(Url, "/login?t=" + Uri.EscapeDataString(token))).WithTimeout();
        response.StatusCode.Should().Be(HttpStatusCode.Redirect, Process.Output);
        return http;
    }

    public async Task<JsonElement> JsonAsync(HttpClient http, string path)
    {
        var response = await http.GetAsync(new Uri(Url, path)).WithTimeout();
        var body = await response.Content.ReadAsStringAsync().WithTimeout();
        response.StatusCode.Should().Be(HttpStatusCode.OK, $"GET {path} answered {body}");
        return JsonDocument.Parse(body).RootElement;
    }
}
