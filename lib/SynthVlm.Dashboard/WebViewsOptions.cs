namespace SynthVlm.Dashboard;

/// <summary>
/// Settings of SynthVlm's web views, bound from the configuration section
/// <see cref="SectionName"/> (environment: <c>SynthVlm__Web__Token</c>, <c>SynthVlm__Web__AspireDashboardUrl</c>).
/// </summary>
public sealed class WebViewsOptions
{
    /// <summary>The configuration section the options are read from.</summary>
    public const string SectionName = "SynthVlm:Web";

    /// <summary>Configuration key of <see cref="Token"/>.</summary>
    public const string TokenKey = SectionName + ":Token";

    /// <summary>Configuration key of <see cref="AspireDashboardUrl"/>.</summary>
    public const string AspireDashboardUrlKey = SectionName + ":AspireDashboardUrl";

    /// <summary>The login token; when null or empty, <see cref="EnsureToken"/> makes a random one.</summary>
    public string? Token { get; set; }

    /// <summary>The Aspire dashboard's address; when set, the page links to it (and to a run's trace there).</summary>
    public Uri? AspireDashboardUrl { get; set; }

    /// <summary>The cluster's data folder (SYNTHVLM_DATA_DIR), whose blob store holds images, score and rejection records.</summary>
    public string? BlobRoot { get; set; }

    /// <summary>How long a page waits for Redis or the Runs API before it shows "unavailable".</summary>
    public TimeSpan SourceTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Makes a random token when none was configured.</summary>
    /// <returns>True when the token was generated here (the caller should tell the user the login URL).</returns>
    public bool EnsureToken()
    {
        if (Token is { Length: > 0 })
        {
            return false;
        }
        Token = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16));
        return true;
    }

    /// <summary>The relative address that logs in with the token (GET sets the session cookie).</summary>
    public string LoginPath => "/login?t=" + Uri.EscapeDataString(Token ?? "");
}
