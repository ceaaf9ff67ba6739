using System.Text.Json;
using Microsoft.Playwright;
using SynthVlm.Testing;

namespace SynthVlm.Dashboard.BrowserTests;

/// <summary>
/// The dashboard in Debian's headless chromium, driven by Playwright (its browser download is never
/// used: <c>/usr/bin/chromium</c> is launched by path): a real AppHost runs a small pool, then the
/// test logs in with the printed token and looks at resources, the run, its trace and its images,
/// screenshotting each page after checking what it must show.
/// </summary>
public sealed class DashboardBrowserTests : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] ChromiumFlags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"];

    private readonly string _dataDir = Directory.CreateTempSubdirectory("synthvlm-browser-").FullName;
    private readonly string _screenshots = Path.Combine(RepoPaths.Root, ".synthvlm", "screenshots");
    private AppHostProcess _apphost = null!;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(_screenshots);
        _apphost = AppHostProcess.Start(typeof(DashboardBrowserTests).Assembly, ["--data-dir", _dataDir, "--dashboard-port", "0", "--otlp-port", "0"]);
        await _apphost.WaitForAsync("All 7 resources healthy", TimeSpan.FromSeconds(150));
    }

    public async Task DisposeAsync()
    {
        if (!_apphost.HasExited)
        {
            await _apphost.InterruptAsync(TimeSpan.FromSeconds(60)).ConfigureAwait(false);
        }
        await _apphost.DisposeAsync();
        try
        {
            Directory.Delete(_dataDir, recursive: true);
        }
        catch (IOException)
        {
            // A straggler still writing: the temp folder is left for the OS.
        }
    }

    [Fact]
    public async Task Logs_in_with_the_token_and_shows_resources_the_run_its_trace_across_services_and_the_gallery()
    {
        var pool = Path.Combine(_dataDir, "pool.json");
        var captions = new[]
        {
            "A red bicycle leaning against a blue door.", "Two ducks swimming on a quiet pond at sunrise.", "A bowl of ripe oranges on a kitchen table.",
            "A lighthouse on a rocky cliff under a stormy sky.", "A child flying a yellow kite on a sandy beach.", "A steaming cup of coffee beside an open notebook.",
        }.Select((caption, i) => new { id = $"b{i}", caption });
        await File.WriteAllTextAsync(pool, JsonSerializer.Serialize(captions));
        var dataset = Path.Combine(_dataDir, "dataset");
        var run = await ChildProcess.RunAsync("dotnet",
            [AppHostProcess.Dll(typeof(DashboardBrowserTests).Assembly), "run", "--data-dir", _dataDir, "--captions", pool, "--out", dataset,
             "--run-id", "browser-run", "--variants", "2", "--top-k", "3", "--steps", "2", "--size", "64x64"],
            TimeSpan.FromMinutes(4));
        run.ExitCode.Should().Be(0, run.StandardOutput + run.StandardError);

        Environment.SetEnvironmentVariable("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true, Args = ChromiumFlags });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });
        var login = _apphost.DashboardLogin;
        var token = login.Query["?t=".Length..];
        var home = new Uri(login, "/");

        // Without the token: the login form, and a wrong token is refused.
        await page.GotoAsync(home.ToString());
        page.Url.Should().EndWith("/login");
        await page.FillAsync("[data-testid=token-input]", "not-the-token");
        await page.ClickAsync("[data-testid=login-submit]");
        await Assertions.Expect(page.Locator("[data-testid=login-error]")).ToBeVisibleAsync();
        await page.FillAsync("[data-testid=token-input]", token);
        await page.ClickAsync("[data-testid=login-submit]");

        // Resources: every replica healthy.
        await page.ClickAsync("[data-testid=nav-resources]");
        var rows = page.Locator("tr[data-testid=resource-row]");
        await Assertions.Expect(rows).ToHaveCountAsync(7);
        foreach (var name in new[] { "redis", "curation", "diffusion", "scoring", "selection", "training", "eval" })
        {
            await Assertions.Expect(page.Locator($"tr[data-resource={name}] [data-testid=resource-state]")).ToHaveTextAsync("Healthy");
        }
        await Shot(page, "resources");

        // The run: every stage done.
        await page.ClickAsync("[data-testid=nav-runs]");
        await page.ClickAsync("tr[data-testid=run-row][data-run-id=browser-run]");
        var stages = page.Locator("[data-testid=stage-progress]");
        await Assertions.Expect(stages).ToHaveCountAsync(5);
        await Assertions.Expect(page.Locator("[data-testid=stage-progress][data-done=true]")).ToHaveCountAsync(5);
        await Assertions.Expect(page.Locator("[data-testid=run-failures]")).ToContainTextAsync("Nothing dropped");
        await Shot(page, "run");

        // Its trace: one waterfall with spans from the services the run went through. Spans are
        // exported in batches every few seconds, so the page is reloaded until they are all in.
        await page.ClickAsync("[data-testid=run-trace-link]");
        var traceUrl = page.Url;
        await TestTimeout.Until(async () =>
        {
            await page.GotoAsync(traceUrl);
            await page.WaitForSelectorAsync("h1");
            var services = await page.Locator("[data-testid=span-bar]").EvaluateAllAsync<string[]>("bars => [...new Set(bars.map(b => b.dataset.service))]");
            return services.Length >= 4;
        }, TimeSpan.FromSeconds(60), "the run's trace to hold spans of curation, diffusion, scoring and selection");
        var traced = await page.Locator("[data-testid=span-bar]").EvaluateAllAsync<string[]>("bars => [...new Set(bars.map(b => b.dataset.service))]");
        traced.Should().Contain(["curation", "diffusion", "scoring", "selection"]);
        await page.Locator("[data-testid=span-bar]").First.ClickAsync();
        await Assertions.Expect(page.Locator("[data-testid=span-details]")).ToContainTextAsync("status:");
        await Shot(page, "trace");

        // The gallery: pictures with caption, scores and the selection.
        await page.GotoAsync(new Uri(home, "/#/gallery/browser-run").ToString());
        var items = page.Locator("[data-testid=gallery-item]");
        await Assertions.Expect(items).ToHaveCountAsync(12);
        await Assertions.Expect(page.Locator("[data-testid=gallery-item][data-selected=true]")).ToHaveCountAsync(3);
        await Assertions.Expect(page.Locator("[data-testid=gallery-item][data-selected=false]")).ToHaveCountAsync(9);
        await TestTimeout.Until(async () => await items.Locator("img").EvaluateAllAsync<bool>("imgs => imgs.every(i => i.complete && i.naturalWidth === 64)"),
            TimeSpan.FromSeconds(20), "every gallery image to load");
        (await items.First.Locator(".caption").InnerTextAsync()).Should().Be("A red bicycle leaning against a blue door.");
        (await items.First.Locator(".scores").InnerTextAsync()).Should().MatchRegex(@"CLIP -?\d\.\d{3} · SSIM -?\d\.\d{3}");
        await Shot(page, "gallery");

        // Live console and metrics render for the cluster too.
        await page.ClickAsync("[data-testid=nav-metrics]");
        await Assertions.Expect(page.Locator("[data-testid=stage-metrics]")).ToHaveCountAsync(6);
        await page.GotoAsync(new Uri(home, "/#/console/diffusion").ToString());
        await Assertions.Expect(page.Locator("[data-testid=console-lines] .console-line").First).ToBeVisibleAsync();
        await Shot(page, "console");
    }

    private async Task Shot(IPage page, string name)
    {
        var file = Path.Combine(_screenshots, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = false });
        new FileInfo(file).Length.Should().BeGreaterThan(10_000, $"{name}.png is a real screenshot");
    }
}
