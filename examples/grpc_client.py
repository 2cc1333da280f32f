"""A small client for the gateway's gRPC surface (edge.v1.Gateway), with the generated stubs.

    edge serve --config edge.yaml --grpc-port 50051        # in one shell
    python examples/grpc_client.py --target 127.0.0.1:50051 --model chat "Say hello"
    python examples/grpc_client.py --stream --key "$EDGE_KEY" "Tell me a story"

It sends one chat request (ChatComplete, or ChatStream with --stream) with a deadline and the
gateway key in the ``authorization`` metadata, prints the answer, the route, usage and cost,
and on failure the gRPC status with its google.rpc details (ErrorInfo, RetryInfo).
Stubs for other languages: run protoc on proto/edge/v1/*.proto (see docs/grpc.md).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from edge.v1 import chat_pb2, gateway_pb2_grpc, types_pb2


def describe_error(err: grpc.RpcError) -> str:
    """The status code and message, plus ErrorInfo / RetryInfo details when the gateway sent them."""
    lines = [f"{err.code().name}: {err.details()}"]
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    for detail in status.details if status is not None else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            lines.append(f"  reason={info.reason} domain={info.domain} metadata={dict(info.metadata)}")
        elif detail.Is(error_details_pb2.RetryInfo.DESCRIPTOR):
            retry = error_details_pb2.RetryInfo()
            detail.Unpack(retry)
            lines.append(f"  retry after {retry.retry_delay.ToTimedelta().total_seconds():g} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prompt")
    parser.add_argument("--target", default="127.0.0.1:50051", help="host:port of the gateway's gRPC listener")
    parser.add_argument("--model", default="chat")
    parser.add_argument("--key", help="gateway key (sent as 'authorization: Bearer <key>')")
    parser.add_argument("--stream", action="store_true", help="use ChatStream and print deltas as they arrive")
    parser.add_argument("--timeout", type=float, default=60.0, help="deadline in seconds; the gateway passes it upstream")
    args = parser.parse_args(argv)

    metadata = [("authorization", f"Bearer {args.key}")] if args.key else []
    request = chat_pb2.ChatRequest(model=args.model, messages=[chat_pb2.Message(role=chat_pb2.ROLE_USER, content=args.prompt)])
    # One channel per process: it multiplexes every call over one HTTP/2 connection.
    with grpc.insecure_channel(args.target) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        try:
            if args.stream:
                for chunk in stub.ChatStream(request, metadata=metadata, timeout=args.timeout):
                    if chunk.HasField("route"):
                        print(f"[{chunk.request_id} via {chunk.route.provider}/{chunk.route.model}]", file=sys.stderr)
                    print(chunk.content, end="", flush=True)
                    if chunk.HasField("usage"):
                        print(f"\n[{types_pb2.FinishReason.Name(chunk.finish_reason)}; {chunk.usage.prompt_tokens} in, {chunk.usage.completion_tokens} out; ${chunk.cost_usd:.6f}]", file=sys.stderr)
            else:
                response = stub.ChatComplete(request, metadata=metadata, timeout=args.timeout)
                print(response.choices[0].message.content)
                route, usage = response.route, response.usage
                print(f"[{response.request_id} via {route.provider}/{route.model}; {usage.prompt_tokens} in, {usage.completion_tokens} out; ${response.cost_usd:.6f}]", file=sys.stderr)
        except grpc.RpcError as err:
            print(describe_error(err), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
