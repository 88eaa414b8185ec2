"""Settings of a ledger deployment, read from the environment with safe defaults.

| variable                | default                         | meaning                                  |
|-------------------------|---------------------------------|------------------------------------------|
| LEDGER_DATABASE_URL     | sqlite:///ledger.db             | SQLAlchemy URL (SQLite or PostgreSQL)    |
| LEDGER_KEY_FILE         | ledger-log.key                  | the log's Ed25519 signing key (PEM)      |
| LEDGER_LABEL_KEY_FILE   | ledger-label.key                | the label-signing Ed25519 key (PEM)      |
| LEDGER_LOG_ORIGIN       | cylinder-ledger.local/log       | the log's name in checkpoints            |
| LEDGER_BASE_URL         | http://127.0.0.1:8000           | the public base of label URLs            |
| LEDGER_SESSION_IDLE     | 43200 (12 h)                    | seconds a page sign-in lasts unused      |
| LEDGER_SESSION_MAX      | 86400 (24 h)                    | seconds a page sign-in lasts at most     |
| LEDGER_SWEEP_INTERVAL   | 3600 (1 h)                      | seconds between a server's sweeps        |
| LEDGER_HOTLINE          | (none)                          | the operator's phone, printed on labels  |
"""

from __future__ import annotations

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
    log_origin: str = "cylinder-ledger.local/log"
    base_url: str = "http://127.0.0.1:8000"
    session_idle_seconds: int = 12 * 3600  # a working shift without a page view ends the sign-in
    session_max_seconds: int = 24 * 3600  # however busy, one sign-in never outlasts a day
    sweep_interval_seconds: int = 3600  # the clock's findings (vanished, unconfirmed) are at most this late
    hotline: str = ""  # the operator's service phone, printed on label sheets

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls(
            database_url=env.get("LEDGER_DATABASE_URL", cls.database_url),
            key_file=Path(env.get("LEDGER_KEY_FILE", str(cls.key_file))),
            label_key_file=Path(env.get("LEDGER_LABEL_KEY_FILE", str(cls.label_key_file))),
            log_origin=env.get("LEDGER_LOG_ORIGIN", cls.log_origin),
            base_url=env.get("LEDGER_BASE_URL", cls.base_url).rstrip("/"),
            session_idle_seconds=_seconds(env, "LEDGER_SESSION_IDLE", cls.session_idle_seconds),
            session_max_seconds=_seconds(env, "LEDGER_SESSION_MAX", cls.session_max_seconds),
            sweep_interval_seconds=_seconds(env, "LEDGER_SWEEP_INTERVAL", cls.sweep_interval_seconds),
            hotline=env.get("LEDGER_HOTLINE", cls.hotline).strip(),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings


def _seconds(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None:
        return default
    if not value.isdigit() or not 60 <= int(value) <= 30 * 86400:
        raise ValueError(f"{name} must be a number of seconds between 60 and 2592000, not {value!r}")
    return int(value)
