"""grpcio as the reference client: runs the calls described in a JSON file against a
target and prints one JSON line per call. Requests and responses are raw protobuf bytes
(hex), so no generated code is needed.

usage: grpc_client.py TARGET CALLS_JSON
CALLS_JSON: [{"name", "kind": "unary"|"stream", "path", "request": hex, "timeout": s|null,
              "metadata": [[k, v], ...]}]
"""
import json
import sys

import grpc


def identity(b):
    return b


def main():
    target, calls_file = sys.argv[1], sys.argv[2]
    with open(calls_file, encoding="utf-8") as f:
        calls = json.load(f)
    channel = grpc.insecure_channel(target, options=[("grpc.enable_http_proxy", 0)])
    for call in calls:
        request = bytes.fromhex(call["request"])
        metadata = [tuple(m) for m in call.get("metadata") or []] or None
        timeout = call.get("timeout")
        result = {"name": call["name"], "code": "OK", "details": "", "responses": [], "trailers": []}
        try:
            if call["kind"] == "unary":
                method = channel.unary_unary(call["path"], request_serializer=identity, response_deserializer=identity)
                response, rpc = method.with_call(request, timeout=timeout, metadata=metadata)
                result["responses"].append(response.hex())
                result["trailers"] = [[k, v.hex() if isinstance(v, bytes) else v] for k, v in rpc.trailing_metadata() or []]
            else:
                method = channel.unary_stream(call["path"], request_serializer=identity, response_deserializer=identity)
                stream = method(request, timeout=timeout, metadata=metadata)
                for response in stream:
                    result["responses"].append(response.hex())
        except grpc.RpcError as e:
            result["code"] = e.code().name
            result["details"] = e.details() or ""
            result["trailers"] = [[k, v.hex() if isinstance(v, bytes) else v] for k, v in e.trailing_metadata() or []]
        print(json.dumps(result, ensure_ascii=True), flush=True)
    channel.close()


if __name__ == "__main__":
    main()
