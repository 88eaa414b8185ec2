"""The HTTP service: ``create_app`` builds the FastAPI application around one ``Ledger``.

``uvicorn --factory api.app:create_app`` (what ``ledger serve --workers N`` runs)
calls it without arguments: settings then come from the ``LEDGER_*`` environment.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timezone

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from ledger.capture import CaptureSettings
from ledger.config import Settings
from ledger.service import Ledger, mirror
from ledger.storage import Database

from . import apidocs, errors
from .accounts import AccountCache
from .auditor import Auditor, LedgerStatus
from .capture import CaptureWorker
from .coalesce import WriteCoalescer
from .review import Reviewer
from .routers.epcis_capture import CAPTURE_PATH
from .sweeping import PeriodicSweeper
from .delivering import PeriodicDeliverer
from .middleware import MAX_BODY_BYTES, AccessLog, BodyLimit
from .pages import router as pages
from .pages import static_files
from . import routers
from .routers import epcis as epcis_routes

__all__ = ["create_app", "served_app"]

# Connections per engine and process (pool and as many again in overflow): above what
# api.deps lets requests hold at once, so no request ever waits on the pool.
POOL_SIZE = 16

DESCRIPTION = """\
The traceability ledger of bottled LPG cylinders: one code follows each cylinder from the gas
company to the end user. JSON over `/v1` with `Authorization: Bearer <token>`; every error is
`application/problem+json` (RFC 9457). docs/api.md has the permission matrix and the error model.
"""


def create_app(settings: Settings | None = None, ledger: Ledger | None = None, *,
               max_body_bytes: int = MAX_BODY_BYTES, capture_max_bytes: int | None = None,
               capture_settings: CaptureSettings | None = None, token_ttl: float = 5.0, settle_heap: bool = False,
               clock: Callable[[], datetime] | None = None, audit: bool = False,
               publish: bool | None = None) -> FastAPI:
    """An application serving ``ledger`` (built from ``settings``, else from the environment).

    ``token_ttl``: seconds a token's account is remembered (a disabled account is refused at most that late).
    ``settle_heap``: freeze what start-up built out of the garbage collector's sight once serving (``served_app``);
    left off where many apps share one process, as in the tests.
    ``clock``: what the pages' sign-ins take as now (their idle and absolute limits); default: the system's.
    ``audit``: run the auditor every ``checkpoint_interval`` seconds (``served_app``; docs/audit.md), in a process
    of its own when the app builds its ledger.
    ``publish``: run the checkpoint publisher (ledger.publisher) while serving; default: when the app builds its ledger.
    """
    owned = ledger is None
    if ledger is None:
        settings = settings or Settings.from_env()
        ledger = Ledger(settings, Database(settings.database_url, pool_size=POOL_SIZE))

    coalescer = WriteCoalescer(ledger)
    reviewer = Reviewer(ledger)
    # A verified mirror (docs/mirror.md) serves another log's copy: it signs, audits and judges nothing itself.
    copy = _is_mirror(ledger)
    sweeper = PeriodicSweeper(ledger, 0 if copy else ledger.settings.sweep_interval_seconds)
    auditor = Auditor(ledger, apart=owned) if audit and not copy else None
    publishing = (owned if publish is None else publish) and not copy
    capture_settings = capture_settings or CaptureSettings.from_env()
    capture_worker = CaptureWorker(ledger, capture_settings)
    deliverer = PeriodicDeliverer(ledger)  # reads LEDGER_WEBHOOKS: a malformed file stops the start
    ledger.case_deadlines  # noqa: B018 - as does a malformed LEDGER_CASE_DEADLINES
    ledger.report_limits  # noqa: B018 - and a malformed LEDGER_REPORT_LIMITS

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settle_heap:
            _settle_heap()
        reviewer.start()
        sweeper.start()
        if publishing:
            ledger.publisher.start()
        if auditor is not None:
            auditor.start()
        capture_worker.start()
        deliverer.start()
        yield
        if auditor is not None:
            await auditor.close()
        if publishing:
            await run_in_threadpool(ledger.publisher.stop)
        await deliverer.close()
        await coalescer.close()
        await reviewer.close()
        await sweeper.close()
        await capture_worker.close()
        if owned:  # finish with the pool only once uvicorn has drained in-flight requests
            ledger.db.dispose()

    app = FastAPI(
        title="cylinder-ledger", version="1", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None,
        openapi_tags=[{"name": name} for name in
                      ("parties", "end users", "cylinders", "events", "proofs", "labels", "operations")],
    )
    app.state.ledger = ledger
    app.state.coalescer = coalescer
    app.state.reviewer = reviewer
    app.state.auditor = auditor
    app.state.ledger_status = LedgerStatus(ledger)
    app.state.capture_settings, app.state.capture_worker = capture_settings, capture_worker
    app.state.accounts = AccountCache(token_ttl)
    app.state.clock = clock or _utc_now
    errors.install(app)
    routers.include(app)  # first: a driver's scan is matched before any page (their paths never overlap)
    epcis_routes.include(app)
    app.include_router(pages)
    app.mount("/static", static_files(), name="static")
    apidocs.install(app)  # /docs and /redoc without a CDN
    # Added last is outermost: the log sees every answer, including 413.
    app.add_middleware(BodyLimit, limit=max_body_bytes, wider={CAPTURE_PATH: (
        capture_max_bytes or _capture_max_bytes(), "epcisException:CaptureLimitExceededException")})
    app.add_middleware(AccessLog)
    _ensure_problem_schema(app)
    return app


def _capture_max_bytes() -> int:
    """``LEDGER_EPCIS_CAPTURE_MAX_BYTES``: the largest EPCIS document ``POST /v1/epcis/capture`` takes (50 MiB)."""
    return int(os.environ.get("LEDGER_EPCIS_CAPTURE_MAX_BYTES", str(50 * 1024 * 1024)))


def _is_mirror(ledger: Ledger) -> bool:
    """Whether the ledger's database is a mirror's copy of another log (``ledger mirror follow``)."""
    try:
        with ledger.db.reading() as connection:
            return mirror.log_vkey(connection) is not None
    except Exception:  # noqa: BLE001 - a database without the schema yet is no mirror; requests will say why
        return False


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def served_app() -> FastAPI:
    """The application as ``ledger serve`` runs it in each worker process: from the environment, heap settled."""
    return create_app(settle_heap=True, audit=True)


def _settle_heap() -> None:
    """Take what the process built to start (modules, routes, schemas) out of the garbage collector's sight.

    CPython's full collections walk every tracked object. A serving process holds some 150,000 of them
    from start-up that live as long as it does, and under load a full collection ran about twice a second
    and took 60-90 ms each time, holding up every request in flight (bench/http_service.py's single events:
    p99 120-170 ms with those pauses, 45-60 ms without). Frozen objects are never walked again; what is
    allocated later is collected as usual.
    """
    gc.collect()
    gc.freeze()


def _ensure_problem_schema(app: FastAPI) -> None:
    """Problem responses are documented as application/problem+json only."""
    original = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = original()
            for path in schema.get("paths", {}).values():
                for operation in path.values():
                    for status, answer in operation.get("responses", {}).items():
                        content = answer.get("content", {})
                        if status[0] in "45" and errors.PROBLEM in content:
                            answer["content"] = {errors.PROBLEM: content[errors.PROBLEM]}
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


logging.getLogger("ledger.access").addHandler(logging.NullHandler())
