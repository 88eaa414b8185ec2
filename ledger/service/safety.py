"""The home safety check's services (入户安检, ``ledger.safety``): the city's items, photos beside the
chain, and the rectification notice of an unsafe installation. Never commits."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .. import photos as photo_rules
from .. import safety
from ..domain import EventKind, FindingKind, NewEvent, Role, format_time, parse_time
from ..errors import InvalidInput, NotFound, PermissionDenied, Rejected
from ..storage import Connection
from ..storage import photos as store
from ..storage import registry as reg
from .types import Actor, _now

__all__ = ["SafetyService"]

_CHINA = timedelta(hours=8)  # notices are dated as the user reads the clock
_SEES_EVERY_PHOTO = frozenset({Role.ADMIN, Role.REGULATOR, Role.INSPECTOR})


class SafetyService:
    """Part of ``Ledger``: the home safety check at delivery."""

    checklist: safety.Checklist

    def safety_items(self) -> list[dict[str, str]]:
        """The city's checklist, in the order a worker goes through it."""
        return [item.as_dict() for item in self.checklist]

    def check_safety(self, connection: Connection, item: NewEvent) -> None:
        """Refuse a delivery whose safety check names an item the city does not have or a photo never uploaded."""
        check = item.data.get("safety_check") if item.kind is EventKind.DELIVER else None
        if check is None:
            return
        self.checklist.check_known(check)
        named = check.get("photos", [])
        missing = [digest for digest in named if digest not in store.known_photos(connection, named)]
        if missing:
            raise Rejected(f"photo {missing[0]} was never uploaded: upload it first, then name its sha256",
                           field="data.safety_check.photos")

    def upload_photo(self, connection: Connection, actor: Actor, data: bytes, now: datetime | None = None) -> dict:
        """Keep one photo of a safety check (JPEG or PNG, EXIF GPS stripped unless LEDGER_PHOTO_GPS=keep);
        its SHA-256 is what a deliver event names. The same bytes twice are kept once."""
        if actor.party is None or actor.role is not Role.SHOP:
            raise PermissionDenied("photos of a safety check are uploaded by the delivering shop's account")
        checked = photo_rules.photo(data, keep_gps=self.settings.photo_gps == "keep")
        store.keep_photo(connection, sha256=checked.sha256, media_type=checked.media_type, data=checked.data,
                         party=actor.party, added_by=actor.name, created_at=format_time(now or _now()))
        return {"sha256": checked.sha256, "media_type": checked.media_type, "bytes": len(checked.data)}

    def delivery_photo(self, connection: Connection, actor: Actor, sha256: str):
        """(media_type, data) of a safety-check photo: its uploader's party, or an overseer."""
        found = store.get_photo(connection, sha256)
        if found is None or (actor.role not in _SEES_EVERY_PHOTO and found.party != actor.party):
            raise NotFound(f"no photo {sha256}")
        return found

    def rectification_notice(self, connection: Connection, finding: dict[str, Any], lang: str) -> str:
        """The printable notice of an ``unsafe_installation`` finding (``safety.rectification_notice``)."""
        if finding["kind"] != FindingKind.UNSAFE_INSTALLATION.value:
            raise InvalidInput("only an unsafe installation has a rectification notice", field="finding_id")
        if lang not in ("zh", "en"):
            raise InvalidInput("lang must be zh or en", field="lang")
        party = reg.get_party(connection, finding["party"]) if finding["party"] else None
        at = (finding.get("evidence") or {}).get("at") or finding["detected_at"]
        local = (parse_time(at) + _CHINA).strftime("%Y-%m-%d %H:%M")
        return safety.rectification_notice(finding, self.checklist, lang=lang,
                                           party_name=party.name if party else (finding["party"] or "—"),
                                           local_time=local, hotline=self.settings.hotline)
