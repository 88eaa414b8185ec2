"""GS1 EPCIS 2.0 out of the ledger: a cylinder's life as one EPCISDocument, and the REST query subset.

Both answer ``application/ld+json`` and are open to the same accounts as the trace (docs/epcis.md).
"""

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic_core import to_json

from ledger.epcis.query import PARAMETERS
from ledger.service.epcis import cylinder_document, query_document

from ..body import JSONRoute
from ..deps import Allowed, LedgerDep, ReadConn, request_checks
from ..errors import problem_responses
from ..views import cylinder_code

router = APIRouter(route_class=JSONRoute, tags=["epcis"], responses=problem_responses(401, 403, 404, 422))
CylinderId = Annotated[str, Path(min_length=1, max_length=64, description="the trace code, in any spelling")]
# GS1's REST binding names the versions a server speaks in these headers (EPCIS 2.0 §12.3).
VERSIONS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
_LIST = "pipe-delimited (`|`) list"


class LinkedData(JSONResponse):
    media_type = "application/ld+json"

    def render(self, content) -> bytes:
        return to_json(content)


def _param(alias: str, description: str):
    return Query(alias=alias, max_length=4000, description=description)


@router.get("/v1/cylinders/{cylinder_id}/epcis", response_class=LinkedData, tags=["cylinders"],
            responses={200: {"content": {"application/ld+json": {}}, "description": "an EPCISDocument"}})
def get_cylinder_epcis(cylinder_id: CylinderId, actor: Allowed("trace.read"), connection: ReadConn):
    """The cylinder's whole life as a GS1 EPCIS 2.0 EPCISDocument: one ObjectEvent per event, each with its
    GS1 event hash ID and its place in the hash chain and the log."""
    return LinkedData(cylinder_document(connection, cylinder_code(cylinder_id)), headers=VERSIONS)


@router.get("/v1/epcis/events", response_class=LinkedData,
            responses={200: {"content": {"application/ld+json": {}},
                             "description": "an EPCISQueryDocument; `Link: <...>; rel=\"next\"` while more remain"}})
def query_events(
    request: Request, actor: Allowed("trace.read"), connection: ReadConn, ledger: LedgerDep,
    match_any_epc: Annotated[str | None, _param("MATCH_anyEPC", f"cylinder EPCs, a {_LIST}")] = None,
    ge_event_time: Annotated[str | None, _param("GE_eventTime", "eventTime ≥ (RFC 3339)")] = None,
    lt_event_time: Annotated[str | None, _param("LT_eventTime", "eventTime < (RFC 3339)")] = None,
    ge_record_time: Annotated[str | None, _param("GE_recordTime", "recordTime ≥ (RFC 3339)")] = None,
    lt_record_time: Annotated[str | None, _param("LT_recordTime", "recordTime < (RFC 3339)")] = None,
    eq_biz_step: Annotated[str | None, _param("EQ_bizStep", f"bizSteps, a {_LIST}")] = None,
    eq_source: Annotated[str | None, _param("EQ_source", "a source of either type (party or site URIs)")] = None,
    eq_source_pp: Annotated[str | None, _param("EQ_source_possessing_party", "party URIs")] = None,
    eq_source_location: Annotated[str | None, _param("EQ_source_location", "site URIs")] = None,
    eq_destination: Annotated[str | None, _param("EQ_destination", "a destination of either type")] = None,
    eq_destination_pp: Annotated[str | None, _param("EQ_destination_possessing_party", "party or user URIs")] = None,
    eq_destination_location: Annotated[str | None, _param("EQ_destination_location", "site URIs")] = None,
    per_page: Annotated[int, Query(alias="perPage", ge=1, le=1000)] = 30,
    next_page_token: Annotated[str | None, Query(alias="nextPageToken", max_length=200)] = None,
):
    """The EPCIS 2.0 REST query subset: events in log order, `perPage` at a time; the next page's URL is in
    the `Link` header (`rel="next"`), with the same filters and `nextPageToken`."""
    params = {name: request.query_params[name] for name in PARAMETERS if name in request.query_params}
    after = ledger.cursors.read(next_page_token, "epcis")
    document, last = query_document(connection, params, after, per_page)
    headers = dict(VERSIONS)
    if last is not None:
        url = request.url.include_query_params(nextPageToken=ledger.cursors.issue("epcis", last))
        headers["Link"] = f'<{url}>; rel="next"'
    return LinkedData(document, headers=headers)


def include(app) -> None:
    """Add these routes to ``app`` with the checks every API route has (``api.routers.include``)."""
    app.include_router(router, dependencies=[Depends(request_checks)])
