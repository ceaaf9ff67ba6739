using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Google.Protobuf;
using StackExchange.Redis;
using SynthVlm.Blobs;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Streams;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.Tests;

/// <summary>
/// The WebFrontend process over HTTP: the token login, the runs API after a real (curation-only)
/// run, dead letters from Redis, the gallery from the blob store, refusals of bad and hostile
/// inputs, and "unavailable" instead of failure when Redis or the Runs API is away.
/// </summary>
public sealed partial class WebFrontendTests(FrontEndCluster cluster) : IClassFixture<FrontEndCluster>
{
    private WebProcess Web => cluster.Web;

    [Fact]
    public async Task Without_the_token_pages_redirect_to_login_the_api_answers_401_and_health_stays_open()
    {
        using var http = WebProcess.Client();
        var page = await http.GetAsync(Web.Url).WithTimeout();
        page.StatusCode.Should().Be(HttpStatusCode.Redirect);
        page.Headers.Location!.ToString().Should().Be("/login");
        foreach (var api in new[] { "/api/runs", "/api/runs/" + FrontEndCluster.RunId, "/api/gallery/" + FrontEndCluster.RunId, "/api/images?key=runs/x/images/a/0.png", "/api/info" })
        {
            (await http.GetAsync(new Uri(Web.Url, api)).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.Unauthorized, api);
        }
        (await http.GetAsync(new Uri(Web.Url, "/health")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);
        (await http.GetAsync(new Uri(Web.Url, "/alive")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);

        var wrong = await http.GetAsync(new Uri(Web.Url, "/login?t=guess")).WithTimeout();
        wrong.StatusCode.Should().Be(HttpStatusCode.Unauthorized);
        (await wrong.Content.ReadAsStringAsync()).Should().Contain("data-testid=\"login-error\"");

        var login = await http.GetAsync(new Uri(Web.Url, "/login?t=" + FrontEndCluster.Token)).WithTimeout();
        login.StatusCode.Should().Be(HttpStatusCode.Redirect);
        login.Headers.Location!.ToString().Should().Be("/#/runs");
        var cookie = login.Headers.GetValues("Set-Cookie").Single();
        cookie.Should().Contain("httponly").And.Contain("samesite=strict");
        cookie.Should().NotContain(FrontEndCluster.Token, "the cookie is derived from the token, not the token");
        (await http.GetAsync(new Uri(Web.Url, "/api/runs")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);
        var index = await http.GetAsync(Web.Url).WithTimeout();
        index.StatusCode.Should().Be(HttpStatusCode.OK);
        index.Headers.GetValues("Content-Security-Policy").Single().Should().Contain("script-src 'self'");

        var form = WebProcess.Client();
        var posted = await form.PostAsync(new Uri(Web.Url, "/login"), new FormUrlEncodedContent([new("token", FrontEndCluster.Token)])).WithTimeout();
        posted.StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await form.GetAsync(new Uri(Web.Url, "/api/runs")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);
        form.Dispose();
    }

    [Fact]
    public async Task The_runs_list_and_a_runs_stages_show_the_small_run_with_rates_from_sampled_counts_and_drops_by_reason()
    {
        using var http = await Web.LoggedInAsync(FrontEndCluster.Token);

        var runs = await Web.JsonAsync(http, "/api/runs");
        runs.TryGetProperty("unavailable", out _).Should().BeFalse(runs.ToString());
        var listed = runs.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("id").GetString() == FrontEndCluster.RunId);
        listed.TryGetProperty("stages", out _).Should().BeFalse("the list carries no stages");
        listed.GetProperty("progress").GetDouble().Should().BeInRange(0, 1);

        var detail = await Web.JsonAsync(http, "/api/runs/" + FrontEndCluster.RunId);
        var run = detail.GetProperty("run");
        run.GetProperty("id").GetString().Should().Be(FrontEndCluster.RunId);
        var stages = run.GetProperty("stages").EnumerateArray().ToDictionary(s => s.GetProperty("stage").GetString()!);
        stages.Keys.Should().Equal(RunStages.All);
        stages[RunStages.Ingest].GetProperty("done").GetBoolean().Should().BeTrue();
        var curation = stages[RunStages.Curation];
        var emitted = curation.GetProperty("emitted").GetInt64();
        emitted.Should().Be(4, "four distinct, non-empty captions leave ingest");
        (curation.GetProperty("processed").GetInt64() + curation.GetProperty("dropped").GetInt64()).Should().Be(emitted);
        curation.GetProperty("fraction").GetDouble().Should().Be(1.0);
        stages[RunStages.Diffusion].GetProperty("done").GetBoolean().Should().BeFalse("no diffusion replica runs here");

        // Rate and ETA come from successive samples of these counts: a second sample of unchanged
        // counts is a rate of 0 and no ETA, never a value from some other source.
        var again = (await Web.JsonAsync(http, "/api/runs/" + FrontEndCluster.RunId)).GetProperty("run").GetProperty("stages").EnumerateArray()
            .Single(s => s.GetProperty("stage").GetString() == RunStages.Diffusion);
        again.GetProperty("rate").GetDouble().Should().Be(0);
        again.GetProperty("etaSeconds").GetDouble().Should().Be(-1);

        // The duplicate id and the empty caption were dropped at ingest, each with its reason.
        var reasons = detail.GetProperty("failures").GetProperty("reasons").EnumerateArray().ToList();
        reasons.Sum(r => r.GetProperty("count").GetInt64()).Should().BeGreaterThanOrEqualTo(2, detail.GetProperty("failures").ToString());
        reasons.SelectMany(r => r.GetProperty("examples").EnumerateArray()).Select(e => e.GetProperty("reason").GetString()).Should().OnlyContain(r => !string.IsNullOrEmpty(r));
        detail.GetProperty("deadLetters").GetProperty("entries").ValueKind.Should().Be(JsonValueKind.Array);
    }

    [Fact]
    public async Task Dead_letters_of_the_run_are_read_from_the_dead_letter_stream()
    {
        await using (var redis = await ConnectionMultiplexer.ConnectAsync(cluster.Redis.ConnectionString).WithTimeout())
        {
            var db = redis.GetDatabase();
            await db.StreamAddAsync(KnownStreams.Dead, [
                new(KnownStreamFields.Run, FrontEndCluster.RunId), new(KnownStreamFields.Kind, "generated"),
                new(StreamDeadLetterFields.SourceStream, KnownStreams.Generated), new(StreamDeadLetterFields.Group, KnownServices.Scoring.Name),
                new(StreamDeadLetterFields.Deliveries, "5"), new(StreamDeadLetterFields.Reason, "scoring model file missing: /m/clip.onnx")]).WithTimeout();
            await db.StreamAddAsync(KnownStreams.Dead, [new(KnownStreamFields.Run, "another-run"), new(StreamDeadLetterFields.Reason, "not this run's")]).WithTimeout();
        }
        using var http = await Web.LoggedInAsync(FrontEndCluster.Token);

        var entries = (await Web.JsonAsync(http, "/api/runs/" + FrontEndCluster.RunId)).GetProperty("deadLetters").GetProperty("entries").EnumerateArray().ToList();

        entries.Should().ContainSingle(e => e.GetProperty("reason").GetString() == "scoring model file missing: /m/clip.onnx");
        var entry = entries.Single(e => e.GetProperty("reason").GetString()!.Contains("clip.onnx", StringComparison.Ordinal));
        entry.GetProperty("stream").GetString().Should().Be(KnownStreams.Generated);
        entry.GetProperty("group").GetString().Should().Be(KnownServices.Scoring.Name);
        entry.GetProperty("deliveries").GetString().Should().Be("5");
        entries.Should().NotContain(e => e.GetProperty("reason").GetString() == "not this run's");
    }

    [Fact]
    public async Task An_unknown_run_is_404_naming_it_and_a_hostile_run_id_is_refused()
    {
        using var http = await Web.LoggedInAsync(FrontEndCluster.Token);

        var unknown = await http.GetAsync(new Uri(Web.Url, "/api/runs/no-such-run")).WithTimeout();
        unknown.StatusCode.Should().Be(HttpStatusCode.NotFound);
        (await unknown.Content.ReadAsStringAsync()).Should().Contain("no-such-run");

        // Reach the handler: refused naming the input.
        foreach (var hostile in new[] { "..%2F..%2Fetc", "a%20b", ".hidden", new string('a', 65) })
        {
            var response = await http.GetAsync(new Uri(Web.Url, "/api/runs/" + hostile)).WithTimeout();
            response.StatusCode.Should().Be(HttpStatusCode.BadRequest, hostile);
            (await response.Content.ReadAsStringAsync()).Should().Contain("is not a run id", hostile);
        }
        // Kestrel itself refuses a NUL in the path before any handler runs.
        (await http.GetAsync(new Uri(Web.Url, "/api/runs/x%00y")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task The_gallery_serves_scores_and_selection_as_json_and_images_only_by_a_run_image_key()
    {
        const string run = "gallery-run";
        var blobs = new FileBlobStore(cluster.BlobRoot);
        var dataset = Path.Combine(cluster.Data, "gallery-dataset");
        await blobs.WriteAsync(RunRecords.Config(run), new RunConfig { Id = run, Output = dataset }.ToByteArray()).WithTimeout();
        byte[] png = TinyPng.Make(8, 8);
        for (var i = 0; i < 5; i++)
        {
            var key = $"runs/{run}/images/c{i}/0.png";
            await blobs.WriteAsync(key, png).WithTimeout();
            var scored = new ScoredImage
            {
                Image = new GeneratedImage { Run = run, CaptionId = $"c{i}", Caption = $"caption {i}", Variant = 0, ImageKey = key, CaptionIndex = i },
                Score = new ScoreResult { Clip = 0.1 * i, Ssim = 0.5, Weighted = (0.1 * i) + 0.25 },
            };
            await blobs.WriteAsync(RunRecords.Score(run, i, 0), scored.ToByteArray()).WithTimeout();
        }
        using var http = await Web.LoggedInAsync(FrontEndCluster.Token);

        var pending = await Web.JsonAsync(http, $"/api/gallery/{run}?size=2");
        var first = pending.GetProperty("items").EnumerateArray().ToList();
        first.Select(i => i.GetProperty("selected").GetString()).Should().Equal("pending", "pending");
        first[1].GetProperty("clip").GetDouble().Should().BeApproximately(0.1, 1e-9);
        first[1].GetProperty("ssim").GetDouble().Should().Be(0.5);
        first[1].GetProperty("weighted").GetDouble().Should().BeApproximately(0.35, 1e-9);
        first[1].GetProperty("caption").GetString().Should().Be("caption 1");
        pending.GetProperty("more").GetBoolean().Should().BeTrue();

        Directory.CreateDirectory(dataset);
        await File.WriteAllLinesAsync(Path.Combine(dataset, "manifest.jsonl"), ["{\"id\":\"c4\",\"variant\":0}", "{\"id\":\"c3\",\"variant\":0}"]);
        await File.WriteAllTextAsync(Path.Combine(dataset, "dataset.json"), "{}");
        var selected = (await Web.JsonAsync(http, $"/api/gallery/{run}?filter=selected")).GetProperty("items");
        selected.EnumerateArray().Select(i => i.GetProperty("captionId").GetString()).Should().Equal("c3", "c4");
        (await Web.JsonAsync(http, $"/api/gallery/{run}?filter=rejected")).GetProperty("items").GetArrayLength().Should().Be(3);

        var image = await http.GetAsync(new Uri(Web.Url, "/api/images?key=" + Uri.EscapeDataString($"runs/{run}/images/c0/0.png"))).WithTimeout();
        image.StatusCode.Should().Be(HttpStatusCode.OK);
        image.Content.Headers.ContentType!.MediaType.Should().Be("image/png");
        (await image.Content.ReadAsByteArrayAsync()).Should().Equal(png);

        await blobs.WriteAsync($"runs/{run}/images/c9/notes.txt", "not an image"u8.ToArray()).WithTimeout();
        var secret = Path.Combine(cluster.Data, "secret.png");
        await File.WriteAllBytesAsync(secret, png);
        foreach (var key in new[]
        {
            "../../etc/passwd", "runs/../../etc/passwd", $"runs/{run}/images/../../../../etc/passwd", "/etc/passwd", secret,
            $"runs/{run}/images/..\\..\\run.pb", $"runs/{run}/run.pb", $"runs/{run}/images/c0/0.png\0.txt", "runs/%2e%2e/images/x.png",
            $"runs/{run}/images/c9/notes.txt",
        })
        {
            var response = await http.GetAsync(new Uri(Web.Url, "/api/images?key=" + Uri.EscapeDataString(key))).WithTimeout();
            response.StatusCode.Should().BeOneOf([HttpStatusCode.BadRequest, HttpStatusCode.NotFound], key);
            (await response.Content.ReadAsByteArrayAsync()).Should().NotEqual(png, key);
        }
        (await http.GetAsync(new Uri(Web.Url, "/api/images?key=" + Uri.EscapeDataString("../../etc/passwd"))).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.BadRequest);

        foreach (var path in new[] { "/api/gallery/..%2F..%2Fetc", "/api/gallery/%2e%2e", "/api/gallery/.hidden", $"/api/gallery/{run}?filter=best", $"/api/gallery/{run}?size=0", $"/api/gallery/{run}?page=-1" })
        {
            var response = await http.GetAsync(new Uri(Web.Url, path)).WithTimeout();
            response.StatusCode.Should().BeOneOf([HttpStatusCode.BadRequest, HttpStatusCode.NotFound], path);
        }
        var bad = await http.GetAsync(new Uri(Web.Url, $"/api/gallery/{run}?filter=best")).WithTimeout();
        (await bad.Content.ReadAsStringAsync()).Should().Contain("filter");
        (await http.GetAsync(new Uri(Web.Url, "/assets/..%2Fapp.js")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_page_links_to_the_aspire_dashboard_when_given_its_address()
    {
        using var http = await Web.LoggedInAsync(FrontEndCluster.Token);
        (await Web.JsonAsync(http, "/api/info")).GetProperty("aspireDashboard").GetString().Should().Be(FrontEndCluster.AspireDashboard.ToString());
        (await http.GetStringAsync(Web.Url).WithTimeout()).Should().Contain("data-testid=\"aspire-dashboard-link\"");
    }

    [Fact]
    public async Task Without_redis_or_the_runs_api_the_pages_say_unavailable_and_the_front_end_stays_healthy()
    {
        // Nothing listens on these ports.
        var deadRedis = $"127.0.0.1:{FreePort.Next()}";
        var noRedis = await cluster.StartWebAsync(new Dictionary<string, string?>
        {
            ["SynthVlm__Web__Token"] = FrontEndCluster.Token,
            [KnownEnvironment.RedisConnectionStringEnv] = deadRedis,
        });
        using (var http = await noRedis.LoggedInAsync(FrontEndCluster.Token))
        {
            var detail = await noRedis.JsonAsync(http, "/api/runs/" + FrontEndCluster.RunId);
            detail.GetProperty("run").GetProperty("id").GetString().Should().Be(FrontEndCluster.RunId, "the Runs API still answers");
            detail.GetProperty("deadLetters").GetProperty("unavailable").GetString().Should().Contain("Redis");
            (await http.GetAsync(new Uri(noRedis.Url, "/health")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);
        }

        var noRuns = await cluster.StartWebAsync(new Dictionary<string, string?>
        {
            ["SynthVlm__Web__Token"] = FrontEndCluster.Token,
            [KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)] = null,
        });
        using (var http = await noRuns.LoggedInAsync(FrontEndCluster.Token))
        {
            var runs = await noRuns.JsonAsync(http, "/api/runs");
            runs.GetProperty("unavailable").GetString().Should().Contain("services__curation__grpc__0");
            runs.GetProperty("runs").GetArrayLength().Should().Be(0);
            (await noRuns.JsonAsync(http, "/api/runs/" + FrontEndCluster.RunId)).GetProperty("unavailable").GetString().Should().Contain("Runs API");
        }

        // A Runs API address where nothing listens: the page says so within its time box.
        var deadRuns = await cluster.StartWebAsync(new Dictionary<string, string?>
        {
            ["SynthVlm__Web__Token"] = FrontEndCluster.Token,
            [KnownEnvironment.ServiceGrpcEndpointEnv(KnownServices.Curation.Name)] = $"http://127.0.0.1:{FreePort.Next()}",
        });
        using (var http = await deadRuns.LoggedInAsync(FrontEndCluster.Token))
        {
            (await deadRuns.JsonAsync(http, "/api/runs")).GetProperty("unavailable").GetString().Should().Contain("Runs API");
        }
    }

    [Fact]
    public async Task Without_a_configured_token_it_makes_one_and_logs_the_login_url_once()
    {
        var web = await cluster.StartWebAsync(new Dictionary<string, string?> { ["SynthVlm__Web__Token"] = null });
        string? output = null;
        await TestTimeout.Until(() => (output = web.Process.Output).Contains("/login?t=", StringComparison.Ordinal), TimeSpan.FromSeconds(20), "the login URL line");
        var urls = LoginUrl().Matches(output!).Select(m => m.Value).ToList();
        urls.Should().ContainSingle();
        urls[0].Should().StartWith(web.Url.ToString().TrimEnd('/'));

        using var http = WebProcess.Client();
        (await http.GetAsync(new Uri(urls[0])).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.Redirect);
        (await http.GetAsync(new Uri(web.Url, "/api/runs")).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.OK);
        (await http.GetAsync(new Uri(web.Url, "/login?t=" + FrontEndCluster.Token)).WithTimeout()).StatusCode.Should().Be(HttpStatusCode.Unauthorized, "another front end's token does not open this one");
    }

    [Fact]
    public async Task A_malformed_setting_stops_it_with_exit_code_2_naming_the_key()
    {
        await using var web = ProjectProcess.Start("WebFrontend", new Dictionary<string, string?>
        {
            [KnownEnvironment.HttpEndpointUrlEnv] = $"http://127.0.0.1:{FreePort.Next()}",
            ["SynthVlm__Web__AspireDashboardUrl"] = "ftp://example/",
        });
        (await web.WaitForExitAsync(TimeSpan.FromSeconds(60))).Should().Be(2, web.Output);
        web.Output.Should().Contain("SynthVlm:Web:AspireDashboardUrl").And.Contain("ftp://example/");
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/login\?t=[0-9a-f]{32}")]
    private static partial Regex LoginUrl();
}
