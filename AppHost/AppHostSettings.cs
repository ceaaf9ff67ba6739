using System.Globalization;
using System.Reflection;
using SynthVlm.Protos.V1;

namespace SynthVlm.AppHost;

/// <summary>What the AppHost was asked to do.</summary>
internal enum AppHostVerb
{
    /// <summary>Start the cluster and keep it running until Ctrl+C.</summary>
    Cluster,

    /// <summary>Submit a run to the cluster (started for it, or one already running) and follow it.</summary>
    Run,

    /// <summary>Write the cluster model as deployment manifests (Kubernetes).</summary>
    Publish,
}

/// <summary>The AppHost's command line: an optional verb, replicas per service, an external Redis, OTLP, and a run's config.</summary>
internal sealed class AppHostSettings
{
    /// <summary>The help text (also printed by --help).</summary>
    public const string Usage = """
        Usage: dotnet run --project AppHost [-- [run|publish] options]
          (no verb)                    start the local cluster and keep it running until Ctrl+C
          run                          submit a run to the cluster running on --data-dir, or start one for it
                                       (service output goes to {data-dir}/logs/), show per-stage progress,
                                       print the summary; exit 0 when the run completed, 1 otherwise
          publish                      write the same cluster as Kubernetes manifests (nothing starts); takes
                                       --replicas, --redis and --otlp (environment defaults are not used)
        Cluster options:
          --replicas NAME=N[,NAME=N]   replicas per service (e.g. diffusion=4); repeatable
          --redis CONNECTION           use an existing Redis (host:port[,password=...]) instead of starting one
          --model DIR                  diffusion base model: an SDXL or SD3 ONNX folder, picked by its model_index.json
                                       (SynthVlm:Diffusion:BaseModel; no refiner unless SynthVlm__Diffusion__RefinerModel says)
          --skip-t5                    with an SD3 --model: leave text_encoder_3 (T5-XXL) unloaded, its rows zeros, as
                                       diffusers' text_encoder_3=None (SynthVlm:Diffusion:SkipT5; saves its memory)
          --blip-model DIR             BLIP ITM folder (itm.onnx, vocab.txt, blip_itm.json; eng/export_blip_itm.py) for
                                       runs with image–text matching (SynthVlm:Curation:BlipModel)
          --redis-mode auto|container|executable
                                       how the AppHost runs Redis: Aspire.Hosting.Redis's container, or a
                                       redis-server executable with AOF in {data-dir}/redis (default auto:
                                       the container when `docker info` answers, else the executable)
          --otlp URL                   send services' telemetry to this OTLP endpoint
          --data-dir DIR               Redis AOF, blob store and default models (default: .synthvlm/ in the repository)
          --exit-when-healthy          start everything, report, then stop (smoke test; not with run)
          --start-timeout SECONDS      how long replicas get to become healthy (default 180)
          --dashboard-port N           the Aspire dashboard's port (default 18888; 0 = any free port)
          --otlp-port N                the dashboard's OTLP/HTTP receiver port (default 18889; 0 = any free port)
          --dashboard-address ADDR     address the dashboard binds (default 127.0.0.1; anything else exposes it
                                       to the network with only the token protecting it)
          --no-dashboard               start no dashboard (services export to --otlp, if given)
        Run options:
          --captions FILE              caption pool (required): SynthVLM JSON [{"id","caption"}], JSONL, CSV/TSV, LLaVA JSON
          --out DIR                    dataset folder, new or empty (default: {data-dir}/datasets/{run id})
          --run-id ID                  1 to 64 letters, digits, '.', '_', '-' (default: generated); same id and config = same run
          --variants N                 images per caption, 1 to 64 (default 2)
          --top-k K                    keep the best K captions (default: all)
          --top-fraction F             or keep this fraction of them, 0 < F <= 1
          --lambda X                   weight of SSIMScore in CLIPScore + X*SSIMScore, 0 to 10 (default 0.5)
          --clip-only                  rank by CLIPScore alone, as the official SynthVLM code does
          --seed N                     run seed; each image's seed derives from (seed, caption id, variant)
          --steps N                    denoising steps, 1 to 1000 (default: the model's)
          --guidance X                 classifier-free guidance scale, 0 to 100 (default: the diffusion service's)
          --size WxH                   image size, multiples of 8 up to 4096 (default: the model's)
          --image-format png|jpeg|webp dataset image format (default png)
          --keep-duplicates            keep exact-duplicate captions (dropped by default)
          --skip-filters               turn the caption rule filters off
          --itm-min P                  drop captions whose original image BLIP image–text matching scores below P
                                       (the paper's 0.8; needs --blip-model); only captions that come with images
          --train                      then train LLaVA stage 1 (projector) on the dataset (TrainingService) and
                                       follow it; the base model is the service's AutoTrain one, else the tiny LLaVA
          --train-model DIR            base LLaVA folder for --train (either layout)
          --train-batch N              global batch of --train (default LLaVA's 256)
          --train-steps N              stop --train after N optimizer steps (default: one epoch)
          --eval DIR                   then evaluate the trained model (EvalService) on the benchmarks in DIR
                                       (LLaVA's playground/data/eval layout; implies --train) and print the table
          --eval-only NAME[,NAME]      only these benchmarks (default: every benchmark folder in DIR)
        Publish options:
          --target kubernetes          the manifest format (required)
          --out DIR                    new or empty folder for the YAML files (required; never overwritten)
          --image-registry R           images are R/synthvlm-{service}:{tag} (default: no registry prefix)
          --image-tag T                image tag (default latest)
          --namespace N                namespace of every object, created by 00-namespace.yaml (default synthvlm)
          --redis CONNECTION           an external Redis (only its Secret is written); default: a Redis
                                       StatefulSet with AOF and a generated password
          --gpu NAME=N[,NAME=N]|none   nvidia.com/gpu per replica (default diffusion=1,scoring=1,training=1)
          --storage-class C            storage class of the shared data volume and Redis's volume
          --data-size SIZE             shared ReadWriteMany data volume (default 100Gi)
          --keda-lag N                 KEDA: scale on consumer-group lag, N entries per replica (default 10)
          --keda-pending N             KEDA: scale on pending (unacknowledged) entries instead
          --keda-max N                 KEDA: most replicas per stage (default 10; at least --replicas)
        Services: curation, diffusion, scoring, selection, training, eval.
        """;

