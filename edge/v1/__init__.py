"""Generated protobuf and gRPC stubs for package edge.v1 (proto/edge/v1/*.proto).

Do not edit: regenerate with ``python -m edge.grpc.codegen``.
"""
