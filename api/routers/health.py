"""Liveness and readiness for load balancers: the process answers and the database is reachable."""

from fastapi import APIRouter
from sqlalchemy import text

from ..body import JSONRoute
from ..deps import ReadConn
from ..schemas import Health

router = APIRouter(route_class=JSONRoute, tags=["operations"])


@router.get("/healthz", response_model=Health)
def health(connection: ReadConn):
    connection.execute(text("SELECT 1"))
    return {"status": "ok", "database": connection.dialect.name}
