#!/usr/bin/env python3
"""A grpcio client that calls one method with raw protobuf bytes, so it needs no generated code.

usage: raw_client.py TARGET unary|stream|bidi METHOD_PATH REQUEST_HEX [TIMEOUT_SECONDS]
("bidi" sends the one request, half-closes, and prints every response: server reflection.)
Prints one line per response message ("msg <hex>"), then "status <CODE_NAME> <details>".
The C# test builds the request and parses the responses with Google.Protobuf; grpcio does
everything on the wire (HTTP/2, framing, grpc-timeout, trailers).
"""
import sys

import grpc


def main() -> int:
    target, kind, path, request_hex = sys.argv[1:5]
    timeout = float(sys.argv[5]) if len(sys.argv) > 5 else None
    request = bytes.fromhex(request_hex)
    identity = lambda b: b  # noqa: E731 - raw bytes both ways
    with grpc.insecure_channel(target) as channel:
        try:
            if kind == "unary":
                call = channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)
                response = call(request, timeout=timeout)
                print("msg", response.hex(), flush=True)
            elif kind == "bidi":
                call = channel.stream_stream(path, request_serializer=identity, response_deserializer=identity)
                for response in call(iter([request]), timeout=timeout):
                    print("msg", response.hex(), flush=True)
            else:
                call = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)
                for response in call(request, timeout=timeout):
                    print("msg", response.hex(), flush=True)
            print("status OK", flush=True)
        except grpc.RpcError as e:
            print("status", e.code().name, e.details() or "", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
