"""Settings of a ledger deployment, read from the environment with safe defaults.

| variable                | default                         | meaning                                  |
|-------------------------|---------------------------------|------------------------------------------|
| LEDGER_DATABASE_URL     | sqlite:///ledger.db             | SQLAlchemy URL (SQLite or PostgreSQL)    |
| LEDGER_KEY_FILE         | ledger-log.key                  | the log's Ed25519 signing key (PEM)      |
| LEDGER_LABEL_KEY_FILE   | ledger-label.key                | the label-signing Ed25519 key (PEM)      |
| LEDGER_LOG_ORIGIN       | cylinder-ledger.local/log       | the log's name in checkpoints            |
| LEDGER_BASE_URL         | http://127.0.0.1:8000           | the public base of label URLs            |
"""

from __future__ import annotations

import os
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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        settings = cls(
            database_url=env.get("LEDGER_DATABASE_URL", cls.database_url),
            key_file=Path(env.get("LEDGER_KEY_FILE", str(cls.key_file))),
            label_key_file=Path(env.get("LEDGER_LABEL_KEY_FILE", str(cls.label_key_file))),
            log_origin=env.get("LEDGER_LOG_ORIGIN", cls.log_origin),
            base_url=env.get("LEDGER_BASE_URL", cls.base_url).rstrip("/"),
        )
        given = {k: v for k, v in overrides.items() if v is not None}
        return replace(settings, **given) if given else settings
