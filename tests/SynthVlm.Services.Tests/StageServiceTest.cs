using SynthVlm.Testing;
using Xunit;

namespace SynthVlm.Services.Tests;

/// <summary>
/// A test of one stage service as a real process over its own temporary data folder, with a
/// password-protected redis-server when a test asks for one; everything is stopped and deleted after.
/// </summary>
public abstract class StageServiceTest(ServiceInfo service, string folderPrefix) : IAsyncLifetime
{
    private ServiceProcess? _service;

    /// <summary>The service's data folder.</summary>
    protected DirectoryInfo Data { get; private set; } = null!;

    /// <summary>The Redis server a test started with <see cref="StartRedisAsync"/>, or null.</summary>
    protected RedisServer? Redis { get; private set; }

    /// <summary>Creates the data folder, then <see cref="PrepareAsync"/>.</summary>
    public Task InitializeAsync()
    {
        Data = Directory.CreateTempSubdirectory(folderPrefix);
        return PrepareAsync();
    }

    /// <summary>Stops the service and Redis and deletes the data folder.</summary>
    public async Task DisposeAsync()
    {
        if (_service is not null)
        {
            await _service.DisposeAsync();
        }
        if (Redis is not null)
        {
            await Redis.DisposeAsync();
        }
        Data.Delete(recursive: true);
    }

    /// <summary>What the test class writes into <see cref="Data"/> before each test.</summary>
    protected virtual Task PrepareAsync() => Task.CompletedTask;

    /// <summary>Starts a redis-server with <paramref name="password"/>.</summary>
    protected async Task<RedisServer> StartRedisAsync(string password) =>
        Redis = await RedisServer.StartAsync(new RedisServerOptions { Password = password });

    /// <summary>Starts the service on <see cref="Data"/> with <paramref name="extra"/> environment; returns its gRPC address.</summary>
    protected async Task<Uri> StartServiceAsync(Dictionary<string, string?>? extra = null)
    {
        var environment = new Dictionary<string, string?> { [KnownEnvironment.DataDirectory] = Data.FullName };
        foreach (var (key, value) in extra ?? [])
        {
            environment[key] = value;
        }
        _service = await ServiceProcess.StartAsync(service, environment);
        return _service.GrpcAddress;
    }
}
