"""The gRPC surface (edge.v1.Gateway) on grpc.aio, in the same worker and event loop as HTTP.

``server.start_grpc_server`` is the entry point; the stubs it serves are generated into
``edge.v1`` by ``python -m edge.grpc.codegen``. Importing this package has no side effects.
"""

__all__: list[str] = []
