namespace SynthVlm.ServiceDefaults;

/// <summary>Messages of <see cref="ArgumentException"/> as a user should read them.</summary>
public static class ArgumentMessages
{
    /// <summary>The message without the " (Parameter 'x')" .NET appends (the field is named by the caller instead).</summary>
    public static string Plain(ArgumentException e)
    {
        ArgumentNullException.ThrowIfNull(e);
        return e.Message.Split(" (Parameter", 2)[0];
    }
}
