"""End users: registered sealed, found by phone masked, seen in full on record, their own history by code.

docs/privacy.md says why each rule is there:

- a shop registers an end user; name, phone and address are sealed (``ledger.sealing``) and the
  phone is found only through its keyed hash, by exact match;
- a shop finds users by one phone number, sees name and phone masked, at most ``LOOKUPS`` times a
  window per account, and never lists anyone without a number;
- a regulator or inspector sees one end user in full only with a reason, and every such view is
  written to ``personal_data_views``, which the database keeps append-only;
- an end user reads their own deliveries with their phone and a one-time code that the
  ``end_user.code`` webhook hands to the city's SMS gateway: six digits, ``CODE_LIFETIME`` long,
  used once, ``CODE_ATTEMPTS`` wrong tries at most, kept only as a keyed hash.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import ledger.service as package  # new_id is looked up when called: the demo seeds it

from .. import privacy
from ..domain import Role, format_time
from ..errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unavailable
from ..sealing import PersonalKeys, SealBroken, load_personal_keys, mask_name, mask_phone, normalise_phone
from ..storage import Connection
from ..storage import cases as outbox
from ..storage import endusers as rows
from ..storage import registry as reg
from ..text import readable
from .types import Actor, _now, _text

__all__ = ["EndUserService", "Limit", "LOOKUPS", "CODES_PER_PHONE", "CODE_LIFETIME", "CODE_ATTEMPTS",
           "CODE_EVENT", "seal_plaintext_rows", "reseal_all"]

CODE_EVENT = "end_user.code"


@dataclass(frozen=True)
class Limit:
    """At most ``count`` requests in each fixed window of ``seconds``."""

    name: str
    count: int
    seconds: int


LOOKUPS = Limit("lookup", 30, 600)  # a shop's counter sees a few customers a minute, not hundreds
CODES_PER_PHONE = (Limit("code-phone-min", 1, 60), Limit("code-phone-hour", 5, 3600))
CODES_PER_ADDRESS = Limit("code-address", 20, 3600)
CHECKS_PER_ADDRESS = Limit("check-address", 30, 3600)
CODE_LIFETIME = timedelta(minutes=10)
CODE_ATTEMPTS = 5
_PURPOSE = "end_user:"


def _utc(moment: datetime) -> datetime:
    """A time as given, or read as UTC when it names no zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _sealed_purpose(ref: str) -> str:
    return _PURPOSE + ref


@dataclass(frozen=True)
class Refused:
    """A code that did not open the history: the tries it spent are kept, the answer says no."""

    message: str


