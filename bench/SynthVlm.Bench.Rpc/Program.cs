using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SynthVlm.Bench.Rpc;
using SynthVlm.Bench.Rpc.Protos;

// Unary round trips/s on loopback at concurrency 1 and 16, every pairing of client and server:
//   grpc-dotnet client (Grpc.Net.Client) and Python grpcio asyncio client (bench_grpcio.py),
//   grpc-dotnet server (Grpc.AspNetCore on Kestrel, in this process) and grpcio asyncio server
//   (a second Python process),
// with the same request bytes. The ratios compare the two clients on the same grpc-dotnet
// server, and the all-.NET pair with the all-grpcio pair. Rows are interleaved and the run
// repeated, keeping each cell's best, so load from other processes on a shared machine skews
// the ratios less than one long sequential run would.
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 3.0;
var warmup = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 1.0;
var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
int[] concurrencies = [1, 16];
var request = new EchoMessage { Text = "synthvlm bench payload", Id = 42 };
var requestBytes = request.ToByteArray();

Console.WriteLine($"Unary echo, {requestBytes.Length}-byte message, loopback h2c, {seconds:0.#} s measured after {warmup:0.#} s warm-up per cell, best of {rounds} rounds; {Environment.ProcessorCount} cores.");

string[] pairs = ["dotnet->dotnet", "grpcio->dotnet", "dotnet->grpcio", "grpcio->grpcio"];
var best = pairs.ToDictionary(p => p, _ => new Dictionary<int, double>());
await using (var server = await BenchServer.StartAsync())
await using (var grpcioServer = await GrpcioServer.StartAsync())
{
    using var dotnetChannel = GrpcChannel.ForAddress(server.Address);
    using var grpcioChannel = GrpcChannel.ForAddress(new Uri($"http://{grpcioServer.Target}"));
    var toDotnet = new BenchService.BenchServiceClient(dotnetChannel);
    var toGrpcio = new BenchService.BenchServiceClient(grpcioChannel);
    for (var round = 0; round < rounds; round++)
    {
        foreach (var concurrency in concurrencies)
        {
            Keep("dotnet->dotnet", concurrency, await Measure.RunAsync("dotnet->dotnet", concurrency, warmup, seconds, () => Echo(toDotnet)));
            Keep("grpcio->dotnet", concurrency, await Measure.GrpcioAsync("grpcio->dotnet", requestBytes, server.Address.Authority, seconds, warmup, concurrency));
            Keep("dotnet->grpcio", concurrency, await Measure.RunAsync("dotnet->grpcio", concurrency, warmup, seconds, () => Echo(toGrpcio)));
            Keep("grpcio->grpcio", concurrency, await Measure.GrpcioAsync("grpcio->grpcio", requestBytes, grpcioServer.Target, seconds, warmup, concurrency));
        }
    }
}

Console.WriteLine();
Console.WriteLine("calls/s, client->server:");
Console.WriteLine("| concurrency | grpc-dotnet->grpc-dotnet | grpcio->grpc-dotnet | grpc-dotnet->grpcio | grpcio->grpcio | clients on the grpc-dotnet server (dotnet/grpcio) | all grpc-dotnet / all grpcio |");
Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
foreach (var c in concurrencies)
{
    double Get(string pair) => best[pair].GetValueOrDefault(c, double.NaN);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {c} | {Get("dotnet->dotnet"):0} | {Get("grpcio->dotnet"):0} | {Get("dotnet->grpcio"):0} | {Get("grpcio->grpcio"):0} | {Get("dotnet->dotnet") / Get("grpcio->dotnet"):0.00} | {Get("dotnet->dotnet") / Get("grpcio->grpcio"):0.00} |"));
}

void Keep(string pair, int concurrency, double rate) =>
    best[pair][concurrency] = Math.Max(best[pair].GetValueOrDefault(concurrency), rate);

async Task Echo(BenchService.BenchServiceClient client)
{
    var response = await client.EchoAsync(request).ConfigureAwait(false);
    if (response.Id != request.Id)
    {
        throw new InvalidOperationException("Bad echo.");
    }
}

