"""Reference: grpcio asyncio client doing unary round trips on loopback at the given
concurrencies, against a grpcio asyncio server in a second process or, with --target, against
another server (the grpc-dotnet one). Prints one JSON line per concurrency.

usage: bench_grpcio.py REQUEST_HEX SECONDS WARMUP_SECONDS [--target HOST:PORT] CONCURRENCY...
       bench_grpcio.py --serve     (runs the grpcio server alone, prints "PORT <n>")
"""
import asyncio
import json
import subprocess
import sys
import time

import grpc
from grpc import aio

PATH = "/synthvlm.bench.BenchService/Echo"


def identity(b):
    return b


async def serve():
    async def echo(request, context):
        return request

    handler = grpc.method_handlers_generic_handler(
        "synthvlm.bench.BenchService", {"Echo": grpc.unary_unary_rpc_method_handler(echo)})
    server = aio.server()
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print("PORT %d" % port, flush=True)
    await server.wait_for_termination()


async def measure(target, request, seconds, warmup, concurrency):
    async with aio.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)]) as channel:
        call = channel.unary_unary(PATH, request_serializer=identity, response_deserializer=identity)
        count = 0
        measuring = False
        stop = False

        async def worker():
            nonlocal count
            while not stop:
                response = await call(request)
                if len(response) != len(request):
                    raise RuntimeError("bad echo")
                if measuring:
                    count += 1

        tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
        await asyncio.sleep(warmup)
        measuring = True
        start = time.perf_counter()
        await asyncio.sleep(seconds)
        measuring = False
        elapsed = time.perf_counter() - start
        stop = True
        await asyncio.gather(*tasks)
        return count, elapsed


def main():
    if sys.argv[1] == "--serve":
        asyncio.run(serve())
        return
    request = bytes.fromhex(sys.argv[1])
    seconds, warmup = float(sys.argv[2]), float(sys.argv[3])
    if sys.argv[4] == "--target":
        for c in sys.argv[6:]:
            count, elapsed = asyncio.run(measure(sys.argv[5], request, seconds, warmup, int(c)))
            print(json.dumps({"concurrency": int(c), "calls": count, "seconds": elapsed, "rps": count / elapsed}), flush=True)
        return
    server = subprocess.Popen([sys.executable, "-u", __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError("server did not start: %r" % line)
        target = "127.0.0.1:" + line.split()[1]
        for c in sys.argv[4:]:
            count, elapsed = asyncio.run(measure(target, request, seconds, warmup, int(c)))
            print(json.dumps({"concurrency": int(c), "calls": count, "seconds": elapsed, "rps": count / elapsed}), flush=True)
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
