"""Sluice's own admin endpoints (``/v2/sluice/...``)."""

from __future__ import annotations

from starlette.routing import Route

from sluice.rest.gateway import Gateway


def admin_routes(gateway: Gateway) -> list[Route]:
    return []
