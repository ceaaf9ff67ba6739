using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using SynthVlm.Blobs;
using SynthVlm.Dashboard.Telemetry;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.Tests;

/// <summary>The dashboard on real loopback listeners: login, the two ports kept apart, and every page's API.</summary>
public sealed class DashboardServerTests : IAsyncLifetime
{
    private readonly string _data = Directory.CreateTempSubdirectory("synthvlm-dashboard-").FullName;
    private readonly Replicas _replicas = new();
    private readonly ConsoleLogStore _console = new(linesPerResource: 3);
    private DashboardServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await DashboardServer.StartAsync(new DashboardOptions
        {
            Token = "secret-token",
            DataDirectory = _data,
            // Nothing listens there: the runs page must say so within its time box.
            RunsEndpoint = new Uri($"http://127.0.0.1:{FreePort.Next()}"),
            SourceTimeout = TimeSpan.FromSeconds(1),
        }, _replicas, _console).WithTimeout();

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(_data, recursive: true);
    }

    private static HttpClient Client(bool cookies = true) =>
        new(new HttpClientHandler { UseProxy = false, AllowAutoRedirect = false, UseCookies = cookies, CookieContainer = new CookieContainer() });

    private async Task<HttpClient> LoggedInAsync()
    {
        var http = Client();
        var response = await http.GetAsync(_server.LoginUrl);
        response.StatusCode.Should().Be(HttpStatusCode.Redirect);
        return http;
    }

    [Fact]
    public async Task Without_the_token_pages_redirect_to_login_and_the_api_answers_401()
    {
        using var http = Client();
        var page = await http.GetAsync(_server.Url);
        page.StatusCode.Should().Be(HttpStatusCode.Redirect);
        page.Headers.Location!.ToString().Should().Be("/login");
        (await http.GetAsync(new Uri(_server.Url, "/api/resources"))).StatusCode.Should().Be(HttpStatusCode.Unauthorized);

        var wrong = await http.GetAsync(new Uri(_server.Url, "/login?t=guess"));
        wrong.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await wrong.Content.ReadAsStringAsync()).Should().Contain("data-testid=\"login-error\"");
        var form = await http.PostAsync(new Uri(_server.Url, "/login"), new FormUrlEncodedContent([new("token", "secret-token")]));
        form.StatusCode.Should().Be(HttpStatusCode.Redirect);
        var cookie = form.Headers.GetValues("Set-Cookie").Single();
        cookie.Should().Contain("httponly").And.Contain("samesite=strict");
        cookie.Should().NotContain("secret-token", "the cookie is derived from the token, not the token");
        (await http.GetAsync(new Uri(_server.Url, "/api/resources"))).StatusCode.Should().Be(HttpStatusCode.OK);
        var index = await http.GetAsync(_server.Url);
        index.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("script-src 'self'");
    }

    [Fact]
    public async Task The_otlp_port_serves_only_otlp_and_the_ui_port_never_does()
    {
        using var http = await LoggedInAsync();
        (await http.GetAsync(new Uri(_server.OtlpEndpoint, "/api/resources"))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.GetAsync(new Uri(_server.OtlpEndpoint, "/login?t=secret-token"))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.PostAsync(new Uri(_server.Url, "/v1/traces"), Protobuf([]))).StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await http.PostAsync(new Uri(_server.OtlpEndpoint, "/v1/traces"), Protobuf([]))).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "the OTLP key is required");
    }

    [Fact]
    public async Task Spans_posted_to_the_otlp_port_with_the_key_show_up_as_a_trace()
    {
        var request = new Telemetry.Otlp.ExportTraceServiceRequest();
        var resource = new Telemetry.Otlp.Resource();
        resource.Attributes.Add(new Telemetry.Otlp.KeyValue { Key = "service.name", Value = new Telemetry.Otlp.AnyValue { StringValue = "diffusion" } });
        var scope = new Telemetry.Otlp.ScopeSpans();
        scope.Spans.Add(new Telemetry.Otlp.Span
        {
            TraceId = ByteString.CopyFrom(Convert.FromHexString("4bf92f3577b34da6a3ce929d0e0e4736")),
            SpanId = ByteString.CopyFrom(Convert.FromHexString("00f067aa0ba902b7")),
            Name = "generate batch",
            StartTimeUnixNano = 1_700_000_000_000_000_000,
            EndTimeUnixNano = 1_700_000_000_500_000_000,
            Attributes = { new Telemetry.Otlp.KeyValue { Key = "synthvlm.run", Value = new Telemetry.Otlp.AnyValue { StringValue = "r7" } } },
        });
        request.ResourceSpans.Add(new Telemetry.Otlp.ResourceSpans { Resource = resource, ScopeSpans = { scope } });
        using var sender = Client(cookies: false);
        var content = Protobuf(request.ToByteArray());
        content.Headers.Add(OtlpHttpEndpoints.ApiKeyHeader, _server.OtlpApiKey);
        (await sender.PostAsync(new Uri(_server.OtlpEndpoint, "/v1/traces"), content)).StatusCode.Should().Be(HttpStatusCode.OK);

        using var http = await LoggedInAsync();
        var traces = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/traces?run=r7"))).RootElement.GetProperty("traces");
        traces.GetArrayLength().Should().Be(1);
        traces[0].GetProperty("rootService").GetString().Should().Be("diffusion");
        var detail = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/traces/4bf92f3577b34da6a3ce929d0e0e4736"))).RootElement;
        detail.GetProperty("spans")[0].GetProperty("span").GetProperty("name").GetString().Should().Be("generate batch");
        (await http.GetAsync(new Uri(_server.Url, "/api/traces/ffffffffffffffffffffffffffffffff"))).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Resources_and_console_lines_come_from_the_cluster_and_bad_parameters_are_named()
    {
        _replicas.Views = [new ResourceView("scoring-1", "scoring", "service", 1, "Restarting", null, 2, 1, new Dictionary<string, Uri> { ["grpc"] = new("http://127.0.0.1:5001") }, ["model file missing: /m/clip.onnx"])];
        for (var i = 0; i < 5; i++)
        {
            _console.Append("scoring-1", $"line {i}", isError: i == 4);
        }
        using var http = await LoggedInAsync();

        var resources = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/resources"))).RootElement;
        resources[0].GetProperty("state").GetString().Should().Be("Restarting");
        resources[0].GetProperty("lastLines")[0].GetString().Should().Contain("clip.onnx");

        var console = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/console?resource=scoring-1"))).RootElement.GetProperty("lines");
        console.EnumerateArray().Select(l => l.GetProperty("text").GetString()).Should().Equal("line 2", "line 3", "line 4");
        console[2].GetProperty("isError").GetBoolean().Should().BeTrue();

        var bad = await http.GetAsync(new Uri(_server.Url, "/api/console?limit=0"));
        bad.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await bad.Content.ReadAsStringAsync()).Should().Contain("limit");
        (await http.GetAsync(new Uri(_server.Url, "/api/logs?minSeverity=99"))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_console_stream_delivers_a_line_appended_after_it_opened()
    {
        using var http = await LoggedInAsync();
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        using var response = await http.GetAsync(new Uri(_server.Url, "/api/console/stream?resource=curation-0"), HttpCompletionOption.ResponseHeadersRead, cancel.Token);
        response.Content.Headers.ContentType!.MediaType.Should().Be("text/event-stream");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel.Token));

        _console.Append("curation-0", "serving gRPC", isError: false);

        var line = await reader.ReadLineAsync(cancel.Token);
        line.Should().StartWith("data: ");
        JsonDocument.Parse(line!["data: ".Length..]).RootElement.GetProperty("text").GetString().Should().Be("serving gRPC");
    }

    [Fact]
    public async Task The_runs_page_says_the_runs_api_is_unavailable_instead_of_hanging()
    {
        using var http = await LoggedInAsync();
        var runs = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/runs")).WithTimeout(TimeSpan.FromSeconds(10))).RootElement;
        runs.GetProperty("unavailable").GetString().Should().Contain("Runs API");
        runs.GetProperty("runs").GetArrayLength().Should().Be(0);
    }

    [Fact]
    public async Task The_gallery_pages_a_runs_images_marks_the_selected_ones_and_serves_only_images_by_blob_key()
    {
        var blobs = new FileBlobStore(Path.Combine(_data, "blobs"));
        var dataset = Path.Combine(_data, "dataset");
        await blobs.WriteAsync(RunRecords.Config("g1"), new RunConfig { Id = "g1", Output = dataset }.ToByteArray());
        // The endpoint checks the signature, not the pixels.
        byte[] png = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52];
        for (var i = 0; i < 5; i++)
        {
            var key = $"runs/g1/images/c{i}/0.png";
            await blobs.WriteAsync(key, png);
            var scored = new ScoredImage
            {
                Image = new GeneratedImage { Run = "g1", CaptionId = $"c{i}", Caption = $"caption {i}", Variant = 0, ImageKey = key, CaptionIndex = i },
                Score = new ScoreResult { Clip = 0.1 * i, Ssim = 0.5, Weighted = 0.1 * i + 0.25 },
            };
            await blobs.WriteAsync(RunRecords.Score("g1", i, 0), scored.ToByteArray());
        }
        using var http = await LoggedInAsync();

        var pending = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/gallery/g1?size=2"))).RootElement;
        pending.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("selected").GetString()).Should().Equal("pending", "pending");
        pending.GetProperty("more").GetBoolean().Should().BeTrue();

        Directory.CreateDirectory(dataset);
        await File.WriteAllLinesAsync(Path.Combine(dataset, "manifest.jsonl"), ["{\"id\":\"c4\",\"variant\":0}", "{\"id\":\"c3\",\"variant\":0}"]);
        await File.WriteAllTextAsync(Path.Combine(dataset, "dataset.json"), "{}");
        var selected = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/gallery/g1?filter=selected"))).RootElement.GetProperty("items");
        selected.EnumerateArray().Select(i => i.GetProperty("captionId").GetString()).Should().Equal("c3", "c4");
        var page2 = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/gallery/g1?size=2&page=2"))).RootElement;
        page2.GetProperty("items").EnumerateArray().Select(i => (i.GetProperty("captionId").GetString(), i.GetProperty("selected").GetString())).Should().Equal(("c4", "true"));
        page2.GetProperty("more").GetBoolean().Should().BeFalse();
        var rejected = JsonDocument.Parse(await http.GetStringAsync(new Uri(_server.Url, "/api/gallery/g1?filter=rejected"))).RootElement.GetProperty("items");
        rejected.GetArrayLength().Should().Be(3);

        var image = await http.GetAsync(new Uri(_server.Url, "/api/images?key=" + Uri.EscapeDataString("runs/g1/images/c0/0.png")));
        image.Content.Headers.ContentType!.MediaType.Should().Be("image/png");
        (await image.Content.ReadAsByteArrayAsync()).Should().Equal(png);
        var traversal = await http.GetAsync(new Uri(_server.Url, "/api/images?key=" + Uri.EscapeDataString("../../etc/passwd")));
        traversal.StatusCode.Should().Be(HttpStatusCode.BadRequest);
        await blobs.WriteAsync("runs/g1/notes.txt", "not an image"u8.ToArray());
        (await http.GetAsync(new Uri(_server.Url, "/api/images?key=runs/g1/notes.txt"))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await http.GetAsync(new Uri(_server.Url, "/api/gallery/g1?filter=best"))).StatusCode.Should().Be(HttpStatusCode.BadRequest);
        (await http.GetAsync(new Uri(_server.Url, "/api/gallery/..%2Fx"))).StatusCode.Should().BeOneOf(HttpStatusCode.BadRequest, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Kestrel_settings_meant_for_a_service_do_not_open_listeners_on_the_dashboard()
    {
        // The AppHost's environment may carry a service's settings; only DashboardOptions count.
        var stray = FreePort.Next();
        Environment.SetEnvironmentVariable("Kestrel__Endpoints__Stray__Url", $"http://127.0.0.1:{stray}");
        try
        {
            await using var server = await DashboardServer.StartAsync(new DashboardOptions(), _replicas, _console).WithTimeout();
            using var http = Client();
            (await http.GetAsync(server.Url)).StatusCode.Should().Be(HttpStatusCode.Redirect);
            using var probe = new TcpClient();
            await FluentActions.Awaiting(() => probe.ConnectAsync(IPAddress.Loopback, stray)).Should().ThrowAsync<SocketException>();
        }
        finally
        {
            Environment.SetEnvironmentVariable("Kestrel__Endpoints__Stray__Url", null);
        }
    }

    [Fact]
    public async Task A_taken_port_is_refused_with_the_port_named()
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        var start = () => DashboardServer.StartAsync(new DashboardOptions { Port = port }, _replicas, _console);

        (await start.Should().ThrowAsync<DashboardStartException>()).Which.Message.Should().Contain($"dashboard port {port} on 127.0.0.1 is already in use").And.Contain("--dashboard-port");
        var otlp = () => DashboardServer.StartAsync(new DashboardOptions { OtlpPort = port }, _replicas, _console);
        (await otlp.Should().ThrowAsync<DashboardStartException>()).Which.Message.Should().Contain($"OTLP port {port}").And.Contain("--otlp-port");
    }

    private static ByteArrayContent Protobuf(byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/x-protobuf");
        return content;
    }

    private sealed class Replicas : IResourceSource
    {
        public IReadOnlyList<ResourceView> Views { get; set; } = [];

        public IReadOnlyList<ResourceView> Snapshot() => Views;
    }
}
