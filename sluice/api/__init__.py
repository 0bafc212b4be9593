"""The Milvus gRPC API: translation between protobuf messages and the engine.

Nothing below this package knows about gRPC.  Each ``rpc_*`` module serves
one group of RPCs; :mod:`sluice.api.servicer` assembles them.
"""
