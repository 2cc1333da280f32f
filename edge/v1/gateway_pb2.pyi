from edge.v1 import chat_pb2 as _chat_pb2
from edge.v1 import embeddings_pb2 as _embeddings_pb2
from edge.v1 import models_pb2 as _models_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
