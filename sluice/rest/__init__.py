"""Milvus's RESTful API v2 over HTTP, translated onto the gRPC servicer in process.

This package sits above :mod:`sluice.api`: it may import the API and the
engine's public surface, and nothing below imports it.  See
:mod:`sluice.rest.gateway` for how a REST request becomes an RPC and
:mod:`sluice.rest.app` for the HTTP application.
"""
