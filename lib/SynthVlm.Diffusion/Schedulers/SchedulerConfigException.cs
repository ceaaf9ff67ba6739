namespace SynthVlm.Diffusion.Schedulers;

/// <summary>
/// A scheduler configuration that cannot be used: malformed JSON, a key with a value of the wrong type or out of
/// range, or a setting this implementation does not support. The message names the source (file) and the key.
/// </summary>
public sealed class SchedulerConfigException : Exception
{
    /// <summary>Creates the exception.</summary>
    public SchedulerConfigException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public SchedulerConfigException(string message) : base(message)
    {
    }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public SchedulerConfigException(string message, Exception innerException) : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for <paramref name="key"/> of <paramref name="source"/>: "source: key: problem".</summary>
    /// <param name="source">Where the configuration came from (a path or a description).</param>
    /// <param name="key">The scheduler_config.json key at fault, or null when the problem is not one key's.</param>
    /// <param name="problem">What is wrong, including what was expected and what was found.</param>
    /// <param name="innerException">The underlying error, if any.</param>
    public SchedulerConfigException(string source, string? key, string problem, Exception? innerException = null)
        : base(key is null ? $"{source}: {problem}" : $"{source}: '{key}': {problem}", innerException)
    {
        ConfigSource = source;
        Key = key;
    }

    /// <summary>Where the configuration came from, when known.</summary>
    public string? ConfigSource { get; }

    /// <summary>The key at fault, when the problem is one key's.</summary>
    public string? Key { get; }
}