    private const string RunVerb = "run";
    private const string PublishVerb = "publish";

    private readonly Dictionary<string, int> _replicas = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<string> _clusterOptions = [];

    public AppHostVerb Verb { get; private set; } = AppHostVerb.Cluster;

    public string? RedisConnectionString { get; private set; }

    /// <summary>--model: the diffusion base model folder given to the diffusion service (SynthVlm:Diffusion:BaseModel); null keeps its own setting.</summary>
    public string? DiffusionModel { get; private set; }

    /// <summary>--skip-t5: the SD3 base model runs without text_encoder_3 (SynthVlm:Diffusion:SkipT5).</summary>
    public bool SkipT5 { get; private set; }

    /// <summary>--blip-model: the curation service's BLIP ITM model folder (SynthVlm:Curation:BlipModel); null keeps its own setting.</summary>
    public string? BlipModel { get; private set; }

    public Uri? OtlpEndpoint { get; private set; }

    public bool ExitWhenHealthy { get; private set; }

    /// <summary>How Redis runs when no connection string is given.</summary>
    public RedisMode RedisMode { get; private set; } = RedisMode.Auto;

    /// <summary>How long replicas get to become healthy.</summary>
    public TimeSpan StartTimeout { get; private set; } = TimeSpan.FromSeconds(180);

    /// <summary>Whether to start the dashboard (off with --no-dashboard).</summary>
    public bool Dashboard { get; private set; } = true;

    /// <summary>The dashboard's UI port.</summary>
    public int DashboardPort { get; private set; } = 18888;

    /// <summary>The dashboard's OTLP receiver port.</summary>
    public int OtlpPort { get; private set; } = 18889;

    /// <summary>The address the dashboard binds.</summary>
    public System.Net.IPAddress DashboardAddress { get; private set; } = System.Net.IPAddress.Loopback;

    public string DataDirectory { get; private set; } = Path.Combine(RepoRoot, ".synthvlm");

    /// <summary>Where service output goes when it is not echoed (the run verb): {data-dir}/logs.</summary>
    public string LogDirectory => Path.Combine(DataDirectory, "logs");

