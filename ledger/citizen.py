"""Citizens' reports (docs/citizens.md): a problem reported on the public site becomes a case.

A report needs no sign-in. It is checked (``submit``'s numbered steps), counted
against the rate limits, and then either opens a finding of kind ``citizen_report``
or, for the same cylinder and category within the fold window while that case is
still open, is folded into it. Either way the citizen gets a tracking code of
their own. Nothing of a report enters the chain: the text, the salt of its
commitment, the contact and the photos are kept beside it (``citizen_reports``,
``case_photos``); the finding's evidence holds only the salted commitment
(``ledger.notes``), so the text can be erased and the case still proves what
was reported.

The tracking answer (``tracking``) tells the case's steps without any person in
them: no inspector, no regulator's account, no contact, and of the steps' notes
only the closing one, which the page asks the regulator to write as the public
reply (反馈).

Functions take the caller's connection and never begin or commit.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import cases, notes, tracecode
from .domain import FindingKind, format_time
from .errors import InvalidInput, NotFound, RateLimited
from .storage import Connection
from .storage import cases as case_rows
from .storage import citizen as store
from .storage import findings as finding_rows
from .storage import registry as reg
from .text import readable

__all__ = ["CATEGORIES", "Category", "Limits", "parse_limits", "DEFAULT_LIMITS", "MAX_TEXT", "MAX_CONTACT",
           "submit", "tracking", "reports_of", "tracking_code", "printed", "address_hash", "erase",
           "PUBLIC_ACTOR", "OPEN"]


@dataclass(frozen=True)
class Category:
    code: str
    severity: str
    zh: str
    en: str


# What a citizen may report, with the urgency the case gets (its deadline: ledger.cases).
# A smell of gas is an emergency: the form tells the reader to ring 119 or the hotline first.
CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("illegal_refilling", "high", "黑气点（疑似非法充装、倒气点）", "Suspected illegal refilling point"),
    Category("damaged_cylinder", "high", "气瓶破损、锈蚀或漏气", "Damaged, rusty or leaking cylinder"),
    Category("no_safety_check", "medium", "送气未做入户安检", "Delivery without a home safety check"),
    Category("gas_smell_at_shop", "critical", "供应站或商户有燃气异味", "Smell of gas at a shop"),
    Category("unlabelled_cylinder", "medium", "气瓶无标签或二维码", "Cylinder without a label or code"),
    Category("other", "low", "其他问题", "Something else"),
)}
MAX_TEXT = 2000
MAX_CONTACT = 200
PUBLIC_ACTOR = "public"  # the actor a report's own steps name: no one
OPEN = ("open", "dispatched", "handled")
TRACKING_BODY = 15  # random symbols of 0-9A-Z: 77.5 bits, then one check symbol (ledger.tracecode)
_KEY_LABEL = b"cylinder-ledger citizen report address v1"


@dataclass(frozen=True)
class Limits:
    """At most ``per_address`` reports from one address in ``address_window``, ``per_cylinder`` about one
    cylinder in ``cylinder_window``; a report of the same cylinder and category within ``fold`` folds."""

    per_address: int
    address_window: timedelta
    per_cylinder: int
    cylinder_window: timedelta
    fold: timedelta


DEFAULT_LIMITS = "address=5/1h,cylinder=20/1d,fold=7d"
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


def parse_limits(text: str) -> Limits:
    """``address=5/1h,cylinder=20/1d,fold=7d`` (``LEDGER_REPORT_LIMITS``); a part left out keeps its default."""
    found: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        counted = re.fullmatch(r"(address|cylinder)=(\d{1,5})/(\d{1,4})([mhd])", part)
        window = re.fullmatch(r"fold=(\d{1,4})([mhd])", part)
        if counted and int(counted[2]) > 0 and int(counted[3]) > 0:
            found[counted[1]] = (int(counted[2]), int(counted[3]) * _UNITS[counted[4]])
        elif window and int(window[1]) > 0:
            found["fold"] = int(window[1]) * _UNITS[window[2]]
        else:
            raise ValueError(f"LEDGER_REPORT_LIMITS: {part!r} is not address=<n>/<t>, cylinder=<n>/<t> or fold=<t> "
                             "(t: a whole number of m, h or d)")
    defaults = {} if {"address", "cylinder", "fold"} <= set(found) else _raw(parse_limits(DEFAULT_LIMITS))
    merged = {**defaults, **found}
    return Limits(merged["address"][0], merged["address"][1], merged["cylinder"][0], merged["cylinder"][1],
                  merged["fold"])


def _raw(limits: Limits) -> dict[str, Any]:
    return {"address": (limits.per_address, limits.address_window),
            "cylinder": (limits.per_cylinder, limits.cylinder_window), "fold": limits.fold}


# -- tracking codes ------------------------------------------------------------------------------


def _check_symbol(body: str) -> str:
    state = 0
    for symbol in body:
        state = tracecode.combine(state, tracecode.ALPHABET.index(symbol))
    return next(s for s in tracecode.ALPHABET if tracecode.combine(state, tracecode.ALPHABET.index(s)) == 0)


def new_tracking_code() -> str:
    body = "".join(secrets.choice(tracecode.ALPHABET) for _ in range(TRACKING_BODY))
    return body + _check_symbol(body)


def tracking_code(text: Any) -> str:
    """The canonical tracking code ``text`` spells (upper case, no separators), or ``InvalidInput``: wrong
    length, a character outside 0-9 A-Z, or a check symbol that fails (a typo)."""
    if not isinstance(text, str) or len(text) > 40:
        raise InvalidInput("a tracking code is 16 letters and digits, as printed when the report was sent",
                           field="tracking_code")
    compact = "".join(ch for ch in text if ch not in " -\u00a0\t").upper()
    if len(compact) != TRACKING_BODY + 1 or not all(ch in tracecode.ALPHABET for ch in compact):
        raise InvalidInput("a tracking code is 16 letters and digits, as printed when the report was sent",
                           field="tracking_code")
    if _check_symbol(compact[:-1]) != compact[-1]:
        raise InvalidInput("this tracking code fails its check: probably a mistyped character", field="tracking_code")
    return compact


def printed(code: str) -> str:
    """``XXXX-XXXX-XXXX-XXXX``: how the code is shown to be copied down."""
    return "-".join(code[i:i + 4] for i in range(0, len(code), 4))


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode("ascii")).digest()


def address_hash(key: bytes, address: str) -> bytes:
    """The keyed hash the rate limits count a sender by: an address is personal data, and a plain hash of
    one of 2^32 IPv4 addresses is reversed by trying them all."""
    derived = hmac.new(key, _KEY_LABEL, hashlib.sha256).digest()
    return hmac.new(derived, address.encode("utf-8", "replace"), hashlib.sha256).digest()


# -- a report ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """A report as the citizen sent it, before anything is checked."""

    category: Any
    text: Any
    cylinder: Any = None
    contact: Any = None
    photos: tuple[bytes, ...] = ()


def _checked(sent: Sent) -> tuple[Category, str, str | None, str | None]:
    if not isinstance(sent.category, str) or sent.category not in CATEGORIES:
        raise InvalidInput(f"category must be one of {', '.join(CATEGORIES)}", field="category")
    text = readable(sent.text, "text", max_length=MAX_TEXT, multiline=True)
    contact = None
    if sent.contact is not None and (not isinstance(sent.contact, str) or sent.contact.strip()):
        contact = readable(sent.contact, "contact", max_length=MAX_CONTACT)
    cylinder = None
    if sent.cylinder is not None and (not isinstance(sent.cylinder, str) or sent.cylinder.strip()):
        try:
            cylinder = tracecode.normalize(sent.cylinder)
        except tracecode.TraceCodeError as error:
            raise InvalidInput(f"cylinder: {error.message}", field="cylinder") from None
    if len(sent.photos) > cases.MAX_PHOTOS:
        raise InvalidInput(f"at most {cases.MAX_PHOTOS} photos a report", field="photos")
    return CATEGORIES[sent.category], text, cylinder, contact


def _limit(count: int, most: int, window: timedelta, what: str, field: str) -> None:
    if count >= most:
        raise RateLimited(f"at most {most} reports {what} in {_span(window)}; please try again later",
                          retry_after=int(window.total_seconds()), field=field)


def _span(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def submit(connection: Connection, sent: Sent, *, address: bytes, limits: Limits, now: datetime) -> str:
    """Take one report; returns its tracking code. Every refusal is raised before anything is written.

    1. category, text, contact, cylinder and the number of photos are checked (``InvalidInput``);
       a cylinder must be one the platform registered;
    2. the sending address and the cylinder are counted against ``limits`` (``RateLimited``), under a lock
       on each (``lock_counted``) so that racing reports cannot both take the last place;
    3. each photo is checked and re-encoded without its EXIF GPS (``cases.photo``);
    4. a report of the same cylinder and category as one within the fold window whose case is still
       open is folded into that case (a ``corroborate`` step); any other opens a ``citizen_report`` case;
    5. the report is stored beside the chain under the SHA-256 of a fresh tracking code.
    """
    category, text, cylinder, contact = _checked(sent)  # 1
    region = None
    if cylinder is not None:
        row = reg.get_cylinder(connection, cylinder)
        if row is None:
            raise InvalidInput(f"the platform registered no cylinder {tracecode.printed(cylinder)}; leave the code "
                               "out and describe the cylinder in the text", field="cylinder")
        region = row.region
    at = format_time(now)
    store.lock_counted(connection, [address] + ([cylinder.encode("ascii")] if cylinder else []))
    _limit(store.count_from(connection, address, format_time(now - limits.address_window)),  # 2
           limits.per_address, limits.address_window, "from one address", "address")
    if cylinder is not None:
        _limit(store.count_about(connection, cylinder, format_time(now - limits.cylinder_window)),
               limits.per_cylinder, limits.cylinder_window, "about one cylinder", "cylinder")
    photos = [cases.photo(data) for data in sent.photos]  # 3: a citizen's GPS is always removed
    note = notes.seal(text)
    evidence = {"code": "citizen_report", "category": category.code, "cylinder": cylinder,
                "text_sha256": note.sha256.hex(), "photos": len(photos)}
    folded_into = (store.foldable(connection, cylinder, category.code, format_time(now - limits.fold), OPEN)
                   if cylinder is not None else None)  # 4
    if folded_into is not None:
        finding_id = folded_into
        row = _finding(connection, finding_id)
        finding_rows.add_action(connection, finding_id, "corroborate", row.status, PUBLIC_ACTOR,
                                f"another citizen report ({category.code}) folded into this case", at,
                                evidence={**evidence, "code": "citizen_report_folded"},
                                photos=[p.sha256 for p in photos])
    else:
        summary = f"citizen report ({category.code})" + (f" about {cylinder}" if cylinder else "")
        finding_id = finding_rows.insert_finding(
            connection, key=f"citizen:{secrets.token_hex(12)}", kind=FindingKind.CITIZEN_REPORT.value,
            severity=category.severity, cylinder=cylinder, party=None, region=region, events=[], note=summary,
            evidence=evidence, detected_at=at, status="open", assignee=None, resolved_by=None, updated_at=at)
        finding_rows.add_action(connection, finding_id, "detect", "open", PUBLIC_ACTOR, summary, at,
                                evidence=evidence, photos=[p.sha256 for p in photos])
    code = new_tracking_code()  # 5
    store.insert_report(connection, tracking_hash=_hash(code), finding=finding_id, category=category.code,
                        cylinder=cylinder, text=text, salt=note.salt, text_sha256=note.sha256, contact=contact,
                        address_hash=address, folded=folded_into is not None, created_at=at, erased_at=None,
                        photos=[p.sha256 for p in photos])
    cases.store_photos(connection, finding_id, photos, PUBLIC_ACTOR, at)
    return code


def _finding(connection: Connection, finding_id: int):
    row = finding_rows.get_finding(connection, finding_id)
    if row is None:
        raise NotFound(f"no finding {finding_id}")
    return row


# -- what the citizen sees -----------------------------------------------------------------------

# A case's steps as the citizen is told them; the report's own steps (detect, corroborate) become
# "received" at the time of this report, whichever report opened the case.
_PUBLIC_STEP = {"dispatch": "dispatched", "handle": "handled", "supervise": "supervised", "escalate": "supervised",
                "close": "closed", "resolve": "closed", "reopen": "reopened"}
_PUBLIC_STATUS = {"open": "received", "dispatched": "dispatched", "handled": "handled", "closed": "closed",
                  "resolved": "closed"}
_SAID = {"received": "the report was received and is waiting to be sent to an inspector",
         "dispatched": "an inspector was sent to look into it", "handled": "the inspector has dealt with it",
         "supervised": "the supervising regulator is following it up", "reopened": "the case was opened again",
         "closed": "the case is closed"}


def tracking(connection: Connection, code: str) -> dict[str, Any]:
    """``{status, category, history: [{status, at, note}], outcome}`` of the report ``code`` names; no person
    in it. Of the steps' notes only the closing step's is shown, as ``outcome`` and that step's ``note``."""
    report = store.by_tracking(connection, _hash(tracking_code(code)))
    if report is None:
        raise NotFound("no report has this tracking code")
    finding = _finding(connection, report.finding)
    history = [{"status": "received", "at": report.created_at, "note": _SAID["received"]}]
    outcome = None
    for step in finding_rows.actions_of(connection, [finding.id])[finding.id]:
        public = _PUBLIC_STEP.get(step["action"])
        if public is None or step["at"] < report.created_at:
            continue
        said = _SAID[public]
        if step["action"] == "close" and step["note"] and not step["erased_at"]:
            said = outcome = step["note"]
        history.append({"status": public, "at": step["at"], "note": said})
    status = _PUBLIC_STATUS.get(finding.status, "received")
    if status != "closed":
        outcome = None  # a reopened case's earlier reply is no longer its outcome
    return {"status": status, "category": report.category, "received_at": report.created_at,
            "history": history, "outcome": outcome}


def reports_of(connection: Connection, finding_id: int) -> list[dict[str, Any]]:
    """The reports of a case as those handling it see them: text, contact and photos (or ``erased_at``)."""
    return [{"id": f"CR{row.id}", "category": row.category, "cylinder": row.cylinder, "text": row.text,
             "contact": row.contact, "photos": json.loads(row.photos) if row.photos else [],
             "text_sha256": bytes(row.text_sha256).hex(), "folded": row.folded, "created_at": row.created_at,
             "erased_at": row.erased_at}
            for row in store.of_finding(connection, finding_id)]


def erase(connection: Connection, target: str, at: str):
    """Erase report ``CR<id>``'s text, salt and contact; returns (done, erased_at), or None when no such report."""
    if not (target.startswith("CR") and target[2:].isdigit() and len(target) < 20):
        return None
    row = store.get_report(connection, int(target[2:]))
    if row is None:
        return None
    if row.erased_at is not None:
        return False, row.erased_at
    store.erase_report(connection, row.id, at)
    case_rows.delete_photos(connection, row.finding, json.loads(row.photos) if row.photos else [])
    return True, at
