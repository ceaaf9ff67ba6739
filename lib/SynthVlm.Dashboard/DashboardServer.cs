using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SynthVlm.Dashboard.Telemetry;

namespace SynthVlm.Dashboard;

/// <summary>
/// The AppHost's dashboard: a token-protected web UI over the cluster's resources, console
/// output, OTLP telemetry, runs and generated images, plus the OTLP/HTTP receiver the services
/// export to, each on its own listener.
/// </summary>
public sealed class DashboardServer : IAsyncDisposable
{
    internal const string CookieName = "synthvlm_dashboard";

    private readonly WebApplication _app;
    private readonly DashboardData _data;

    private DashboardServer(WebApplication app, DashboardData data, Uri url, Uri otlp, string token, string otlpKey, TelemetryStore telemetry)
    {
        _app = app;
        _data = data;
        Url = url;
        LoginUrl = new Uri(url, "login?t=" + Uri.EscapeDataString(token));
        Token = token;
        OtlpEndpoint = otlp;
        OtlpApiKey = otlpKey;
        Telemetry = telemetry;
    }

    /// <summary>The UI's address, e.g. http://127.0.0.1:18888/.</summary>
    public Uri Url { get; }

    /// <summary>The address that logs in with the token.</summary>
    public Uri LoginUrl { get; }

    /// <summary>The login token.</summary>
    public string Token { get; }

    /// <summary>The OTLP/HTTP receiver (senders append /v1/traces, /v1/metrics, /v1/logs).</summary>
    public Uri OtlpEndpoint { get; }

    /// <summary>The key senders put in the x-otlp-api-key header.</summary>
    public string OtlpApiKey { get; }

    /// <summary>What the receiver has stored.</summary>
    public TelemetryStore Telemetry { get; }

