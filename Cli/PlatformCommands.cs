using System.CommandLine;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using SynthVlm.Protos.V1;
using HealthClient = Grpc.Health.V1.Health.HealthClient;
using WorkerClient = SynthVlm.Protos.V1.Worker.WorkerClient;
using SynthVlm.Streams;

namespace SynthVlm.Cli;

/// <summary>Commands that look at the running platform: health, worker status, queues.</summary>
internal static class PlatformCommands
{
    private static readonly JsonFormatter Json = new(JsonFormatter.Settings.Default.WithFormatDefaultValues(true));

    private static Option<Uri> AddressOption() => new("--address", "-a")
    {
        Description = "The service's gRPC endpoint, e.g. http://127.0.0.1:5103 (see the AppHost's table).",
        Required = true,
        CustomParser = r =>
        {
            var text = r.Tokens.Single().Value;
            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                return uri;
            }
            r.AddError($"--address: '{text}' is not an http:// or https:// URL.");
            return null;
        },
    };

    private static Option<double> TimeoutOption() => new("--timeout")
    {
        Description = "Deadline of the call in seconds.",
        DefaultValueFactory = _ => 10,
    };

    /// <summary>`synthvlm health --address URL [--service NAME]`: grpc.health.v1 Check; exit 0 when SERVING.</summary>
    public static Command Health()
    {
        var address = AddressOption();
        var timeout = TimeoutOption();
        var service = new Option<string>("--service") { Description = "The service name to check; empty means the whole server.", DefaultValueFactory = _ => string.Empty };
        var command = new Command("health", "Ask a service's grpc.health.v1 endpoint whether it is serving.") { address, service, timeout };
        command.SetAction(async (parse, ct) =>
        {
            using var channel = GrpcChannel.ForAddress(parse.GetRequiredValue(address));
            return await CallAsync(async () =>
            {
                var reply = await new HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = parse.GetValue(service) ?? string.Empty },
                    deadline: DateTime.UtcNow.AddSeconds(parse.GetValue(timeout)), cancellationToken: ct).ConfigureAwait(false);
                Console.WriteLine(Json.Format(reply));
                return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
            }).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>`synthvlm worker status --address URL [--watch --interval-ms N]`: the Worker service's status as JSON lines.</summary>
    public static Command Worker()
    {
        var address = AddressOption();
        var timeout = TimeoutOption();
        var watch = new Option<bool>("--watch") { Description = "Keep printing updates until Ctrl+C." };
        var interval = new Option<uint>("--interval-ms") { Description = "Interval between updates with --watch.", DefaultValueFactory = _ => 1000 };
        var status = new Command("status", "Print a service replica's status: identity, Redis, its queues.") { address, timeout, watch, interval };
        status.SetAction(async (parse, ct) =>
        {
            using var channel = GrpcChannel.ForAddress(parse.GetRequiredValue(address));
            var client = new WorkerClient(channel);
            return await CallAsync(async () =>
            {
                if (!parse.GetValue(watch))
                {
                    var reply = await client.GetStatusAsync(new GetWorkerStatusRequest(),
                        deadline: DateTime.UtcNow.AddSeconds(parse.GetValue(timeout)), cancellationToken: ct).ConfigureAwait(false);
                    Console.WriteLine(Json.Format(reply));
                    return 0;
                }
                using var call = client.WatchStatus(new WatchWorkerStatusRequest { IntervalMs = parse.GetValue(interval) }, cancellationToken: ct);
                await foreach (var update in call.ResponseStream.ReadAllAsync(ct).ConfigureAwait(false))
                {
                    Console.WriteLine(Json.Format(update));
                }
                return 0;
            }).ConfigureAwait(false);
        });
        return new Command("worker", "Inspect a service replica.") { status };
    }

    /// <summary>`synthvlm queue info --redis CONN [--stream S --group G]`: a stream's length, pending and lag.</summary>
    public static Command Queue()
    {
        var redis = new Option<string>("--redis")
        {
            Description = $"Redis connection string (host:port[,password=...]); defaults to {KnownEnvironment.RedisConnectionStringEnv}.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable(KnownEnvironment.RedisConnectionStringEnv) ?? string.Empty,
        };
        var stage = new Option<string?>("--stage") { Description = "A stage name: shows its input stream and consumer group. Without it, every stage." };
        var info = new Command("info", "Print each stage queue's length, pending and lag as JSON lines.") { redis, stage };
        info.SetAction(async (parse, ct) =>
        {
            var connectionString = parse.GetValue(redis);
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                await Console.Error.WriteLineAsync($"queue info: no Redis given; pass --redis host:port or set {KnownEnvironment.RedisConnectionStringEnv}.").ConfigureAwait(false);
                return 2;
            }
            try
            {
                IReadOnlyList<ServiceInfo> stages = KnownServices.All;
                if (parse.GetValue(stage) is { } name)
                {
                    stages = KnownServices.Find(name) is { } found ? [found]
                        : throw new ArgumentException($"--stage: '{name}' is not a stage; expected one of {string.Join(", ", KnownServices.All.Select(s => s.Name))}.");
                }
                await using var connection = await RedisConnections.ConnectAsync(RedisConnectionOptions.Parse(connectionString)).WaitAsync(ct).ConfigureAwait(false);
                var inspector = new StreamQueueInspector(connection.GetDatabase());
                foreach (var s in stages)
                {
                    var q = await inspector.GetQueueInfoAsync(s.InputStream, s.ConsumerGroup, ct).ConfigureAwait(false);
                    Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                    {
                        stage = s.Name, stream = s.InputStream, group = s.ConsumerGroup,
                        length = q.Length, pending = q.Pending, lag = q.Lag, consumers = q.Consumers, groupExists = q.GroupExists,
                    }));
                }
                return 0;
            }
            catch (Exception e) when (RedisConnections.IsRedisFailure(e) || e is FormatException or ArgumentException)
            {
                await Console.Error.WriteLineAsync($"queue info: {e.Message}").ConfigureAwait(false);
                return 1;
            }
        });
        return new Command("queue", "Inspect the Redis stream queues between stages.") { info };
    }

    private static async Task<int> CallAsync(Func<Task<int>> call)
    {
        try
        {
            return await call().ConfigureAwait(false);
        }
        catch (RpcException e)
        {
            await Console.Error.WriteLineAsync($"{e.StatusCode}: {e.Status.Detail}").ConfigureAwait(false);
            return 1;
        }
    }
}
