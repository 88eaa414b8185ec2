"""Every router of the API, collected in one place."""

from fastapi import APIRouter

from . import cylinders, events, health, labels, log, parties

__all__ = ["api"]

api = APIRouter()
for module in (parties, cylinders, events, log, labels, health):
    api.include_router(module.router)
