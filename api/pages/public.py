"""The public pages: the label page a phone camera opens (``/c/{code}``) and the home page.

No sign-in and no personal data: the label page is built from a whitelist of
facts about the cylinder and the companies that answer for it (``label_facts``);
end users, delivery workers, drivers and every event's details stay out.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from fastapi import APIRouter, Path, Query
from fastapi.responses import RedirectResponse
from starlette.requests import Request

from ledger import tracecode
from ledger.errors import NotFound
from scanners.errors import ForgedLabel
from scanners.payload import verify_label

from ..deps import LedgerDep, ReadConn
from .render import PageRoute, render
from .session import Viewer

router = APIRouter(route_class=PageRoute)

# Why a cylinder must not be used, in the order the warning lists them.
DANGERS = ("forged_label", "scrapped", "overdue_inspection", "past_design_life", "broken_chain")
# Open findings that keep a cylinder off the green verdict: its story is impossible or illegal and
# nobody has closed the case yet (DOMAIN.md "What counts as a broken chain", custody gaps). Tampering
# is a danger of its own (broken_chain); papers and lateness (medium, low) do not concern the user.
CONCERNING = frozenset({"high", "critical"})
_TAMPERING = frozenset({"chain_tampered", "sequence_gap", "checkpoint_mismatch"})
# An anonymous report is a lead for an inspector, not a finding of fact: it never turns a verdict amber
# (else anyone could mark any cylinder; docs/citizens.md).
_UNVERIFIED = frozenset({"citizen_report"})
_OPEN = frozenset({"open", "dispatched", "handled"})


def _company(party: dict[str, Any] | None) -> str | None:
    """A party's name; anything that is not a registered party (an end user's reference) shows nothing."""
    return party["name"] if party and party.get("kind") else None


def label_facts(trace: dict[str, Any], label: str | None) -> dict[str, Any]:
    """What a citizen may see of a cylinder: the whitelist the label page renders."""
    cylinder, fill = trace["cylinder"], trace["origin"]["last_fill"]
    state = trace["current"]["state"]
    flags = {
        "forged_label": label == "forged",
        "scrapped": state == "scrapped",
        "overdue_inspection": bool(cylinder["overdue_inspection"]),
        "past_design_life": bool(cylinder["past_design_life"]),
        "broken_chain": trace["chain"]["status"] != "intact",
    }
    return {
        "code": cylinder["id"], "printed": tracecode.printed(cylinder["id"]),
        "owner": _company(trace["origin"]["owner"]),
        "model": cylinder["model"], "serial": cylinder["serial"], "manufacturer": cylinder["manufacturer"],
        "manufactured_on": cylinder["manufactured_on"],
        "fill": None if fill is None else {"station": _company(fill["station"]), "at": fill["at"],
                                           "net_kg": fill["net_kg"]},
        "inspection_due": cylinder["next_inspection_due"], "due_soon": bool(cylinder["inspection_due_soon"]),
        "life_ends_on": cylinder.get("life_ends_on"),
        "state": state, "responsible": _company(trace["responsible"]["now"]),
        "chain": trace["chain"]["status"], "records": trace["chain"]["length"],
        "label": label, "dangers": [name for name in DANGERS if flags[name]],
        "concerns": concerns(trace["findings"]),
    }


def concerns(findings: list[dict[str, Any]]) -> list[str]:
    """The kinds of the open high or critical custody findings, for the amber verdict; no party,
    no person and no note: what kind of problem is under review, nothing about whom."""
    return sorted({f["kind"] for f in findings if f["severity"] in CONCERNING and f["status"] in _OPEN
                   and f["kind"] not in _TAMPERING | _UNVERIFIED})


def label_check(code: str, signature: str | None, ledger) -> str | None:
    """``None`` without a signature, else ``"valid"`` or ``"forged"``."""
    if signature is None:
        return None
    try:
        verify_label(code, signature, ledger.label_key.public_key())
    except ForgedLabel:
        return "forged"
    return "valid"


def code_problem(error: tracecode.TraceCodeError) -> str:
    """Which friendly explanation a bad code gets: a typo the check character caught, or not a code at all."""
    return "typo" if isinstance(error, tracecode.CheckCharacterMismatch) else "malformed"


def split_scan(text: str) -> tuple[str, str | None]:
    """A typed code as it is; a pasted label URL as its code and signature (checked later, never trusted)."""
    text = text.strip()
    if "://" not in text:
        return text, None
    parts = urlsplit(text)
    code = parts.path.rsplit("/c/", 1)[-1] if "/c/" in parts.path else ""
    return code, (parse_qs(parts.query).get("s") or [None])[0]


@router.get("/")
def home(request: Request, viewer: Viewer):
    return render(request, "home.html", problem=None, typed="")


@router.get("/lookup")
def lookup(request: Request, viewer: Viewer, code: Annotated[str, Query(max_length=600)] = ""):
    """The home page's form: a typed code, or a pasted label URL, opens that cylinder's label page."""
    text, signature = split_scan(code)
    try:
        canonical = tracecode.normalize(text)
    except tracecode.TraceCodeError as error:
        return render(request, "home.html", status=422, problem=code_problem(error), typed=code[:64])
    query = f"?{urlencode({'s': signature})}" if signature else ""
    return RedirectResponse(f"/c/{canonical}{query}", status_code=303)


@router.get("/c/{code}")
def label_page(
    request: Request, connection: ReadConn, ledger: LedgerDep, viewer: Viewer,
    code: Annotated[str, Path(max_length=64)], s: Annotated[str | None, Query(max_length=200)] = None,
):
    """What a citizen sees after pointing a phone camera at a label."""
    try:
        canonical = tracecode.normalize(code)
    except tracecode.TraceCodeError as error:
        return render(request, "unknown.html", status=404, problem=code_problem(error), typed=code)
    if canonical != code:  # typed in lower case or with hyphens: one address per cylinder
        query = f"?{urlencode({'s': s})}" if s else ""
        return RedirectResponse(f"/c/{quote(canonical)}{query}", status_code=301)
    try:
        trace = ledger.trace(connection, canonical)
    except NotFound:
        return render(request, "unknown.html", status=404, problem="unregistered", typed=tracecode.printed(canonical))
    facts = label_facts(trace, label_check(canonical, s, ledger))
    facts["witnessed"] = [{"name": name, "at": at} for name, at in ledger.witnessed_by(connection, canonical)]
    facts["witnessing"] = bool(facts["witnessed"] or ledger.witnesses)  # a log without witnesses says nothing
    return render(request, "label.html", facts=facts)
