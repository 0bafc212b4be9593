"""The database engine: catalog, timestamps, channels, segments, flush.

``Engine`` (in :mod:`sluice.engine.engine`) is the one object the gRPC API and
the embedded client talk to.  The engine never imports the API layer.
"""
