"""Liveness and readiness for load balancers: the process answers and the database is reachable."""

from fastapi import APIRouter

from ledger.storage import ping

from ..body import JSONRoute
from ..deps import ReadConn
from ..schemas import Health

router = APIRouter(route_class=JSONRoute, tags=["operations"])


@router.get("/healthz", response_model=Health)
def health(connection: ReadConn):
    return {"status": "ok", "database": ping(connection)}