class EndUserService:
    """Part of ``Ledger``: end users' personal data, beside the chain (docs/privacy.md)."""

    _personal: tuple[int, PersonalKeys] | None = None

    @property
    def personal_keys(self) -> PersonalKeys:
        """The personal-data keys, read again whenever the file changes (after a rotation)."""
        path = self.settings.personal_key_file
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            raise Unavailable(f"no personal-data key at {path}: run `ledger init` first") from None
        if self._personal is None or self._personal[0] != stamp:
            self._personal = (stamp, load_personal_keys(path))
        return self._personal[1]

    # -- registering and finding -------------------------------------------------------

    def create_end_user(
        self, connection: Connection, actor: Actor, *, kind: str, name: str, phone: str, address: str,
        now: datetime | None = None,
    ) -> str:
        """Store an end user's identity for real-name purchase, sealed; returns the opaque ``ref``
        deliveries name."""
        if actor.role is not Role.SHOP or actor.party is None:
            raise PermissionDenied("only a shop registers its end users")
        if kind not in ("household", "restaurant"):
            raise InvalidInput("kind must be household or restaurant", field="kind")
        values = {"name": _text(name, "name", 200), "phone": normalise_phone(phone),
                  "address": _text(address, "address", 400)}
        keys = self.personal_keys
        ref = package.new_id("U", 12)
        reg.insert_end_user(
            connection, ref=ref, shop=actor.party, kind=kind, created_at=format_time(now or _now()),
            sealed=keys.seal(_sealed_purpose(ref), values), phone_hash=keys.phone_hash(values["phone"]),
            key_version=keys.current,
        )
        return ref

    def find_end_users(self, connection: Connection, actor: Actor, phone: str,
                       now: datetime | None = None) -> list[dict[str, Any]]:
        """The end users registered under exactly this phone number (any shop's), masked."""
        if actor.role is not Role.SHOP or actor.party is None:
            raise PermissionDenied("only a shop looks up end users by phone")
        number = normalise_phone(phone)
        now = now or _now()
        _count(connection, LOOKUPS, f"account:{actor.account}", now,
               "too many look-ups by phone from this account")
        keys = self.personal_keys
        found = []
        for row in rows.by_phone_hashes(connection, keys.phone_hashes(number)):
            data = self._opened(row)
            found.append({"ref": row.ref, "name": mask_name(data["name"]), "phone": mask_phone(data["phone"])})
        return found

    def _opened(self, row) -> dict[str, Any]:
        """A row's name, phone and address: opened if sealed, as stored if from before sealing."""
        if row.sealed is None:
            return {"name": row.name, "phone": row.phone, "address": row.address}
        try:
            return self.personal_keys.open(_sealed_purpose(row.ref), row.sealed)
        except SealBroken as broken:
            raise Unavailable(f"end user {row.ref}: {broken}; the personal-data key file is not the one "
                              "that sealed it") from None

    # -- the full view, on record ---------------------------------------------------------

    def end_user(self, connection: Connection, actor: Actor, ref: str, *, reason: str,
                 now: datetime | None = None) -> dict[str, Any]:
        """An end user's personal data: shown to regulators and inspectors only, with a reason, and
        recorded in ``personal_data_views``; once erased, name, phone and address are ``None`` and
        ``erased_at`` says since when."""
        if actor.role not in (Role.REGULATOR, Role.INSPECTOR):
            raise PermissionDenied("end users' personal data is shown only to regulators and inspectors")
        reason = readable(reason, "reason", max_length=500)
        if len(reason) < 4:
            raise InvalidInput("reason must say why the data is needed (a case number, a complaint, ...)",
                               field="reason")
        row = reg.get_end_user(connection, ref)
        if row is None:
            raise NotFound(f"no end user {ref}")
        data = self._opened(row)
        rows.record_view(connection, ref=ref, account=actor.account or 0, account_name=actor.name,
                         role=actor.role.value, party=actor.party, reason=reason,
                         viewed_at=format_time(now or _now()))
        return {"ref": row.ref, "shop": row.shop, "kind": row.kind, "name": data["name"], "phone": data["phone"],
                "address": data["address"], "created_at": row.created_at,
                "erased_at": privacy.erased_at(connection, ref)}

    def personal_data_views(self, connection: Connection, actor: Actor, *, ref: str | None,
                            cursor: str | None, limit: int, since: datetime | None = None,
                            until: datetime | None = None) -> dict[str, Any]:
        """Who viewed whose personal data, when and why, newest first: regulators read it. ``since``
        (inclusive) and ``until`` (exclusive) bound the time of the view."""
        if actor.role is not Role.REGULATOR:
            raise PermissionDenied("the record of views of personal data is read by regulators")
        if since is not None and until is not None and until <= since:
            raise InvalidInput("until must be later than since", field="until")
        before = self.cursors.read(cursor, "personal-views")
        found = rows.views(connection, ref=ref, before=before, limit=limit + 1,
                           since=format_time(_utc(since)) if since else None,
                           until=format_time(_utc(until)) if until else None)
        more = len(found) > limit
        found = found[:limit]
        items = [{"id": r.id, "ref": r.ref, "account": r.account, "account_name": r.account_name, "role": r.role,
                  "party": r.party, "reason": r.reason, "viewed_at": r.viewed_at} for r in found]
        return {"items": items,
                "next_cursor": self.cursors.issue("personal-views", found[-1].id) if more else None}

    # -- an end user's own history --------------------------------------------------------

    def send_code(self, connection: Connection, phone: str, *, client: str,
                  now: datetime | None = None) -> dict[str, Any]:
        """A one-time code for ``phone``, announced as ``end_user.code`` for the city's SMS gateway.

        The answer is the same whether or not anyone is registered under the number, so it tells
        nobody who buys gas; only a registered number gets a code."""
        number = normalise_phone(phone)
        now = now or _now()
        keys = self.personal_keys
        if not self.code_gateway():
            raise Unavailable("this ledger sends no one-time codes: no webhook subscribes to end_user.code")
        _count(connection, CODES_PER_ADDRESS, "address:" + _blind(keys, client), now,
               "too many codes asked for from this address")
        hashed = keys.phone_hash(number)
        for limit in CODES_PER_PHONE:
            _count(connection, limit, "phone:" + hashed.hex()[:40], now, "a code was sent to this number a moment ago")
        expires = now + CODE_LIFETIME
        answer = {"sent_to": mask_phone(number), "expires_at": format_time(expires),
                  "expires_in": int(CODE_LIFETIME.total_seconds())}
        if not rows.by_phone_hashes(connection, keys.phone_hashes(number)):
            return answer
        code = f"{secrets.randbelow(10**6):06d}"
        rows.insert_code(connection, phone_hash=hashed, code_hash=keys.code_hash(hashed, code),
                         created_at=format_time(now), expires_at=format_time(expires), attempts=0,
                         stale_before=format_time(now - timedelta(days=1)))
        message = {"event": CODE_EVENT, "phone": number, "code": code, "expires_at": format_time(expires),
                   "text": f"您的燃气用气记录验证码是 {code}，{int(CODE_LIFETIME.total_seconds() // 60)} 分钟内有效，"
                           "请勿告诉他人。"}
        sealed = keys.seal("webhook:" + CODE_EVENT, message)
        outbox.enqueue(connection, CODE_EVENT, {"event": CODE_EVENT, "sealed": sealed.hex()}, format_time(now))
        return answer

    def code_gateway(self) -> bool:
        from ..webhooks import load_hooks  # read when asked: the file may be edited while serving

        return any(CODE_EVENT in hook.events for hook in load_hooks(self.settings.webhooks_file).values())

    def own_history(self, connection: Connection, phone: str, code: str, *, client: str,
                    now: datetime | None = None) -> dict[str, Any] | Refused:
        """The deliveries and collections of the end users registered under ``phone``, once the code
        sent to it is given. A wrong code is a ``Refused`` (its try is kept: the caller commits)."""
        number = normalise_phone(phone)
        if not isinstance(code, str) or not (len(code) == 6 and code.isascii() and code.isdigit()):
            raise InvalidInput("code must be the 6 digits of the text message", field="code")
        now = now or _now()
        at = format_time(now)
        keys = self.personal_keys
        _count(connection, CHECKS_PER_ADDRESS, "check:" + _blind(keys, client), now,
               "too many codes tried from this address")
        hashes = keys.phone_hashes(number)
        live = rows.live_codes(connection, hashes, at)
        match = next((row for row in live if hmac.compare_digest(bytes(row.code_hash),
                                                                 keys.code_hash(row.phone_hash, code))), None)
        if match is None or not rows.use_code(connection, match.id, at):
            for row in live:
                rows.spend_attempt(connection, row.id, CODE_ATTEMPTS, at)
            return Refused("the code is wrong, used or expired: ask for a new one")
        users = rows.by_phone_hashes(connection, hashes)
        events = rows.deliveries_to(connection, [u.ref for u in users])
        shops = rows.party_names(connection, {e.party for e in events})
        items = []
        for event in events:
            data = json.loads(event.data) if isinstance(event.data, str) else (event.data or {})
            item = {"event": event.id, "cylinder": event.cylinder, "kind": event.kind,
                    "occurred_at": event.occurred_at, "shop": {"id": event.party, "name": shops.get(event.party)},
                    "net_kg": data.get("net_kg")}
            if "safety_check" in data:
                item["safety_check"] = data["safety_check"]
            items.append(item)
        return {"phone": mask_phone(number), "items": items}


