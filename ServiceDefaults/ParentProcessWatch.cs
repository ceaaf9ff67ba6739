using System.Globalization;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace SynthVlm.ServiceDefaults;

/// <summary>
/// When a supervisor (the AppHost) says who it is through SYNTHVLM_PARENT_PID, the service stops
/// itself if that process disappears, so a killed AppHost never leaves orphaned replicas behind.
/// </summary>
public sealed partial class ParentProcessWatch(IConfiguration configuration, IHostApplicationLifetime lifetime, ILogger<ParentProcessWatch> logger) : BackgroundService
{
    /// <summary>The variable naming the supervising process.</summary>
    public const string ParentPidKey = KnownEnvironment.ParentPid;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!int.TryParse(configuration[ParentPidKey], NumberStyles.None, CultureInfo.InvariantCulture, out var parentPid) || parentPid <= 0)
        {
            return;
        }
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            if (!IsAlive(parentPid))
            {
                LogParentGone(logger, parentPid);
                lifetime.StopApplication();
                return;
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = System.Diagnostics.Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    [LoggerMessage(EventId = 300, Level = LogLevel.Warning, Message = "Supervising process {Pid} is gone; stopping")]
    private static partial void LogParentGone(ILogger logger, int pid);
}
