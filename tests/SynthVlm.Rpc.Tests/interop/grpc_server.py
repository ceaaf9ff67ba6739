"""grpcio as the reference server: synthvlm.test.TestService over raw bytes with a generic
handler. Binds 127.0.0.1 on a free port and prints "PORT <n>" once it serves.

Echo echoes the request bytes (EchoRequest and EchoResponse have the same shape);
Stream sends `count` EchoResponse messages "<message><i>"; Fail aborts with the
requested code and detail plus trailers; Slow waits until the call ends.
"""
import sys
import threading
from concurrent import futures

import grpc

import wire

SERVICE = "/synthvlm.test.TestService/"
CODES = {c.value[0]: c for c in grpc.StatusCode}


def echo(request, context):
    context.set_trailing_metadata([("x-served-by", "grpcio")])
    return request


def stream(request, context):
    fields = wire.parse(request)
    count = fields.get(1, 0)
    message = fields.get(2, b"").decode("utf-8")
    for i in range(count):
        yield wire.string_field(1, "%s%d" % (message, i))


def fail(request, context):
    fields = wire.parse(request)
    context.set_trailing_metadata([("x-reason", "because"), ("x-blob-bin", b"\x00\x01\x02\xff")])
    context.abort(CODES[fields.get(1, 2)], fields.get(2, b"").decode("utf-8"))


def slow(request, context):
    done = threading.Event()
    context.add_callback(done.set)
    done.wait(30)
    return b""


HANDLERS = {
    SERVICE + "Echo": grpc.unary_unary_rpc_method_handler(echo),
    SERVICE + "Stream": grpc.unary_stream_rpc_method_handler(stream),
    SERVICE + "Fail": grpc.unary_unary_rpc_method_handler(fail),
    SERVICE + "Slow": grpc.unary_unary_rpc_method_handler(slow),
}


class Handler(grpc.GenericRpcHandler):
    def service(self, handler_call_details):
        return HANDLERS.get(handler_call_details.method)


def main():
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[Handler()])
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("PORT %d" % port, flush=True)
    # The test kills the process; closing stdin also ends it.
    sys.stdin.read()
    server.stop(0)


if __name__ == "__main__":
    main()
