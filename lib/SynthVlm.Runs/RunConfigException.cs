namespace SynthVlm.Runs;

/// <summary>A run config field is out of range or malformed; the message names the field.</summary>
public sealed class RunConfigException : Exception
{
    /// <summary>Creates the exception for <paramref name="field"/>.</summary>
    public RunConfigException(string field, string problem)
        : base($"{field}: {problem}")
    {
        Field = field;
    }

    /// <summary>The config field (proto name, e.g. "variants" or "dataset.quality").</summary>
    public string Field { get; }
}

/// <summary>A run with this id exists with a different config.</summary>
public sealed class RunAlreadyExistsException : Exception
{
    /// <summary>Creates the exception for run <paramref name="id"/>.</summary>
    public RunAlreadyExistsException(string id)
        : base($"run '{id}' already exists with a different config; submit under another id (or the same config to get the existing run).")
    {
        Id = id;
    }

    /// <summary>The run id.</summary>
    public string Id { get; }
}
