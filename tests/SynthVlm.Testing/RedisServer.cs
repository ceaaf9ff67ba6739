using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace SynthVlm.Testing;

/// <summary>How <see cref="RedisServer"/> configures its redis-server child process.</summary>
public sealed record RedisServerOptions
{
    /// <summary><c>requirepass</c> for the default user, or null for none.</summary>
    public string? Password { get; init; }

    /// <summary>An ACL user created at start-up (with <see cref="UserPassword"/> and all permissions), or null.</summary>
    public string? User { get; init; }

    /// <summary>The ACL user's password (required with <see cref="User"/>).</summary>
    public string? UserPassword { get; init; }

    /// <summary>Whether the AOF is on (<c>appendonly yes</c>), so a restart replays acknowledged writes.</summary>
    public bool AppendOnly { get; init; }

    /// <summary><c>appendfsync</c>: always, everysec or no.</summary>
    public string AppendFsync { get; init; } = "everysec";

    /// <summary>The data folder; null makes a temporary one that is deleted on dispose.</summary>
    public string? DataDirectory { get; init; }

    /// <summary>Extra <c>--name value</c> arguments for redis-server.</summary>
    public IReadOnlyList<string> ExtraArguments { get; init; } = [];

    /// <summary>How long to wait for the server to answer PING after starting.</summary>
    public TimeSpan StartTimeout { get; init; } = TimeSpan.FromSeconds(15);
}

