"""Every router of the API, collected in one place."""

from fastapi import APIRouter, Depends

from ..deps import json_content

from . import cylinders, events, health, labels, log, parties

__all__ = ["api"]

api = APIRouter(dependencies=[Depends(json_content)])
for module in (parties, cylinders, events, log, labels, health):
    api.include_router(module.router)
