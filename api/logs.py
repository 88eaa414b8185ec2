"""Logging of a served instance: one JSON object per line for requests, nothing secret.

The access log (``ledger.access``) comes from ``api.middleware.AccessLog``: method,
route template, status, duration, account id and role; never the Authorization
header, a body or a path that names an end user.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LOG_CONFIG"]

LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(message)s"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "handlers": {
        "access": {"class": "logging.StreamHandler", "formatter": "line", "stream": "ext://sys.stdout"},
        "errors": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
    },
    "loggers": {
        "ledger.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        "ledger.api": {"handlers": ["errors"], "level": "INFO", "propagate": False},
        "ledger.publisher": {"handlers": ["errors"], "level": "INFO", "propagate": False},
        "ledger.fonts": {"handlers": ["errors"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["errors"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"level": "INFO"},
    },
}