    /// <summary>
    /// Starts both listeners. Throws <see cref="DashboardStartException"/> naming the address and
    /// port when one is taken or cannot be bound.
    /// </summary>
    public static async Task<DashboardServer> StartAsync(DashboardOptions options, IResourceSource resources, ConsoleLogStore consoleLogs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(resources);
        ArgumentNullException.ThrowIfNull(consoleLogs);
        var token = options.Token is { Length: > 0 } t ? t : RandomHex();
        var otlpKey = options.OtlpApiKey is { Length: > 0 } k ? k : RandomHex();
        var uiPort = Reserve(options.Address, options.Port, "dashboard");
        var otlpPort = Reserve(options.Address, options.OtlpPort, "OTLP");
        if (uiPort == otlpPort)
        {
            throw new DashboardStartException($"the dashboard and OTLP ports are both {uiPort}; they need two ports.");
        }

        var telemetry = new TelemetryStore(options.Telemetry);
        // Only the options decide what it serves and where: the host process's appsettings.json,
        // ASPNETCORE_* and Kestrel__* settings (a service's, say) must not add listeners here.
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Configuration.Sources.Clear();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(kestrel =>
        {
            kestrel.Listen(options.Address, uiPort);
            kestrel.Listen(options.Address, otlpPort);
            kestrel.AddServerHeader = false;
        });
        // The AppHost may set RunsEndpoint after the start (once curation has a port): the
        // client is made, and its address read, on the first use after that.
        builder.Services.AddGrpcClient<Protos.V1.Runs.RunsClient>((_, o) => o.Address = options.RunsEndpoint);
        var app = builder.Build();
        var data = new DashboardData(options, resources, consoleLogs, telemetry,
            () => options.RunsEndpoint is null ? null : app.Services.GetRequiredService<Protos.V1.Runs.RunsClient>());
        var session = SessionValue(token);

        // One app, two listeners: the OTLP port serves only /v1/*, the UI port never does.
        app.Use(async (context, next) =>
        {
            var onOtlp = context.Connection.LocalPort == otlpPort;
            var isOtlpPath = context.Request.Path.StartsWithSegments("/v1", StringComparison.Ordinal);
            if (onOtlp != isOtlpPath)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            if (!onOtlp)
            {
                context.Response.Headers["X-Content-Type-Options"] = "nosniff";
                context.Response.Headers["X-Frame-Options"] = "DENY";
                context.Response.Headers["Referrer-Policy"] = "no-referrer";
                context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";
                if (!IsPublic(context.Request.Path) && !HasSession(context, session))
                {
                    if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
                    {
                        context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                        await context.Response.WriteAsync("log in with the dashboard token first (the AppHost prints the login URL at start)\n").ConfigureAwait(false);
                    }
                    else
                    {
                        context.Response.Redirect("/login");
                    }
                    return;
                }
            }
            await next(context).ConfigureAwait(false);
        });

        app.MapOtlpHttp(telemetry, new OtlpReceiverOptions { ApiKey = otlpKey });
        app.MapGet("/login", (HttpContext context) =>
        {
            var given = context.Request.Query["t"].ToString();
            if (given.Length > 0)
            {
                return LogIn(context, given, token, session);
            }
            return Results.Content(LoginPage(error: false), "text/html; charset=utf-8");
        });
        app.MapPost("/login", async (HttpContext context) =>
        {
            var form = context.Request.HasFormContentType ? await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false) : null;
            return LogIn(context, form?["token"].ToString() ?? "", token, session);
        });
        app.MapPost("/logout", (HttpContext context) =>
        {
            context.Response.Cookies.Delete(CookieName);
            return Results.Redirect("/login");
        });
        app.MapGet("/", () => Asset("index.html"));
        app.MapGet("/assets/{name}", (string name) => Asset(name));
        DashboardApi.Map(app, data);

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            await app.DisposeAsync().ConfigureAwait(false);
            throw new DashboardStartException($"the dashboard cannot listen on {options.Address}:{uiPort} and {otlpPort}: {e.Message}", e);
        }
        var host = options.Address.Equals(IPAddress.Any) ? "127.0.0.1" : options.Address.Equals(IPAddress.IPv6Any) ? "[::1]" : options.Address.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{options.Address}]" : options.Address.ToString();
        return new DashboardServer(app, data, new Uri($"http://{host}:{uiPort}/"), new Uri($"http://{host}:{otlpPort}"), token, otlpKey, telemetry);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        using (var grace = new CancellationTokenSource(TimeSpan.FromSeconds(2)))
        {
            await _app.StopAsync(grace.Token).ConfigureAwait(false);
        }
        await _app.DisposeAsync().ConfigureAwait(false);
        await _data.DisposeAsync().ConfigureAwait(false);
    }

    private static IResult LogIn(HttpContext context, string given, string token, string session)
    {
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(token)))
        {
            return Results.Content(LoginPage(error: true), "text/html; charset=utf-8", Encoding.UTF8, StatusCodes.Status401Unauthorized);
        }
        context.Response.Cookies.Append(CookieName, session, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
        return Results.Redirect("/#/resources");
    }

    private static bool HasSession(HttpContext context, string session) =>
        context.Request.Cookies.TryGetValue(CookieName, out var value)
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(value ?? ""), Encoding.UTF8.GetBytes(session));

    private static bool IsPublic(PathString path) =>
        path.Equals("/login", StringComparison.Ordinal) || path.Equals("/assets/app.css", StringComparison.Ordinal);

    // The cookie is derived from the token, so it is valid exactly while the token is.
    private static string SessionValue(string token) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "synthvlm-dashboard-session"u8));

    private static string RandomHex() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    private static int Reserve(IPAddress address, int port, string what)
    {
        if (port is < 0 or > 65535)
        {
            throw new DashboardStartException($"{what} port {port} is out of range (0 to 65535).");
        }
        // Binding once here turns "in use" into a message naming the port, and resolves 0 to a free port.
        try
        {
            using var probe = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(address, port));
            return ((IPEndPoint)probe.LocalEndPoint!).Port;
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            throw new DashboardStartException($"{what} port {port} on {address} is already in use; choose another with --{(what == "OTLP" ? "otlp-port" : "dashboard-port")} (0 picks a free one).", e);
        }
        catch (SocketException e)
        {
            throw new DashboardStartException($"the {what} listener cannot bind {address}:{port}: {e.Message}", e);
        }
    }

    private static IResult Asset(string name)
    {
        var stream = typeof(DashboardServer).Assembly.GetManifestResourceStream("wwwroot/" + name);
        if (stream is null || name.Contains('/', StringComparison.Ordinal))
        {
            stream?.Dispose();
            return Results.NotFound();
        }
        var type = Path.GetExtension(name) switch
        {
            ".html" => "text/html; charset=utf-8",
            ".js" => "text/javascript; charset=utf-8",
            ".css" => "text/css; charset=utf-8",
            ".svg" => "image/svg+xml",
            _ => "application/octet-stream",
        };
        return Results.Stream(stream, type);
    }

    private static string LoginPage(bool error) =>
        $$"""
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><title>SynthVlm dashboard: log in</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="stylesheet" href="/assets/app.css"></head>
        <body class="login"><main class="login-box">
        <h1>SynthVlm</h1>
        <p>Enter the dashboard token the AppHost printed at start (or open the login URL it printed).</p>
        {{(error ? "<p class=\"error\" data-testid=\"login-error\">That token is not the one this AppHost printed.</p>" : "")}}
        <form method="post" action="/login">
        <input name="token" type="password" autocomplete="off" autofocus data-testid="token-input" aria-label="token">
        <button type="submit" data-testid="login-submit">Log in</button>
        </form></main></body></html>
        """;

    internal static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };
}
