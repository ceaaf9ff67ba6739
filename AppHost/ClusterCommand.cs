using System.Globalization;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace SynthVlm.AppHost;

/// <summary>
/// The default verb: start the app model (DCP, the Aspire dashboard, Redis, the services), report
/// when every replica is healthy, publish the cluster in {data-dir}/apphost.json so `run` can submit
/// to it, and run until Ctrl+C (or, with --exit-when-healthy, stop once started).
/// </summary>
internal static class ClusterCommand
{
    /// <summary>Runs the verb; 0 when every resource became healthy, 1 otherwise, 2 when it could not start.</summary>
    public static async Task<int> RunAsync(AppHostSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var output = new ClusterConsole();
        SynthVlmCluster cluster;
        try
        {
            cluster = SynthVlmCluster.Create(settings, runVerb: false);
        }
        catch (AppHostStartException e)
        {
            output.Error(e.Message);
            return 2;
        }
        await using (cluster.ConfigureAwait(false))
        {
            output.Info($"Starting SynthVlm: {Describe(cluster)}; Redis is {cluster.Resources.RedisDescription}; service output in {settings.LogDirectory}");
            if (settings.OtlpEndpoint is not null)
            {
                output.Info($"Services send telemetry to {settings.OtlpEndpoint}; the dashboard shows resources and console logs but not their traces, logs or metrics.");
            }
            if (settings.Dashboard && !System.Net.IPAddress.IsLoopback(settings.DashboardAddress))
            {
                output.Warn($"The dashboard listens on {settings.DashboardAddress}, beyond this machine: its login token is its only protection (plain HTTP).");
            }
            using var stopping = new CancellationTokenSource();
            await cluster.App.StartAsync().ConfigureAwait(false);
            var lifetime = cluster.App.Services.GetRequiredService<IHostApplicationLifetime>();
            using var onStop = lifetime.ApplicationStopping.Register(stopping.Cancel);

            IReadOnlyList<string> unhealthy;
            try
            {
                unhealthy = await cluster.WaitForHealthyAsync(settings.StartTimeout, stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                output.Info("Stopping (interrupted during start)...");
                await cluster.StopAsync().ConfigureAwait(false);
                output.Info("Stopped.");
                return 130;
            }
            output.WriteLine(Table(cluster));
            output.Info(unhealthy.Count == 0
                ? $"All {cluster.ExpectedReplicas} resources healthy. Press Ctrl+C to stop."
                : $"Running with unhealthy resources: {string.Join(", ", unhealthy)}. Press Ctrl+C to stop.");
            if (cluster.DashboardLogin is { } login)
            {
                output.Info($"Dashboard: {login}");
            }

            // Published only while the front door answers, so `run` never submits into a cluster that cannot take it.
            var published = !unhealthy.Contains(KnownServices.Curation.Name)
                && RunningCluster.TryPublish(settings.DataDirectory, cluster.CurationGrpc, cluster.TrainingGrpc, cluster.EvalGrpc, output, cluster.RecaptionGrpc);
            try
            {
                if (!settings.ExitWhenHealthy)
                {
                    await cluster.App.WaitForShutdownAsync().ConfigureAwait(false);
                }
            }
            finally
            {
                if (published)
                {
                    RunningCluster.Unpublish(settings.DataDirectory);
                }
            }
            output.Info("Stopping...");
            await cluster.StopAsync().ConfigureAwait(false);
            output.Info($"Stopped {cluster.Supervisor.Replicas.Count} processes.");
            return unhealthy.Count == 0 ? 0 : 1;
        }
    }

    /// <summary>"redis, curation, diffusion×4, …".</summary>
    public static string Describe(SynthVlmCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        return string.Join(", ", KnownServices.All.Select(s => cluster.Settings.ReplicasOf(s) is var n && n > 1 ? $"{s.Name}×{n}" : s.Name)
            .Prepend(SynthVlmAppModel.RedisName).Append(SynthVlmAppModel.WebName));
    }

    /// <summary>The replicas with their state, pid and restarts.</summary>
    public static string Table(SynthVlmCluster cluster)
    {
        ArgumentNullException.ThrowIfNull(cluster);
        var table = new StringBuilder();
        table.AppendLine();
        table.AppendLine(CultureInfo.InvariantCulture, $"  {"REPLICA",-22} {"STATE",-10} {"PID",-8} RESTARTS");
        foreach (var r in cluster.Supervisor.Replicas.Values.OrderBy(r => r.Name, StringComparer.Ordinal))
        {
            table.AppendLine(CultureInfo.InvariantCulture, $"  {r.Name,-22} {r.State,-10} {r.Pid?.ToString(CultureInfo.InvariantCulture) ?? "-",-8} {r.Restarts}");
        }
        table.AppendLine();
        table.AppendLine(CultureInfo.InvariantCulture, $"  {"RESOURCE",-22} ENDPOINTS (DCP's proxy, spread over the replicas)");
        foreach (var project in cluster.Resources.Projects)
        {
            var endpoints = project.Resource.Annotations.OfType<Aspire.Hosting.ApplicationModel.EndpointAnnotation>()
                .Where(e => e.AllocatedEndpoint is not null && e.UriScheme != "https")
                .Select(e => $"{e.Name.ToLowerInvariant()}={e.AllocatedEndpoint!.UriString}");
            table.AppendLine(CultureInfo.InvariantCulture, $"  {project.Resource.Name,-22} {string.Join("  ", endpoints)}");
        }
        return table.ToString();
    }
}
