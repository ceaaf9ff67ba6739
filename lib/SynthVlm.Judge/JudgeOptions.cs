namespace SynthVlm.Judge;

/// <summary>
/// How <see cref="CaptionJudge"/> reaches an OpenAI-compatible chat-completions endpoint and how
/// hard it tries. Validated once, when the judge is constructed.
/// </summary>
public sealed record JudgeOptions
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
    /// unset too, no <c>Authorization</c> header is sent (local servers such as vLLM need none).
    /// </summary>
    public string? ApiKey { get; init; }

    /// <summary>The most HTTP requests in flight at once across the whole judge (default 4).</summary>
    public int MaxConcurrency { get; init; } = 4;

    /// <summary>
    /// How many captions <see cref="CaptionJudge.JudgeManyAsync"/> reads ahead of the one it is
    /// waiting to yield (default 64). Chat completions takes one prompt per call, so this is the
    /// only "batching": it bounds memory and lets fast answers queue behind a slow one while
    /// results stay in input order.
    /// </summary>
    public int ReadAhead { get; init; } = 64;

    /// <summary>The limit on one HTTP attempt, headers and body (default 30 s).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries after the first attempt on 408, 429, 5xx, timeouts and connection errors (default 3).</summary>
    public int MaxRetries { get; init; } = 3;

    /// <summary>The backoff before the first retry; it doubles per retry, with jitter (default 500 ms).</summary>
    public TimeSpan InitialBackoff { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>The cap on one computed backoff (default 20 s).</summary>
    public TimeSpan MaxBackoff { get; init; } = TimeSpan.FromSeconds(20);

    /// <summary>
    /// The cap on a server's <c>Retry-After</c> (default 60 s): a longer request is shortened so
    /// one caption cannot stall a run for hours.
    /// </summary>
    public TimeSpan MaxRetryAfter { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>The <c>max_tokens</c> field; a yes/no answer needs very few (default 5).</summary>
    public int MaxTokens { get; init; } = 5;

    /// <summary>How many verdicts the in-memory LRU cache holds (default 100,000; 0 turns it off).</summary>
    public int CacheCapacity { get; init; } = 100_000;

    /// <summary>
    /// An append-only JSONL verdict cache (one line per verdict), loaded at start so a rerun does
    /// not pay twice; null for none. The folder must exist.
    /// </summary>
    public string? CacheFile { get; init; }

    /// <summary>The key actually used: <see cref="ApiKey"/>, else the environment variable, else null.</summary>
    public string? ResolveApiKey() =>
        !string.IsNullOrEmpty(ApiKey) ? ApiKey : NullIfEmpty(Environment.GetEnvironmentVariable(ApiKeyEnvironmentVariable));

    /// <summary>Throws <see cref="ArgumentException"/> naming the first option that is unusable.</summary>
    public void Validate()
    {
        if (Endpoint is null)
        {
            throw new ArgumentException($"{nameof(JudgeOptions)}.{nameof(Endpoint)} is required (e.g. https://api.openai.com/v1).", nameof(Endpoint));
        }
        if (!Endpoint.IsAbsoluteUri || (Endpoint.Scheme != Uri.UriSchemeHttp && Endpoint.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException($"{nameof(JudgeOptions)}.{nameof(Endpoint)} must be an absolute http or https URL; found '{Endpoint.OriginalString}'.", nameof(Endpoint));
        }
        if (!string.IsNullOrEmpty(Endpoint.Query) || !string.IsNullOrEmpty(Endpoint.Fragment))
        {
            throw new ArgumentException($"{nameof(JudgeOptions)}.{nameof(Endpoint)} must be the API base without query or fragment; found '{Endpoint.OriginalString}'.", nameof(Endpoint));
        }
        if (string.IsNullOrWhiteSpace(Model))
        {
            throw new ArgumentException($"{nameof(JudgeOptions)}.{nameof(Model)} is required (the model name the endpoint serves).", nameof(Model));
        }
        Positive(MaxConcurrency, nameof(MaxConcurrency));
        Positive(ReadAhead, nameof(ReadAhead));
        Positive(MaxTokens, nameof(MaxTokens));
        if (MaxRetries < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxRetries), MaxRetries, $"{nameof(JudgeOptions)}.{nameof(MaxRetries)} must be 0 or more.");
        }
        if (CacheCapacity < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(CacheCapacity), CacheCapacity, $"{nameof(JudgeOptions)}.{nameof(CacheCapacity)} must be 0 or more.");
        }
        if (Timeout <= TimeSpan.Zero || Timeout == System.Threading.Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentOutOfRangeException(nameof(Timeout), Timeout, $"{nameof(JudgeOptions)}.{nameof(Timeout)} must be a positive, finite time.");
        }
        NotNegative(InitialBackoff, nameof(InitialBackoff));
        NotNegative(MaxBackoff, nameof(MaxBackoff));
        NotNegative(MaxRetryAfter, nameof(MaxRetryAfter));
        if (CacheFile is not null && string.IsNullOrWhiteSpace(CacheFile))
        {
            throw new ArgumentException($"{nameof(JudgeOptions)}.{nameof(CacheFile)} is blank; use null for no file cache.", nameof(CacheFile));
        }
    }

    /// <summary>The chat-completions URL: <c>{Endpoint}/chat/completions</c>.</summary>
    internal Uri ChatCompletionsUri() => new(Endpoint!.AbsoluteUri.TrimEnd('/') + "/chat/completions");

    private static void Positive(int value, string name)
    {
        if (value < 1)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{nameof(JudgeOptions)}.{name} must be at least 1.");
        }
    }

    private static void NotNegative(TimeSpan value, string name)
    {
        if (value < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(name, value, $"{nameof(JudgeOptions)}.{name} must not be negative.");
        }
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;
}
