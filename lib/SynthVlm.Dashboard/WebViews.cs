using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace SynthVlm.Dashboard;

/// <summary>
/// SynthVlm's own views as part of an ASP.NET Core app: the token login, the page (runs with
/// per-stage progress, rate and ETA, drops by reason, dead letters, the gallery with scores) and
/// the JSON API it reads. Resources, console output, traces, logs and metrics are the Aspire
/// dashboard's; the page links there when <see cref="WebViewsOptions.AspireDashboardUrl"/> is set.
/// </summary>
public static class WebViews
{
    /// <summary>The session cookie's name.</summary>
    public const string CookieName = "synthvlm_web";

    /// <summary>
    /// Registers the views' services. The host registers, when it has them, the Runs API client
    /// (<c>Runs.RunsClient</c>) and the cluster's <c>IConnectionMultiplexer</c>; without them the
    /// pages say which setting is missing.
    /// </summary>
    /// <exception cref="ArgumentException">The options have no token (call <see cref="WebViewsOptions.EnsureToken"/> first).</exception>
    public static IServiceCollection AddSynthVlmWebViews(this IServiceCollection services, WebViewsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Token is not { Length: > 0 })
        {
            throw new ArgumentException($"{WebViewsOptions.TokenKey} is empty; call EnsureToken() to generate one.", nameof(options));
        }
        services.AddSingleton(options);
        services.AddSingleton(sp => new WebViewsData(options, sp, sp.GetService<TimeProvider>() ?? TimeProvider.System));
        return services;
    }

    /// <summary>
    /// Adds the login gate (pages redirect to /login, the API answers 401 without the session
    /// cookie; <paramref name="publicPaths"/> such as health stay open) and maps the page, the
    /// login and the API.
    /// </summary>
    public static WebApplication MapSynthVlmWebViews(this WebApplication app, params string[] publicPaths)
    {
        ArgumentNullException.ThrowIfNull(app);
        var data = app.Services.GetRequiredService<WebViewsData>();
        var token = data.Options.Token!;
        var session = SessionValue(token);
        var open = new HashSet<string>(["/login", "/assets/app.css", .. publicPaths], StringComparer.Ordinal);

        app.Use(async (context, next) =>
        {
            context.Response.Headers["X-Content-Type-Options"] = "nosniff";
            context.Response.Headers["X-Frame-Options"] = "DENY";
            context.Response.Headers["Referrer-Policy"] = "no-referrer";
            context.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'";
            if (!open.Contains(context.Request.Path.Value ?? "") && !HasSession(context, session))
            {
                if (context.Request.Path.StartsWithSegments("/api", StringComparison.Ordinal))
                {
                    context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                    await context.Response.WriteAsync("log in with the front end's token first: open /login?t=TOKEN (the web resource logs its login URL at start when it made the token itself)\n").ConfigureAwait(false);
                }
                else
                {
                    context.Response.Redirect("/login");
                }
                return;
            }
            await next(context).ConfigureAwait(false);
        });

        app.MapGet("/login", (HttpContext context) =>
        {
            var given = context.Request.Query["t"].ToString();
            return given.Length > 0 ? LogIn(context, given, token, session) : Results.Content(LoginPage(error: false), "text/html; charset=utf-8");
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
        WebViewsApi.Map(app, data);
        return app;
    }

    internal static JsonSerializerOptions Json { get; } = new(JsonSerializerDefaults.Web) { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    private static IResult LogIn(HttpContext context, string given, string token, string session)
    {
        if (!CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(given), Encoding.UTF8.GetBytes(token)))
        {
            return Results.Content(LoginPage(error: true), "text/html; charset=utf-8", Encoding.UTF8, StatusCodes.Status401Unauthorized);
        }
        context.Response.Cookies.Append(CookieName, session, new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Strict, Path = "/", IsEssential = true });
        return Results.Redirect("/#/runs");
    }

    private static bool HasSession(HttpContext context, string session) =>
        context.Request.Cookies.TryGetValue(CookieName, out var value)
        && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(value ?? ""), Encoding.UTF8.GetBytes(session));

    // The cookie is derived from the token, so it is valid exactly while the token is, and never carries it.
    private static string SessionValue(string token) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(token), "synthvlm-web-session"u8));

    private static IResult Asset(string name)
    {
        // Embedded resources only, by a bare file name: no path reaches the file system.
        var stream = name.Contains('/', StringComparison.Ordinal) || name.Contains('\\', StringComparison.Ordinal)
            ? null
            : typeof(WebViews).Assembly.GetManifestResourceStream("wwwroot/" + name);
        if (stream is null)
        {
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
        <html lang="en"><head><meta charset="utf-8"><title>SynthVlm: log in</title>
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <link rel="stylesheet" href="/assets/app.css"></head>
        <body class="login"><main class="login-box">
        <h1>SynthVlm</h1>
        <p>Enter the front end's token (SynthVlm__Web__Token, or the one in the login URL the web resource logged at start).</p>
        {{(error ? "<p class=\"error\" data-testid=\"login-error\">That is not this front end's token.</p>" : "")}}
        <form method="post" action="/login">
        <input name="token" type="password" autocomplete="off" autofocus data-testid="token-input" aria-label="token">
        <button type="submit" data-testid="login-submit">Log in</button>
        </form></main></body></html>
        """;
}