/// <summary>
/// A real redis-server child process on a free loopback port (<c>--save ""</c>, temporary data
/// folder). Disposing always kills it and removes the temporary folder.
/// </summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly RedisServerOptions _options;
    private readonly bool _ownsDirectory;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private RedisServer(RedisServerOptions options, int port, string dataDirectory, bool ownsDirectory)
    {
        _options = options;
        Port = port;
        DataDirectory = dataDirectory;
        _ownsDirectory = ownsDirectory;
    }

    /// <summary>The loopback port the server listens on (kept across restarts).</summary>
    public int Port { get; }

    /// <summary>The server's data folder (AOF lives here).</summary>
    public string DataDirectory { get; }

    /// <summary>StackExchange-format connection string for the default user: <c>127.0.0.1:PORT[,password=..]</c>.</summary>
    public string ConnectionString => _options.Password is null ? $"127.0.0.1:{Port}" : $"127.0.0.1:{Port},password={_options.Password}";

    /// <summary>StackExchange-format connection string for the ACL user (<see cref="RedisServerOptions.User"/>), or null when none was created.</summary>
    public string? UserConnectionString => _options.User is null ? null : $"127.0.0.1:{Port},user={_options.User},password={_options.UserPassword}";

    /// <summary>Whether the child process is running.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>What redis-server printed (for failure messages).</summary>
    public string Output
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>Path of the redis-server executable, or null when it is not installed.</summary>
    public static string? FindExecutable()
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries).Append("/usr/bin"))
        {
            var candidate = Path.Combine(dir, "redis-server");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    /// <summary>Starts redis-server and waits until it answers PING.</summary>
    /// <exception cref="InvalidOperationException">redis-server is not installed, or it did not start in time.</exception>
    public static async Task<RedisServer> StartAsync(RedisServerOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new RedisServerOptions();
        if (options.User is not null && options.UserPassword is null)
        {
            throw new ArgumentException("RedisServerOptions.User needs a UserPassword.", nameof(options));
        }
        var ownsDirectory = options.DataDirectory is null;
        var dir = options.DataDirectory ?? Directory.CreateTempSubdirectory("synthvlm-redis-").FullName;
        Directory.CreateDirectory(dir);
        var server = new RedisServer(options, FreePort.Next(), dir, ownsDirectory);
        try
        {
            await server.StartProcessAsync(cancellationToken);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    /// <summary>Kills the process at once (SIGKILL), as a crash would.</summary>
    public void Kill()
    {
        var process = _process;
        if (process is { HasExited: false })
        {
            process.Kill();
            process.WaitForExit(5000);
        }
    }

    /// <summary>Asks the server to shut down (SHUTDOWN, which fsyncs the AOF), killing it if it does not exit in time.</summary>
    public async Task StopAsync(CancellationToken cancellationToken = default)
    {
        var process = _process;
        if (process is not { HasExited: false })
        {
            return;
        }
        try
        {
            await SendRawAsync("SHUTDOWN", cancellationToken);
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            // SHUTDOWN closes the socket without a reply.
        }
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            await process.WaitForExitAsync(wait.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    /// <summary>Stops the server if it runs, then starts it again on the same port and data folder (the AOF is replayed).</summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        await StopAsync(cancellationToken);
        _process?.Dispose();
        _process = null;
        await StartProcessAsync(cancellationToken);
    }

    /// <summary>Kills the process and removes the temporary data folder.</summary>
    public ValueTask DisposeAsync()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // Never started.
        }
        _process?.Dispose();
        _process = null;
        if (_ownsDirectory)
        {
            try
            {
                Directory.Delete(DataDirectory, recursive: true);
            }
            catch (IOException)
            {
                // A file still held open; the temp folder is cleaned by the OS eventually.
            }
        }
        return ValueTask.CompletedTask;
    }

    private async Task StartProcessAsync(CancellationToken cancellationToken)
    {
        var exe = FindExecutable() ?? throw new InvalidOperationException("redis-server not found on PATH or /usr/bin; run eng/provision.sh");
        var psi = new ProcessStartInfo(exe)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = DataDirectory,
        };
        foreach (var arg in BuildArguments())
        {
            psi.ArgumentList.Add(arg);
        }
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var deadline = DateTime.UtcNow + _options.StartTimeout;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (process.HasExited)
            {
                throw new InvalidOperationException($"redis-server exited with code {process.ExitCode} at start-up:\n{Output}");
            }
            try
            {
                var reply = await SendRawAsync("PING", cancellationToken);
                // NOAUTH means it is up and wants a password; LOADING means the AOF is still replaying.
                if (reply.StartsWith("+PONG", StringComparison.Ordinal) || reply.StartsWith("-NOAUTH", StringComparison.Ordinal))
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // Not listening yet.
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException($"redis-server on port {Port} did not answer PING within {_options.StartTimeout}:\n{Output}");
            }
            await Task.Delay(20, cancellationToken);
        }
    }

    private List<string> BuildArguments()
    {
        var args = new List<string>
        {
            "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--bind", "127.0.0.1",
            "--save", "",
            "--dir", DataDirectory,
            "--daemonize", "no",
            "--appendonly", _options.AppendOnly ? "yes" : "no",
            "--appendfsync", _options.AppendFsync,
        };
        if (_options.Password is not null)
        {
            args.AddRange(["--requirepass", _options.Password]);
        }
        if (_options.User is not null)
        {
            args.AddRange(["--user", _options.User, "on", ">" + _options.UserPassword, "~*", "&*", "+@all"]);
        }
        args.AddRange(_options.ExtraArguments);
        return args;
    }

    private async Task<string> SendRawAsync(string command, CancellationToken cancellationToken)
    {
        using var client = new TcpClient();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(2));
        try
        {
            await client.ConnectAsync("127.0.0.1", Port, timeout.Token);
            var stream = client.GetStream();
            var request = new StringBuilder();
            if (_options.Password is not null)
            {
                request.Append(Resp("AUTH", _options.Password));
            }
            request.Append(Resp(command));
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()), timeout.Token);
            var buffer = new byte[512];
            var text = new StringBuilder();
            var expectedLines = _options.Password is null ? 1 : 2;
            while (text.ToString().Split("\r\n").Length <= expectedLines)
            {
                var n = await stream.ReadAsync(buffer, timeout.Token);
                if (n == 0)
                {
                    throw new IOException("redis-server closed the connection.");
                }
                text.Append(Encoding.UTF8.GetString(buffer, 0, n));
            }
            // The last line answers the command; an AUTH reply may precede it.
            return text.ToString().Split("\r\n")[expectedLines - 1];
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new IOException($"redis-server on port {Port} did not answer {command} in time.");
        }
    }

    private static string Resp(params string[] parts)
    {
        var sb = new StringBuilder().Append('*').Append(parts.Length).Append("\r\n");
        foreach (var p in parts)
        {
            sb.Append('$').Append(Encoding.UTF8.GetByteCount(p)).Append("\r\n").Append(p).Append("\r\n");
        }
        return sb.ToString();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
