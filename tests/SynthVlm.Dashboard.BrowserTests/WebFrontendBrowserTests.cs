using Google.Protobuf;
using Microsoft.Playwright;
using SynthVlm.Blobs;
using SynthVlm.Dashboard.Tests;
using SynthVlm.Protos.V1;
using SynthVlm.Runs;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.BrowserTests;

/// <summary>
/// The front end in Debian's headless chromium, driven by Playwright (its browser download is never
/// used: <c>/usr/bin/chromium</c> is launched by path) against the real WebFrontend process: log in
/// with the token, the runs page and a run's stages after a small curation run, and the gallery
/// page with images, scores and the selection, screenshotting each page after checking it.
/// </summary>
public sealed class WebFrontendBrowserTests(FrontEndCluster cluster) : IClassFixture<FrontEndCluster>
{
    private const string Chromium = "/usr/bin/chromium";
    private const string GalleryRun = "browser-gallery";
    private static readonly string[] ChromiumFlags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    private readonly string _screenshots = Path.Combine(RepoPaths.Root, ".synthvlm", "screenshots");

    [Fact]
    public async Task Logs_in_with_the_token_and_shows_the_runs_a_runs_stages_and_the_gallery()
    {
        Directory.CreateDirectory(_screenshots);
        await WriteGalleryAsync();
        var home = cluster.Web.Url;

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        using var playwright = await Playwright.CreateAsync().WithTimeout();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ChromiumFlags }).WithTimeout();
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } }).WithTimeout();
        page.SetDefaultTimeout(30_000);

        // Without the token: the login form, and a wrong token is refused.
        await page.GotoAsync(home.ToString()).WithTimeout();
        page.Url.Should().EndWith("/login");
        await page.FillAsync("[data-testid=token-input]", "not-the-token").WithTimeout();
        await page.ClickAsync("[data-testid=login-submit]").WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=login-error]")).ToBeVisibleAsync().WithTimeout();
        await page.FillAsync("[data-testid=token-input]", FrontEndCluster.Token).WithTimeout();
        await page.ClickAsync("[data-testid=login-submit]").WithTimeout();

        // Runs: the small run is listed, and the header links back to the Aspire dashboard.
        await Assertions.Expect(page.Locator("tr[data-testid=run-row][data-run-id=" + FrontEndCluster.RunId + "]")).ToBeVisibleAsync().WithTimeout();
        var aspire = page.Locator("[data-testid=aspire-dashboard-link]");
        await Assertions.Expect(aspire).ToBeVisibleAsync().WithTimeout();
        (await aspire.GetAttributeAsync("href").WithTimeout()).Should().Be(FrontEndCluster.AspireDashboard.ToString());
        await Shot(page, "runs");

        // The run: every stage with its progress; ingest and curation finished, the drops listed by reason.
        await page.ClickAsync("tr[data-testid=run-row][data-run-id=" + FrontEndCluster.RunId + "]").WithTimeout();
        var stages = page.Locator("[data-testid=stage-progress]");
        await Assertions.Expect(stages).ToHaveCountAsync(RunStages.All.Count).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=stage-progress][data-stage=ingest][data-done=true]")).ToHaveCountAsync(1).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=stage-progress][data-stage=curation]")).ToContainTextAsync("100 %").WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=stage-progress][data-stage=diffusion][data-done=false]")).ToHaveCountAsync(1).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=run-failures] tbody tr").First).ToBeVisibleAsync().WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=dead-letters]")).ToBeVisibleAsync().WithTimeout();
        await Shot(page, "run");

        // The gallery: pictures with caption, scores and the selection; the filter narrows it.
        await page.GotoAsync(new Uri(home, "/#/gallery/" + GalleryRun).ToString()).WithTimeout();
        var items = page.Locator("[data-testid=gallery-item]");
        await Assertions.Expect(items).ToHaveCountAsync(6).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=gallery-item][data-selected=true]")).ToHaveCountAsync(2).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=gallery-item][data-selected=false]")).ToHaveCountAsync(4).WithTimeout();
        await TestTimeout.Until(async () => await items.Locator("img").EvaluateAllAsync<bool>("imgs => imgs.every(i => i.complete && i.naturalWidth === 16)"),
            TimeSpan.FromSeconds(20), "every gallery image to load");
        (await items.First.Locator(".caption").InnerTextAsync().WithTimeout()).Should().Be("gallery caption 0");
        (await items.Nth(1).Locator(".scores").InnerTextAsync().WithTimeout()).Should().Be("CLIP 0.110 · SSIM 0.500 · 0.360");
        await Shot(page, "gallery");
        await page.SelectOptionAsync(".filters select", "selected").WithTimeout();
        await Assertions.Expect(items).ToHaveCountAsync(2).WithTimeout();
        await Assertions.Expect(page.Locator("[data-testid=gallery-item][data-selected=true]")).ToHaveCountAsync(2).WithTimeout();
    }

    // Scores and images as the scoring stage records them, and a dataset manifest selecting two.
    private async Task WriteGalleryAsync()
    {
        var blobs = new FileBlobStore(cluster.BlobRoot);
        var dataset = Path.Combine(cluster.Data, "out", GalleryRun);
        await blobs.WriteAsync(RunRecords.Config(GalleryRun), new RunConfig { Id = GalleryRun, Output = dataset }.ToByteArray()).WithTimeout();
        var png = TinyPng.Make(16, 16);
        for (var i = 0; i < 6; i++)
        {
            var key = $"runs/{GalleryRun}/images/g{i}/0.png";
            await blobs.WriteAsync(key, png).WithTimeout();
            var scored = new ScoredImage
            {
                Image = new GeneratedImage { Run = GalleryRun, CaptionId = $"g{i}", Caption = $"gallery caption {i}", Variant = 0, ImageKey = key, CaptionIndex = i },
                Score = new ScoreResult { Clip = 0.1 + (0.01 * i), Ssim = 0.5, Weighted = 0.1 + (0.01 * i) + 0.25 },
            };
            await blobs.WriteAsync(RunRecords.Score(GalleryRun, i, 0), scored.ToByteArray()).WithTimeout();
        }
        Directory.CreateDirectory(dataset);
        await File.WriteAllLinesAsync(Path.Combine(dataset, "manifest.jsonl"), ["{\"id\":\"g5\",\"variant\":0}", "{\"id\":\"g4\",\"variant\":0}"]).WithTimeout();
        await File.WriteAllTextAsync(Path.Combine(dataset, "dataset.json"), "{}").WithTimeout();
    }

    private async Task Shot(IPage page, string name)
    {
        var file = Path.Combine(_screenshots, "web-" + name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = false }).WithTimeout();
        new FileInfo(file).Length.Should().BeGreaterThan(10_000, $"{name}.png is a real screenshot");
    }
}
