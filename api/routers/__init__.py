"""Every router of the API, collected in one place."""

from fastapi import APIRouter, Depends

from ..deps import request_checks

from . import cylinders, events, health, labels, log, oversight, parties, risk

__all__ = ["api"]

api = APIRouter(dependencies=[Depends(request_checks)])
# Matched in this order: the drivers' hot path first.
for module in (events, cylinders, parties, oversight, risk, log, labels, health):
    api.include_router(module.router)