    /// <summary>The options given that shape a cluster the AppHost starts (they do not change a running one).</summary>
    public IReadOnlyList<string> ClusterOptionsGiven => _clusterOptions;

    /// <summary>The run to submit (the run verb only; validated, paths absolute).</summary>
    public RunConfig? Run { get; private set; }

    /// <summary>What to publish (the publish verb only).</summary>
    public PublishSettings? Publish { get; private set; }

    /// <summary>The repository root, recorded at build time.</summary>
    public static string RepoRoot { get; } =
        typeof(AppHostSettings).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .First(a => a.Key == "SynthVlm.RepoRoot").Value!;

    public int ReplicasOf(ServiceInfo service) => _replicas.GetValueOrDefault(service.Name, 1);

    /// <summary>Parses the arguments; prints one line and returns null when they are wrong.</summary>
    public static AppHostSettings? Parse(string[] args)
    {
        var settings = new AppHostSettings
        {
            RedisConnectionString = NullIfEmpty(Environment.GetEnvironmentVariable(KnownEnvironment.RedisConnectionStringEnv)),
        };
        try
        {
            if (NullIfEmpty(Environment.GetEnvironmentVariable(KnownEnvironment.OtlpEndpoint)) is { } otlpEnv)
            {
                settings.OtlpEndpoint = ParseUrl(KnownEnvironment.OtlpEndpoint, otlpEnv);
            }
            var start = 0;
            if (args.Length > 0 && args[0] == RunVerb)
            {
                settings.Verb = AppHostVerb.Run;
                start = 1;
            }
            else if (args.Length > 0 && args[0] == PublishVerb)
            {
                // Manifests are for other machines: a Redis or collector this shell points at is local.
                settings.Verb = AppHostVerb.Publish;
                settings.RedisConnectionString = null;
                settings.OtlpEndpoint = null;
                start = 1;
            }
            var run = new RunOptionsBuilder();
            var publish = new PublishOptionsBuilder();
            for (var i = start; i < args.Length; i++)
            {
                if (settings.Verb == AppHostVerb.Publish && publish.TryParse(args, ref i))
                {
                    continue;
                }
                switch (args[i])
                {
                    case "--replicas":
                        settings._clusterOptions.Add(args[i]);
                        settings.ParseReplicas(Value(args, ref i));
                        break;
                    case "--model" when settings.Verb != AppHostVerb.Publish:
                        settings._clusterOptions.Add(args[i]);
                        var model = Path.GetFullPath(Value(args, ref i));
                        settings.DiffusionModel = File.Exists(Path.Combine(model, "model_index.json"))
                            ? model
                            : throw new FormatException($"--model: {model} has no model_index.json; expected an optimum ONNX export of SDXL or SD3.");
                        break;
                    case "--blip-model" when settings.Verb != AppHostVerb.Publish:
                        settings._clusterOptions.Add(args[i]);
                        var blip = Path.GetFullPath(Value(args, ref i));
                        settings.BlipModel = File.Exists(Path.Combine(blip, "itm.onnx"))
                            ? blip
                            : throw new FormatException($"--blip-model: {blip} has no itm.onnx; expected a BLIP ITM folder (itm.onnx, vocab.txt, blip_itm.json) as eng/export_blip_itm.py writes it.");
                        break;
                    case "--skip-t5" when settings.Verb != AppHostVerb.Publish:
                        settings._clusterOptions.Add(args[i]);
                        settings.SkipT5 = true;
                        break;
                    case "--redis":
                        settings._clusterOptions.Add(args[i]);
                        settings.RedisConnectionString = Value(args, ref i);
                        break;
                    case "--otlp":
                        settings._clusterOptions.Add(args[i]);
                        settings.OtlpEndpoint = ParseUrl("--otlp", Value(args, ref i));
                        break;
                    case "--redis-mode":
                        settings._clusterOptions.Add(args[i]);
                        var mode = Value(args, ref i);
                        settings.RedisMode = Enum.TryParse<RedisMode>(mode, ignoreCase: true, out var parsed) && !int.TryParse(mode, out _)
                            ? parsed
                            : throw new FormatException($"--redis-mode: '{mode}' is not one of auto, container, executable.");
                        break;
                    case "--start-timeout":
                        var seconds = Value(args, ref i);
                        settings.StartTimeout = int.TryParse(seconds, NumberStyles.None, CultureInfo.InvariantCulture, out var s) && s is >= 1 and <= 3600
                            ? TimeSpan.FromSeconds(s)
                            : throw new FormatException($"--start-timeout: '{seconds}' must be a whole number of seconds from 1 to 3600.");
                        break;
                    case "--data-dir":
                        settings.DataDirectory = Path.GetFullPath(Value(args, ref i));
                        break;
                    case "--dashboard-port":
                        settings.DashboardPort = ParsePort("--dashboard-port", Value(args, ref i));
                        break;
                    case "--otlp-port":
                        settings.OtlpPort = ParsePort("--otlp-port", Value(args, ref i));
                        break;
                    case "--dashboard-address":
                        var address = Value(args, ref i);
                        settings.DashboardAddress = System.Net.IPAddress.TryParse(address, out var ip) ? ip
                            : throw new FormatException($"--dashboard-address: '{address}' is not an IP address.");
                        break;
                    case "--no-dashboard":
                        settings.Dashboard = false;
                        break;
                    case "--exit-when-healthy":
                        settings.ExitWhenHealthy = true;
                        break;
                    case "-h" or "--help":
                        Console.WriteLine(Usage);
                        return null;
                    case RunVerb or PublishVerb:
                        throw new FormatException($"'{args[i]}' must be the first argument.");
                    case var option when settings.Verb == AppHostVerb.Publish:
                        throw new FormatException($"'{option}' is not an option of the publish verb.");
                    case var option when settings.Verb != AppHostVerb.Run && RunOptionsBuilder.Options.Contains(option):
                        throw new FormatException($"{option} is an option of the run verb: dotnet run --project AppHost -- run --captions FILE ...");
                    default:
                        if (!run.TryParse(args, ref i))
                        {
                            throw new FormatException($"unknown option '{args[i]}'.");
                        }
                        break;
                }
            }
            if (settings.SkipT5 && !IsSd3Folder(settings.DiffusionModel))
            {
                throw new FormatException($"--skip-t5 is for a Stable Diffusion 3 base model; give --model DIR with an SD3 export (got {(settings.DiffusionModel is { } m ? $"{m}, whose model_index.json names no StableDiffusion3 pipeline" : "no --model")}).");
            }
            if (settings.Verb == AppHostVerb.Run)
            {
                if (settings.ExitWhenHealthy)
                {
                    throw new FormatException("--exit-when-healthy starts and stops the cluster without a run; it does not go with the run verb.");
                }
                settings.Run = run.Build();
            }
            if (settings.Verb == AppHostVerb.Publish)
            {
                if (settings.ExitWhenHealthy)
                {
                    throw new FormatException("--exit-when-healthy starts a cluster; it does not go with the publish verb.");
                }
                settings.Publish = publish.Build(settings.OtlpEndpoint);
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

    internal static string Value(string[] args, ref int i) =>
        ++i < args.Length ? args[i] : throw new FormatException($"{args[i - 1]} needs a value.");

    /// <summary>Whether <paramref name="model"/>'s model_index.json names a StableDiffusion3 pipeline (as Sd3Model.IsSd3Folder reads it).</summary>
    private static bool IsSd3Folder(string? model)
    {
        if (model is null)
        {
            return false;
        }
        try
        {
            using var index = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(Path.Combine(model, "model_index.json")));
            return index.RootElement.ValueKind == System.Text.Json.JsonValueKind.Object
                && index.RootElement.TryGetProperty("_class_name", out var name) && name.ValueKind == System.Text.Json.JsonValueKind.String
                && name.GetString()!.StartsWith("StableDiffusion3", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            throw new FormatException($"--model: {Path.Combine(model, "model_index.json")} could not be read as JSON: {e.Message}");
        }
    }

    private static int ParsePort(string name, string value) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port <= 65535
            ? port
            : throw new FormatException($"{name}: '{value}' is not a port (0 to 65535).");

    private static Uri ParseUrl(string name, string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var url) && (url.Scheme == Uri.UriSchemeHttp || url.Scheme == Uri.UriSchemeHttps)
            ? url
            : throw new FormatException($"{name}: '{value}' is not an http:// or https:// URL.");

    private static string? NullIfEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
