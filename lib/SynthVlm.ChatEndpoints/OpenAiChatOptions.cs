namespace SynthVlm.ChatEndpoints;

/// <summary>
/// How <see cref="OpenAiChatClient"/> reaches an OpenAI-compatible chat-completions endpoint and
/// how hard it tries. Validated once, when the client is constructed.
/// </summary>
public sealed record OpenAiChatOptions
{
    /// <summary>The environment variable read when <see cref="ApiKey"/> is not set.</summary>
    public const string ApiKeyEnvironmentVariable = "OPENAI_API_KEY";

    /// <summary>
    /// The API base, e.g. <c>https://api.openai.com/v1</c> or <c>http://127.0.0.1:8000/v1</c>;
    /// requests go to <c>{Endpoint}/chat/completions</c>. Required, absolute, http or https.
    /// </summary>
    public Uri? Endpoint { get; init; }

    /// <summary>The <c>model</c> field of every request. Required.</summary>
    public string? Model { get; init; }

    /// <summary>
    /// The bearer token. When null, <see cref="ApiKeyEnvironmentVariable"/> is read; when that is
    /// unset too, no <c>Authorization</c> header is sent (local vLLM/SGLang servers need none).
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>The most HTTP requests in flight at once across the client (default 8).</summary>
    public int MaxConcurrency { get; init; } = 8;

    /// <summary>The limit on one HTTP attempt, headers and body (default 120 s: long answers take time).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Retries after the first attempt on 408, 429, 5xx, timeouts and connection errors (default 5).</summary>
    public int MaxRetries { get; init; } = 5;

    /// <summary>The backoff before the first retry; it doubles per retry, with jitter (default 1 s).</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The cap on one computed backoff (default 30 s).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>The cap on a server's <c>Retry-After</c> (default 120 s), so one call cannot stall a run for hours.</summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>
    /// An append-only JSONL reply cache loaded at start, so a re-run costs nothing; null for none.
    /// Its folder must exist. Only cacheable calls (temperature 0 or a seed) are written.
    /// </summary>
    public string? CacheFile { get; init; }

    /// <summary>Whether replies are cached in memory (default true; the file cache needs it).</summary>
    public bool Cache { get; init; } = true;

    /// <summary>The key actually used: <see cref="ApiKey"/>, else the environment variable, else null.</summary>
    public string? ResolveApiKey() =>
        !string.IsNullOrEmpty(ApiKey) ? ApiKey
        : Environment.GetEnvironmentVariable(ApiKeyEnvironmentVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment
        : null;

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option that is unusable.</summary>
    public void Validate()
    {
        const string Name = nameof(OpenAiChatOptions);
        if (Endpoint is null)
        {
            throw new ArgumentException($"{Name}.{nameof(Endpoint)} is required (e.g. https://api.openai.com/v1).", nameof(Endpoint));
        }
        if (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"{Name}.{nameof(Endpoint)} must be an absolute http or https URL; found '{Endpoint.OriginalString}'.", nameof(Endpoint));
        }
        if (!string.IsNullOrEmpty(Endpoint.Query) || !string.IsNullOrEmpty(Endpoint.Fragment))
        {
            throw new ArgumentException($"{Name}.{nameof(Endpoint)} must be the API base without query or fragment; found '{Endpoint.OriginalString}'.", nameof(Endpoint));
        }
        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new ArgumentException($"{Name}.{nameof(Model)} is required (the model name the endpoint serves).", nameof(Model));
        }
        if (MaxConcurrency < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxConcurrency), MaxConcurrency, $"{Name}.{nameof(MaxConcurrency)} must be at least 1.");
        }
        if (MaxRetries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, $"{Name}.{nameof(MaxRetries)} must be 0 or more.");
        }
        if (Timeout <= TimeSpan.Zero || Timeout == System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, $"{Name}.{nameof(Timeout)} must be a positive, finite time.");
        }
        foreach (var (value, name) in new[] { (InitialBackoff, nameof(InitialBackoff)), (MaxBackoff, nameof(MaxBackoff)), (MaxRetryAfter, nameof(MaxRetryAfter)) })
        {
            if (value < TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value, $"{Name}.{name} must not be negative.");
            }
        }
        if (CacheFile is not null && string.IsNullOrWhiteSpace(CacheFile))
        {
            throw new ArgumentException($"{Name}.{nameof(CacheFile)} is blank; use null for no file cache.", nameof(CacheFile));
        }
        if (CacheFile is not null && !Cache)
        {
            throw new ArgumentException($"{Name}.{nameof(CacheFile)} is set but {nameof(Cache)} is false.", nameof(CacheFile));
        }
    }

    /// <summary>The chat-completions URL: <c>{Endpoint}/chat/completions</c>.</summary>
    public Uri ChatCompletionsUri() => new(Endpoint!.AbsoluteUri.TrimEnd('/') + "/chat/completions");
}
