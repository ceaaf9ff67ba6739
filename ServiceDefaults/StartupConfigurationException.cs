namespace SynthVlm.ServiceDefaults;

/// <summary>
/// A setting is missing or malformed. The host prints <see cref="Exception.Message"/> as one line
/// and exits non-zero, so the message names the setting, what was found and what is expected.
/// </summary>
public sealed class StartupConfigurationException : Exception
{
    /// <summary>Creates the exception for <paramref name="setting"/>.</summary>
    /// <param name="setting">The configuration key (colon form).</param>
    /// <param name="problem">What is wrong and what is expected.</param>
    public StartupConfigurationException(string setting, string problem)
        : base($"Setting '{setting}' (environment variable {setting.Replace(":", "__", StringComparison.Ordinal)}): {problem}")
    {
        Setting = setting;
    }

    /// <summary>The configuration key that is wrong.</summary>
    public string Setting { get; }

    /// <summary>
    /// Runs <paramref name="read"/>, turning an <see cref="ArgumentException"/> whose ParamName is a
    /// key of <paramref name="section"/> into this exception for "{section}:{ParamName}".
    /// </summary>
    public static T For<T>(string section, Func<T> read)
    {
        ArgumentNullException.ThrowIfNull(read);
        try
        {
            return read();
        }
        catch (ArgumentException e) when (e.ParamName is { Length: > 0 })
        {
            throw new StartupConfigurationException($"{section}:{e.ParamName}", ArgumentMessages.Plain(e));
        }
    }
}
