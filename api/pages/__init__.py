"""The web pages: server-rendered HTML for citizens, inspectors, regulators and drivers.

    public     GET /c/{code}: what a phone camera opens from a label (no login, no personal data)
    own        GET /me: an end user's own deliveries, by phone and one-time code (no login, no script)
    citizen    report a problem and follow it with a tracking code (no login; docs/citizens.md)
    account    sign-in with an account's bearer token, kept in an HttpOnly cookie; sign-out
    trace      the inspector's one-screen story of a cylinder, its proofs, field reports
    dashboard  the regulator's counts, enterprise colours and findings chart
    risk       risk lists with filters, CSV and XLSX downloads
    cases      findings and their closed loop (dispatch, handle, supervise, close, reopen)
    driver     the driver's phone page: scan, queue offline, sync
    admin      the administrator's accounts: disable, a new token
    views      the record of views of personal data, for regulators
    scan       camera frames decoded on the server (zxing-cpp), scans checked online

The pages share the API's ledger, accounts and roles; docs/pages.md says who sees what.
``router`` collects every page route; ``STATIC`` is the folder of the assets they load.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.staticfiles import StaticFiles

from . import account, admin, cases, citizen, dashboard, driver, own, public, reports, risk, scan, trace, views

__all__ = ["router", "STATIC", "static_files"]

STATIC = Path(__file__).resolve().parent.parent / "static"

router = APIRouter(include_in_schema=False)
for module in (public, own, citizen, account, trace, dashboard, reports, risk, cases, driver, scan, admin, views):
    router.include_router(module.router)


def static_files() -> StaticFiles:
    """The pages' CSS, scripts and icons, served by the app itself (no CDN)."""
    return StaticFiles(directory=STATIC)