namespace SynthVlm.Bench.Rpc
{
    internal static class Measure
    {
        public static async Task<double> RunAsync(string label, int concurrency, double warmup, double seconds, Func<Task> call)
        {
            long count = 0;
            var measuring = 0;
            var stop = 0;
            var workers = Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
            {
                while (Volatile.Read(ref stop) == 0)
                {
                    await call().ConfigureAwait(false);
                    if (Volatile.Read(ref measuring) == 1)
                    {
                        Interlocked.Increment(ref count);
                    }
                }
            })).ToArray();
            await Task.Delay(TimeSpan.FromSeconds(warmup)).ConfigureAwait(false);
            Volatile.Write(ref measuring, 1);
            var watch = Stopwatch.StartNew();
            await Task.Delay(TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
            Volatile.Write(ref measuring, 0);
            var elapsed = watch.Elapsed.TotalSeconds;
            var measured = Interlocked.Read(ref count);
            Volatile.Write(ref stop, 1);
            await Task.WhenAll(workers).ConfigureAwait(false);
            var rate = measured / elapsed;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label,-15} c={concurrency,-3} {rate,10:0} calls/s"));
            return rate;
        }

        private static string Python => Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

        public static ProcessStartInfo PythonScript(params string[] args)
        {
            var info = new ProcessStartInfo(Python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bench_grpcio.py"));
            foreach (var arg in args)
            {
                info.ArgumentList.Add(arg);
            }
            info.Environment.Remove("http_proxy");
            info.Environment.Remove("https_proxy");
            info.Environment.Remove("grpc_proxy");
            return info;
        }

        /// <summary>grpcio asyncio client against <paramref name="target"/>; calls/s, or NaN when it fails.</summary>
        public static async Task<double> GrpcioAsync(string label, byte[] request, string target, double seconds, double warmup, int concurrency)
        {
            var info = PythonScript(Convert.ToHexString(request), seconds.ToString(CultureInfo.InvariantCulture), warmup.ToString(CultureInfo.InvariantCulture),
                "--target", target, concurrency.ToString(CultureInfo.InvariantCulture));
            using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {Python}.");
            var errors = process.StandardError.ReadToEndAsync();
            var rate = double.NaN;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30 + seconds + warmup));
            try
            {
                while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
                {
                    using var json = JsonDocument.Parse(line);
                    rate = json.RootElement.GetProperty("rps").GetDouble();
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {label,-15} c={concurrency,-3} {rate,10:0} calls/s"));
                }
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            finally
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }
            }
            if (double.IsNaN(rate))
            {
                Console.Error.WriteLine($"grpcio client failed (exit {process.ExitCode}): {await errors.ConfigureAwait(false)}");
            }
            return rate;
        }
    }

    /// <summary>The grpcio asyncio server of bench_grpcio.py, in its own process for the whole run.</summary>
    internal sealed class GrpcioServer : IAsyncDisposable
    {
        private readonly Process _process;

        private GrpcioServer(Process process, string target)
        {
            _process = process;
            Target = target;
        }

        public string Target { get; }

        public static async Task<GrpcioServer> StartAsync()
        {
            var process = Process.Start(Measure.PythonScript("--serve")) ?? throw new InvalidOperationException("Could not start the grpcio server.");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false);
            if (line is null || !line.StartsWith("PORT ", StringComparison.Ordinal))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"The grpcio server did not start: {line} {await process.StandardError.ReadToEndAsync(timeout.Token).ConfigureAwait(false)}");
            }
            return new GrpcioServer(process, "127.0.0.1:" + line["PORT ".Length..]);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
            _process.Dispose();
        }
    }

    internal sealed class BenchServiceImpl : BenchService.BenchServiceBase
    {
        public override Task<EchoMessage> Echo(EchoMessage request, ServerCallContext context) => Task.FromResult(request);
    }

    internal sealed class BenchServer : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private BenchServer(WebApplication app, Uri address)
        {
            _app = app;
            Address = address;
        }

        public Uri Address { get; }

        public static async Task<BenchServer> StartAsync()
        {
            int port;
            using (var probe = new TcpListener(IPAddress.Loopback, 0))
            {
                probe.Start();
                port = ((IPEndPoint)probe.LocalEndpoint).Port;
            }
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port, l => l.Protocols = HttpProtocols.Http2));
            builder.Services.AddGrpc();
            builder.Services.AddSingleton<BenchServiceImpl>();
            var app = builder.Build();
            app.MapGrpcService<BenchServiceImpl>();
            await app.StartAsync().ConfigureAwait(false);
            return new BenchServer(app, new Uri($"http://127.0.0.1:{port}"));
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync().ConfigureAwait(false);
            await _app.DisposeAsync().ConfigureAwait(false);
        }
    }
}
