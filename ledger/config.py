"""Settings of a ledger deployment, read from the environment with safe defaults.

| variable                | default                         | meaning                                  |
|-------------------------|---------------------------------|------------------------------------------|
| LEDGER_DATABASE_URL     | sqlite:///ledger.db             | SQLAlchemy URL (SQLite or PostgreSQL)    |
| LEDGER_KEY_FILE         | ledger-log.key                  | the log's Ed25519 signing key (PEM)      |
| LEDGER_LABEL_KEY_FILE   | ledger-label.key                | the label-signing Ed25519 key (PEM)      |
| LEDGER_PERSONAL_KEY_FILE | ledger-personal.key            | end users' data keys (docs/privacy.md)   |
| LEDGER_LOG_ORIGIN       | cylinder-ledger.local/log       | the log's name in checkpoints            |
| LEDGER_BASE_URL         | http://127.0.0.1:8000           | the public base of label URLs            |
| LEDGER_SESSION_IDLE     | 43200 (12 h)                    | seconds a page sign-in lasts unused      |
| LEDGER_SESSION_MAX      | 86400 (24 h)                    | seconds a page sign-in lasts at most     |
| LEDGER_SWEEP_INTERVAL   | 3600 (1 h)                      | seconds between a server's sweeps        |
| LEDGER_CHECKPOINT_INTERVAL | 10                           | seconds between published checkpoints (at least) and audit rounds |
| LEDGER_WITNESSES        | (none)                          | file: one witness a line, `<name> <url> <vkey>` |
| LEDGER_WITNESS_QUORUM   | all of them                     | cosignatures a checkpoint needs (docs/trust.md) |
| LEDGER_CASE_DEADLINES   | critical=24h,high=72h,medium=7d,low=14d | a dispatched case's deadline (docs/cases.md) |
| LEDGER_WEBHOOKS         | (none)                          | file of webhooks (docs/cases.md)         |
| LEDGER_PHOTO_GPS        | strip                           | `keep` keeps a case photo's EXIF GPS     |
| LEDGER_HOTLINE          | (none)                          | the operator's phone, printed on labels  |
| LEDGER_REPORT_LIMITS    | address=5/1h,cylinder=20/1d,fold=7d | citizens' reports: rate limits and folding (docs/citizens.md) |
| LEDGER_SAFETY_ITEMS     | (built-in list)                 | file: the city's home safety check items (docs/custody.md) |
| LEDGER_REGION           | (none)                          | this city's 6-digit GB/T 2260 code (docs/regions.md) |
| LEDGER_PEERS            | (none)                          | file: one other city a line, `<name> <url> <log vkey>` |
| LEDGER_TRUSTED_PROXIES  | 127.0.0.1,::1                   | reverse proxies whose X-Forwarded-For names the client (docs/operations.md) |
| LEDGER_HUB_URL          | (none)                          | the provincial hub; trace pages link codes this city does not know to it |
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Settings"]


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite:///ledger.db"
    key_file: Path = Path("ledger-log.key")
    label_key_file: Path = Path("ledger-label.key")
    personal_key_file: Path = Path("ledger-personal.key")  # seals end users' personal data (ledger.sealing)
    log_origin: str = "cylinder-ledger.local/log"
    base_url: str = "http://127.0.0.1:8000"
    session_idle_seconds: int = 12 * 3600  # a working shift without a page view ends the sign-in
    session_max_seconds: int = 24 * 3600  # however busy, one sign-in never outlasts a day
    sweep_interval_seconds: int = 3600  # the clock's findings (vanished, unconfirmed) are at most this late
    checkpoint_interval: float = 10.0  # the publisher signs at most this often; the auditor's round (docs/trust.md, audit.md)
    witnesses_file: Path | None = None
    witness_quorum: int | None = None  # None: every listed witness
    case_deadlines: str = "critical=24h,high=72h,medium=7d,low=14d"  # parsed by ledger.cases.deadlines
    webhooks_file: Path | None = None
    photo_gps: str = "strip"
    hotline: str = ""  # the operator's service phone, printed on label sheets
    report_limits: str = "address=5/1h,cylinder=20/1d,fold=7d"  # parsed by ledger.citizen.parse_limits
    safety_items_file: Path | None = None  # a city's 入户安检 checklist (ledger.safety.load); None: the built-in one
    region: str = ""  # this city's GB/T 2260 code: the prefix of its parties' province-unique identity
    peers_file: Path | None = None  # the other cities' ledgers cylinders cross to (docs/regions.md)
    trusted_proxies: str = "127.0.0.1,::1"  # addresses and networks whose X-Forwarded-For is believed; "" none
    hub_url: str = ""  # the provincial hub's pages, offered for a code this city does not know (docs/regions.md)

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls(
            database_url=env.get("LEDGER_DATABASE_URL", cls.database_url),
            key_file=Path(env.get("LEDGER_KEY_FILE", str(cls.key_file))),
            label_key_file=Path(env.get("LEDGER_LABEL_KEY_FILE", str(cls.label_key_file))),
            personal_key_file=Path(env.get("LEDGER_PERSONAL_KEY_FILE", str(cls.personal_key_file))),
            log_origin=env.get("LEDGER_LOG_ORIGIN", cls.log_origin),
            base_url=env.get("LEDGER_BASE_URL", cls.base_url).rstrip("/"),
            session_idle_seconds=_seconds(env, "LEDGER_SESSION_IDLE", cls.session_idle_seconds),
            session_max_seconds=_seconds(env, "LEDGER_SESSION_MAX", cls.session_max_seconds),
            sweep_interval_seconds=_seconds(env, "LEDGER_SWEEP_INTERVAL", cls.sweep_interval_seconds),
            checkpoint_interval=_interval(env.get("LEDGER_CHECKPOINT_INTERVAL"), cls.checkpoint_interval),
            witnesses_file=Path(env["LEDGER_WITNESSES"]) if env.get("LEDGER_WITNESSES") else None,
            witness_quorum=_quorum(env.get("LEDGER_WITNESS_QUORUM")),
            case_deadlines=env.get("LEDGER_CASE_DEADLINES", cls.case_deadlines),
            webhooks_file=Path(env["LEDGER_WEBHOOKS"]) if env.get("LEDGER_WEBHOOKS") else None,
            photo_gps=env.get("LEDGER_PHOTO_GPS", cls.photo_gps),
            hotline=env.get("LEDGER_HOTLINE", cls.hotline).strip(),
            report_limits=env.get("LEDGER_REPORT_LIMITS", cls.report_limits),
            safety_items_file=Path(env["LEDGER_SAFETY_ITEMS"]) if env.get("LEDGER_SAFETY_ITEMS") else None,
            region=env.get("LEDGER_REGION", cls.region).strip(),
            peers_file=Path(env["LEDGER_PEERS"]) if env.get("LEDGER_PEERS") else None,
            trusted_proxies=_proxies(env.get("LEDGER_TRUSTED_PROXIES", cls.trusted_proxies)),
            hub_url=env.get("LEDGER_HUB_URL", cls.hub_url).strip().rstrip("/"),
        )
        if settings.region and not (len(settings.region) == 6 and settings.region.isdigit()):
            raise ValueError(f"LEDGER_REGION must be a 6-digit GB/T 2260 code, not {settings.region!r}")
        if settings.hub_url and not settings.hub_url.startswith(("http://", "https://")):
            raise ValueError(f"LEDGER_HUB_URL must be an http(s) URL, not {settings.hub_url!r}")
        if settings.photo_gps not in ("strip", "keep"):
            raise ValueError(f"LEDGER_PHOTO_GPS must be strip or keep, not {settings.photo_gps!r}")
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings


def _proxies(value: str) -> str:
    """``LEDGER_TRUSTED_PROXIES``: IP addresses and networks (CIDR), comma-separated, as uvicorn's
    ``--forwarded-allow-ips`` takes them; ``*`` believes any peer, "" none."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    for entry in entries:
        if entry == "*":
            continue
        try:
            ipaddress.ip_network(entry)  # strict, as uvicorn reads it: 10.0.0.1/8 is no network
        except ValueError:
            raise ValueError(f"LEDGER_TRUSTED_PROXIES must list IP addresses or networks (CIDR, host bits zero), "
                             f"comma-separated, not {entry!r}") from None
    return ",".join(entries)


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 60 <= int(value) <= 30 * 86400:
        raise ValueError(f"{name} must be a number of seconds between 60 and 2592000, not {value!r}")
    return int(value)


def _interval(value: str | None, default: float) -> float:
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0.1 <= seconds <= 86400:
        raise ValueError(f"LEDGER_CHECKPOINT_INTERVAL must be a number of seconds between 0.1 and 86400, not {value!r}")
    return seconds


def _quorum(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"LEDGER_WITNESS_QUORUM must be a whole number of witnesses, at least 1, not {value!r}")
    return int(value)
