namespace SynthVlm.Redis;

/// <summary>Base of every error the Redis client raises.</summary>
public class RedisException : Exception
{
    /// <summary>Creates the exception.</summary>
    public RedisException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The server could not be reached, or the socket failed while a command was in flight.</summary>
public class RedisConnectionException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisConnectionException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisConnectionException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisConnectionException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The server requires a password (NOAUTH) or rejected the credentials (WRONGPASS).</summary>
public class RedisAuthenticationException : RedisConnectionException
{
    /// <summary>Creates the exception.</summary>
    public RedisAuthenticationException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisAuthenticationException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisAuthenticationException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The server answered a command with an error reply.</summary>
public class RedisServerException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisServerException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisServerException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisServerException(string message, Exception? innerException) : base(message, innerException) { }

    /// <summary>Creates the exception for <paramref name="command"/>'s error reply.</summary>
    public RedisServerException(string message, string command, string errorPrefix, string serverMessage) : base(message)
    {
        Command = command;
        ErrorPrefix = errorPrefix;
        ServerMessage = serverMessage;
    }

    /// <summary>The command that failed (its name only; arguments may be secret).</summary>
    public string Command { get; } = "";

    /// <summary>The error's first word, e.g. ERR, WRONGTYPE, NOGROUP, BUSYGROUP.</summary>
    public string ErrorPrefix { get; } = "";

    /// <summary>The error text as the server sent it.</summary>
    public string ServerMessage { get; } = "";
}

/// <summary>A command got no reply within its timeout.</summary>
public class RedisTimeoutException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisTimeoutException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisTimeoutException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisTimeoutException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The bytes received are not valid RESP.</summary>
public class RedisProtocolException : RedisException
{
    /// <summary>Creates the exception.</summary>
    public RedisProtocolException() { }

    /// <summary>Creates the exception with a message.</summary>
    public RedisProtocolException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public RedisProtocolException(string message, Exception? innerException) : base(message, innerException) { }
}

/// <summary>The one place where the client's error messages are worded.</summary>
internal static class RedisErrors
{
    private const string FixHint =
        "Is redis-server running there? Set " + KnownEnvironment.RedisConnectionStringEnv +
        " (e.g. \"127.0.0.1:6379,password=...\") to the right endpoint.";

    public static RedisConnectionException CannotConnect(string endPoint, string reason, Exception? inner) =>
        new($"Cannot connect to Redis at {endPoint}: {reason}. {FixHint}", inner);

    public static RedisConnectionException ConnectionLost(string endPoint, string command, Exception? inner) =>
        new($"The connection to Redis at {endPoint} was lost while '{command}' was in flight" +
            (inner is null ? "." : $": {inner.Message}") + " The client reconnects automatically; retry the command.", inner);

    public static RedisConnectionException Disposed(string endPoint) =>
        new($"The connection to Redis at {endPoint} has been disposed.");

    public static RedisAuthenticationException PasswordRequired(string endPoint) =>
        new($"Redis at {endPoint} requires a password (NOAUTH) but none was configured. " +
            $"Add ',password=...' (and ',user=...' for an ACL user) to {KnownEnvironment.RedisConnectionStringEnv}.");

    public static RedisAuthenticationException CredentialsRejected(string endPoint, string? user) =>
        new($"Redis at {endPoint} rejected the credentials (WRONGPASS) for user '{user ?? "default"}': " +
            $"the password is wrong or the user is disabled. Check the password in {KnownEnvironment.RedisConnectionStringEnv}.");

    public static RedisAuthenticationException NoPasswordConfiguredOnServer(string endPoint) =>
        new($"A password was configured for Redis at {endPoint}, but the server has no password set " +
            $"(AUTH called without any password configured). Remove ',password=...' from {KnownEnvironment.RedisConnectionStringEnv} or configure requirepass.");

    public static RedisTimeoutException Timeout(string endPoint, string command, TimeSpan timeout) =>
        new($"Redis at {endPoint} did not answer '{command}' within {timeout.TotalMilliseconds:0} ms " +
            "(CommandTimeout; set ',syncTimeout=ms' in the connection string to change it).");

    public static RedisException ServerError(string endPoint, string command, string errorText, bool handshake, string? user)
    {
        var space = errorText.IndexOf(' ', StringComparison.Ordinal);
        var prefix = space < 0 ? errorText : errorText[..space];
        switch (prefix)
        {
            case "NOAUTH":
                return PasswordRequired(endPoint);
            case "WRONGPASS":
                return CredentialsRejected(endPoint, user);
            default:
                if (handshake && errorText.Contains("without any password configured", StringComparison.Ordinal))
                {
                    return NoPasswordConfiguredOnServer(endPoint);
                }
                return new RedisServerException($"Redis at {endPoint} answered '{command}' with an error: {errorText}", command, prefix, errorText);
        }
    }

    public static RedisProtocolException Malformed(string what) => new($"Malformed RESP from the server: {what}.");

    public static InvalidOperationException WrongType(RedisResultType actual, string wanted) =>
        new($"The Redis reply is {actual}, not {wanted}.");
}
