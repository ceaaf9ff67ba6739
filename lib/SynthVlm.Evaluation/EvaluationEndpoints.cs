using SynthVlm.ChatEndpoints;

namespace SynthVlm.Evaluation;

/// <summary>OpenAI-compatible endpoints as the model under test, a grader or a judge.</summary>
public static class EvaluationEndpoints
{
    /// <summary>
    /// A client for <paramref name="model"/> at <paramref name="endpoint"/> (the key from
    /// OPENAI_API_KEY) with its reply cache in {cacheDirectory}/{model}.jsonl (file name sanitised),
    /// so a re-run of the same questions costs nothing; no file cache when the folder is null.
    /// </summary>
    /// <exception cref="ArgumentException">The endpoint or model is unusable (named).</exception>
    public static OpenAiChatClient Open(Uri endpoint, string model, int concurrency, string? cacheDirectory)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentException.ThrowIfNullOrEmpty(model);
        string? cacheFile = null;
        if (cacheDirectory is not null)
        {
            Directory.CreateDirectory(cacheDirectory);
            cacheFile = Path.Combine(cacheDirectory, new string([.. model.Select(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '-' or '_' ? c : '_')]) + ".jsonl");
        }
        return new OpenAiChatClient(new OpenAiChatOptions { Endpoint = endpoint, Model = model, MaxConcurrency = concurrency, CacheFile = cacheFile });
    }
}
