"""Every router of the API, collected in one place."""

from fastapi import APIRouter, Depends

from ..deps import request_checks

from . import (
    audit, cases, citizen, cylinders, endusers, epcis_capture, events, health, labels, log, oversight, parties, risk,
    safety,
)

__all__ = ["ROUTERS", "include"]

# Matched in this order: the drivers' hot path first.
ROUTERS: tuple[APIRouter, ...] = tuple(module.router for module in (
    events, cylinders, parties, endusers, oversight, cases, risk, log, labels, health, audit, epcis_capture, safety))


def include(app) -> None:
    """Add every API route to ``app``, each router straight under it.

    FastAPI matches a request against each level of included routers in turn, and
    again when handling it, so one level less saves every request a walk.
    """
    for router in ROUTERS:
        app.include_router(router, dependencies=[Depends(request_checks)])
    app.include_router(cases.uploads)  # multipart/form-data: a handling's photos
    citizen.include(app)  # citizens' reports: JSON, or a form with photos
    app.include_router(safety.uploads)  # multipart/form-data: a safety check's photos
