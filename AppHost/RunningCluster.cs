using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace SynthVlm.AppHost;

/// <summary>
/// {data-dir}/apphost.json: the default verb publishes its pid and the curation and training
/// services' gRPC URLs there while it runs, so that `run` submits to that cluster instead of
/// starting a second one on the same data folder (and the same Redis AOF).
/// </summary>
/// <param name="Pid">The AppHost process.</param>
/// <param name="CurationGrpc">Where Runs is served.</param>
/// <param name="TrainingGrpc">Where Training is served (null in a file written before it was published).</param>
/// <param name="EvalGrpc">Where Eval is served (null in a file written before it was published).</param>
/// <param name="RecaptionGrpc">Where Recaption is served (null in a file written before it was published).</param>
internal sealed record RunningCluster(int Pid, Uri CurationGrpc, Uri? TrainingGrpc, Uri? EvalGrpc, Uri? RecaptionGrpc = null)
{
    /// <summary>The file name in the data folder.</summary>
    public const string FileName = "apphost.json";

    private const string PidProperty = "pid";
    private const string CurationGrpcProperty = "curationGrpc";
    private const string TrainingGrpcProperty = "trainingGrpc";
    private const string EvalGrpcProperty = "evalGrpc";
    private const string RecaptionGrpcProperty = "recaptionGrpc";
    private const string StartedProperty = "started";
    private static readonly TimeSpan HealthDeadline = TimeSpan.FromSeconds(5);

    /// <summary>Writes the file (atomically); false, with a warning, when it cannot be written.</summary>
    public static bool TryPublish(string dataDirectory, Uri curationGrpc, Uri trainingGrpc, Uri evalGrpc, ClusterConsole output, Uri? recaptionGrpc = null)
    {
        ArgumentNullException.ThrowIfNull(evalGrpc);
        ArgumentNullException.ThrowIfNull(curationGrpc);
        ArgumentNullException.ThrowIfNull(trainingGrpc);
        ArgumentNullException.ThrowIfNull(output);
        var path = Path.Combine(dataDirectory, FileName);
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        try
        {
            Directory.CreateDirectory(dataDirectory);
            using (var stream = File.Create(temporary))
            using (var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                json.WriteStartObject();
                json.WriteNumber(PidProperty, Environment.ProcessId);
                json.WriteString(CurationGrpcProperty, curationGrpc.ToString().TrimEnd('/'));
                json.WriteString(TrainingGrpcProperty, trainingGrpc.ToString().TrimEnd('/'));
                json.WriteString(EvalGrpcProperty, evalGrpc.ToString().TrimEnd('/'));
                if (recaptionGrpc is not null)
                {
                    json.WriteString(RecaptionGrpcProperty, recaptionGrpc.ToString().TrimEnd('/'));
                }
                json.WriteString(StartedProperty, DateTime.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                json.WriteEndObject();
            }
            File.Move(temporary, path, overwrite: true);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            output.Warn($"could not write {path} ({e.Message}); `run` will not find this cluster.");
            File.Delete(temporary);
            return false;
        }
    }

    /// <summary>Deletes the file if it is still this process's.</summary>
    public static void Unpublish(string dataDirectory)
    {
        var path = Path.Combine(dataDirectory, FileName);
        try
        {
            if (Read(path)?.Pid == Environment.ProcessId)
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A stale file is harmless: its pid is checked before it is trusted.
        }
    }

    /// <summary>The published cluster of <paramref name="dataDirectory"/>, or null when there is no file or its process is gone.</summary>
    /// <exception cref="InvalidDataException">The file exists but is not what the AppHost writes.</exception>
    public static RunningCluster? Find(string dataDirectory)
    {
        var cluster = Read(Path.Combine(dataDirectory, FileName));
        return cluster is not null && IsAlive(cluster.Pid) ? cluster : null;
    }

    /// <summary>Whether the curation service answers the gRPC health check with SERVING.</summary>
    public async Task<bool> IsServingAsync(CancellationToken cancellationToken)
    {
        using var channel = GrpcChannel.ForAddress(CurationGrpc);
        try
        {
            var response = await new Health.HealthClient(channel).CheckAsync(
                new HealthCheckRequest { Service = KnownServices.Curation.Name },
                deadline: DateTime.UtcNow + HealthDeadline, cancellationToken: cancellationToken).ConfigureAwait(false);
            return response.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException)
        {
            return false;
        }
    }

    private static RunningCluster? Read(string path)
    {
        if (!File.Exists(path))
        {
            return null;
        }
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = document.RootElement;
            if (root.ValueKind == JsonValueKind.Object
                && root.TryGetProperty(PidProperty, out var pid) && pid.TryGetInt32(out var pidValue) && pidValue > 0
                && root.TryGetProperty(CurationGrpcProperty, out var url) && url.ValueKind == JsonValueKind.String
                && Uri.TryCreate(url.GetString(), UriKind.Absolute, out var uri) && IsHttp(uri))
            {
                return new RunningCluster(pidValue, uri, OptionalUrl(root, TrainingGrpcProperty), OptionalUrl(root, EvalGrpcProperty), OptionalUrl(root, RecaptionGrpcProperty));
            }
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path} is not valid JSON ({e.Message}); delete it if no AppHost is running on this data folder.", e);
        }
        catch (FileNotFoundException)
        {
            // Deleted by its AppHost between the check and the read.
            return null;
        }
        throw new InvalidDataException($"{path} lacks a positive \"{PidProperty}\" or an http(s) \"{CurationGrpcProperty}\"; delete it if no AppHost is running on this data folder.");
    }

    private static Uri? OptionalUrl(JsonElement root, string property) =>
        root.TryGetProperty(property, out var value) && value.ValueKind == JsonValueKind.String
            && Uri.TryCreate(value.GetString(), UriKind.Absolute, out var uri) && IsHttp(uri) ? uri : null;

    private static bool IsHttp(Uri uri) => uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps;

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }
}