def _blind(keys: PersonalKeys, client: str) -> str:
    """A client address as a rate bucket names it: keyed, so the table holds no address."""
    return hmac.new(keys.phone_hash("address"), client.encode(), hashlib.sha256).hexdigest()[:40]


def _count(connection: Connection, limit: Limit, who: str, now: datetime, message: str) -> None:
    stamp = int(now.timestamp())
    window = stamp - stamp % limit.seconds
    if rows.count_in_window(connection, f"{limit.name}:{who}", window) > limit.count:
        raise RateLimited(f"{message}: at most {limit.count} in {limit.seconds // 60} minutes; "
                          f"try again in {window + limit.seconds - stamp} seconds",
                          retry_after=window + limit.seconds - stamp)


# -- sealing rows: at init, after a migration, and when the key rotates -----------------------

def seal_plaintext_rows(connection: Connection, keys: PersonalKeys) -> int:
    """Seal every row still holding plaintext (from before revision 0015); returns how many."""
    done = 0
    while batch := rows.plaintext_rows(connection):
        for row in batch:
            if row.sealed is not None:  # sealed already: only the leftover plaintext goes
                data = load_row(keys, row)
            else:
                data = {"name": row.name, "phone": _stored_phone(row.phone), "address": row.address}
            _reseal(connection, keys, row.ref, data)
            done += 1
    return done


def reseal_all(connection: Connection, keys: PersonalKeys) -> int:
    """Re-seal every row sealed under an older key version with the newest; returns how many."""
    done, after = 0, ""
    while batch := rows.not_sealed_with(connection, keys.current, after):
        for row in batch:
            _reseal(connection, keys, row.ref, load_row(keys, row))
            done += 1
        after = batch[-1].ref
    return done


def versions_in_use(connection: Connection) -> set[int]:
    return rows.versions_in_use(connection)


def load_row(keys: PersonalKeys, row) -> dict[str, Any]:
    return keys.open(_sealed_purpose(row.ref), row.sealed)


def _stored_phone(phone: str | None) -> str | None:
    if phone is None:
        return None
    try:
        return normalise_phone(phone)
    except InvalidInput:
        return phone  # kept as registered; a lookup will not find it by another spelling


def _reseal(connection: Connection, keys: PersonalKeys, ref: str, data: dict[str, Any]) -> None:
    phone = data.get("phone")
    rows.reseal(connection, ref, sealed=keys.seal(_sealed_purpose(ref), data),
                phone_hash=keys.phone_hash(phone) if phone else None, key_version=keys.current)
