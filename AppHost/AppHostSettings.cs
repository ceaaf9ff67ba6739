using System.Globalization;
using System.Reflection;

namespace SynthVlm.AppHost;

/// <summary>The AppHost's command line: replicas per service, an external Redis, OTLP.</summary>
internal sealed class AppHostSettings
{
    private const string Usage = """
        Usage: dotnet run --project AppHost [-- options]
          --replicas NAME=N[,NAME=N]   replicas per service (e.g. diffusion=4); repeatable
          --redis CONNECTION           use an existing Redis (host:port[,password=...]) instead of starting one
          --otlp URL                   send services' telemetry to this OTLP endpoint
          --data-dir DIR               Redis AOF, blob store and default models (default: .synthvlm/ in the repository)
          --exit-when-healthy          start everything, report, then stop (smoke test)
        Services: curation, diffusion, scoring, selection, training, eval.
        """;

    private readonly Dictionary<string, int> _replicas = new(StringComparer.OrdinalIgnoreCase);

    public string? RedisConnectionString { get; private set; }

    public Uri? OtlpEndpoint { get; private set; }

    public bool ExitWhenHealthy { get; private set; }

    public string DataDirectory { get; private set; } = Path.Combine(RepoRoot, ".synthvlm");

    /// <summary>The repository root, recorded at build time.</summary>
    public static string RepoRoot { get; } =
        typeof(AppHostSettings).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "SynthVlm.RepoRoot").Value!;

    private static string Configuration { get; } =
        typeof(AppHostSettings).Assembly.GetCustomAttribute<AssemblyConfigurationAttribute>()?.Configuration ?? "Debug";

    /// <summary>Where the build put <paramref name="service"/>'s assembly.</summary>
    public static string ServiceAssembly(ServiceInfo service) =>
        Path.Combine(RepoRoot, service.ProjectName, "bin", Configuration, "net10.0", service.ProjectName + ".dll");

    public int ReplicasOf(ServiceInfo service) => _replicas.GetValueOrDefault(service.Name, 1);

    /// <summary>Parses the arguments; prints one line and returns null when they are wrong.</summary>
    public static AppHostSettings? Parse(string[] args)
    {
        var settings = new AppHostSettings
        {
            RedisConnectionString = NullIfEmpty(Environment.GetEnvironmentVariable(KnownEnvironment.RedisConnectionStringEnv)),
        };
        if (NullIfEmpty(Environment.GetEnvironmentVariable(KnownEnvironment.OtlpEndpoint)) is { } otlpEnv)
        {
            settings.OtlpEndpoint = ParseUrl(KnownEnvironment.OtlpEndpoint, otlpEnv);
        }
        try
        {
            for (var i = 0; i < args.Length; i++)
            {
                switch (args[i])
                {
                    case "--replicas":
                        settings.ParseReplicas(Value(args, ref i));
                        break;
                    case "--redis":
                        settings.RedisConnectionString = Value(args, ref i);
                        break;
                    case "--otlp":
                        settings.OtlpEndpoint = ParseUrl("--otlp", Value(args, ref i));
                        break;
                    case "--data-dir":
                        settings.DataDirectory = Path.GetFullPath(Value(args, ref i));
                        break;
                    case "--exit-when-healthy":
                        settings.ExitWhenHealthy = true;
                        break;
                    case "-h" or "--help":
                        Console.WriteLine(Usage);
                        return null;
                    default:
                        throw new FormatException($"unknown option '{args[i]}'.");
                }
            }
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"AppHost: {e.Message} Run with --help for the options.");
            return null;
        }
        return settings;
    }

    private void ParseReplicas(string value)
    {
        foreach (var part in value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = part.IndexOf('=', StringComparison.Ordinal);
            var name = eq < 0 ? part : part[..eq];
            var service = KnownServices.Find(name)
                ?? throw new FormatException($"--replicas: '{name}' is not a service; expected one of {string.Join(", ", KnownServices.All.Select(s => s.Name))}.");
            if (eq < 0 || !int.TryParse(part[(eq + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n is < 1 or > 64)
            {
                throw new FormatException($"--replicas: '{part}' must be NAME=N with N from 1 to 64.");
            }
            _replicas[service.Name] = n;
        }
    }

    private static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value.");

    private static Uri ParseUrl(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
            ? url
            : throw new FormatException($"{name}: '{value}' is not an http:// or https:// URL.");

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
