using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Google.Protobuf;
using ProtoServiceDescriptor = Google.Protobuf.Reflection.ServiceDescriptor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SynthVlm.Bench.Rpc;
using SynthVlm.Bench.Rpc.Protos;
using SynthVlm.Rpc;

// Unary round trips/s on loopback at concurrency 1 and 16:
//   SynthVlm client -> SynthVlm server (Kestrel, in this process), and
//   grpcio asyncio client -> grpcio asyncio server (bench_grpcio.py, two Python processes),
// with the same request bytes, and the ratio SynthVlm/grpcio. The two are interleaved row by
// row and the run repeated, keeping each side's best, so load from other processes on a
// shared machine skews the ratio less than one long sequential run would.
var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 3.0;
var warmup = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 1.0;
var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 2;
int[] concurrencies = [1, 16];
var request = new EchoMessage { Text = "synthvlm bench payload", Id = 42 };
var requestBytes = request.ToByteArray();

Console.WriteLine($"Unary echo, {requestBytes.Length}-byte message, loopback h2c, {seconds:0.#} s measured after {warmup:0.#} s warm-up per row, best of {rounds} rounds; {Environment.ProcessorCount} cores.");

var synthVlm = new Dictionary<int, double>();
var grpcio = new Dictionary<int, double>();
await using (var server = await BenchServer.StartAsync())
{
    using var channel = RpcChannel.ForAddress(server.Address);
    var method = BenchService.Descriptor.FindMethodByName("Echo");
    for (var round = 0; round < rounds; round++)
    {
        foreach (var concurrency in concurrencies)
        {
            var rate = await Measure.RunAsync(concurrency, warmup, seconds, async () =>
            {
                var response = await channel.UnaryAsync<EchoMessage, EchoMessage>(method, request).ConfigureAwait(false);
                if (response.Id != request.Id)
                {
                    throw new InvalidOperationException("Bad echo.");
                }
            });
            synthVlm[concurrency] = Math.Max(synthVlm.GetValueOrDefault(concurrency), rate);
            foreach (var (c, r) in await Measure.GrpcioAsync(requestBytes, seconds, warmup, [concurrency]))
            {
                grpcio[c] = Math.Max(grpcio.GetValueOrDefault(c), r);
            }
        }
    }
}

Console.WriteLine();
Console.WriteLine("| concurrency | SynthVlm calls/s | grpcio (asyncio) calls/s | SynthVlm/grpcio |");
Console.WriteLine("|---:|---:|---:|---:|");
foreach (var c in concurrencies)
{
    var reference = grpcio.GetValueOrDefault(c, double.NaN);
    Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"| {c} | {synthVlm[c]:0} | {reference:0} | {synthVlm[c] / reference:0.00} |"));
}

namespace SynthVlm.Bench.Rpc
{
    internal static class Measure
    {
        public static async Task<double> RunAsync(int concurrency, double warmup, double seconds, Func<Task> call)
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
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  SynthVlm  c={concurrency,-3} {rate,10:0} calls/s"));
            return rate;
        }

        public static async Task<Dictionary<int, double>> GrpcioAsync(byte[] request, double seconds, double warmup, int[] concurrencies)
        {
            var python = Environment.GetEnvironmentVariable("SYNTHVLM_REFERENCE_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
            var info = new ProcessStartInfo(python)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            info.ArgumentList.Add("-u");
            info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "bench_grpcio.py"));
            info.ArgumentList.Add(Convert.ToHexString(request));
            info.ArgumentList.Add(seconds.ToString(CultureInfo.InvariantCulture));
            info.ArgumentList.Add(warmup.ToString(CultureInfo.InvariantCulture));
            foreach (var c in concurrencies)
            {
                info.ArgumentList.Add(c.ToString(CultureInfo.InvariantCulture));
            }
            info.Environment.Remove("http_proxy");
            info.Environment.Remove("https_proxy");
            info.Environment.Remove("grpc_proxy");
            using var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {python}.");
            var errors = process.StandardError.ReadToEndAsync();
            var results = new Dictionary<int, double>();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30 + (concurrencies.Length * (seconds + warmup))));
            try
            {
                while (await process.StandardOutput.ReadLineAsync(timeout.Token).ConfigureAwait(false) is { } line)
                {
                    using var json = JsonDocument.Parse(line);
                    var c = json.RootElement.GetProperty("concurrency").GetInt32();
                    var rate = json.RootElement.GetProperty("rps").GetDouble();
                    results[c] = rate;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  grpcio    c={c,-3} {rate,10:0} calls/s"));
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
            if (results.Count != concurrencies.Length)
            {
                Console.Error.WriteLine($"grpcio reference incomplete (exit {process.ExitCode}): {await errors.ConfigureAwait(false)}");
            }
            return results;
        }
    }

    internal sealed class BenchService : IRpcService
    {
        public static ProtoServiceDescriptor Descriptor => BenchReflection.Descriptor.Services[0];

        public Task<EchoMessage> Echo(EchoMessage request, ServerCallContext context) => Task.FromResult(request);
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
            builder.Services.AddRpc();
            builder.Services.AddSingleton<BenchService>();
            var app = builder.Build();
            app.MapRpcService<BenchService>();
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
