"""The base URL labels carry, as the commands see it: `ledger serve` warns, `ledger labels` insists.

A sheet printed by `ledger labels` is glued to steel, so it is made only with a base URL someone
chose: `--base-url`, or LEDGER_BASE_URL set in the environment (to any value, the default's own
included). A server only warns at start: its label endpoints refuse per request (ledger.baseurl).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from urllib.parse import urlsplit

import typer

from ledger.baseurl import DEFAULT_BASE_URL, mismatch
from ledger.config import Settings

__all__ = ["labels_settings", "warn_base_url"]


def warn_base_url(settings: Settings, host: str, port: int) -> None:
    """Warn at `ledger serve` start when labels would point at the default on a server reached elsewhere."""
    listening = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    wrong = mismatch(settings.base_url, listening, port)
    if wrong is None and host in ("0.0.0.0", "::"):  # on every address: phones reach it by another one
        wrong = mismatch(settings.base_url, host, port)
    if wrong:
        sys.stderr.write(f"warning: {wrong}. Until then the label endpoints answer 409.\n")


def labels_settings(settings: Settings, base_url: str | None) -> Settings:
    """The settings `ledger labels` prints with: an explicit base URL, or exit 2 saying how to give one."""
    if base_url is None and "LEDGER_BASE_URL" not in os.environ:
        sys.stderr.write(
            f"error: labels carry their base URL for good, and none was given (the default is {DEFAULT_BASE_URL}, "
            "this machine only): pass --base-url https://trace.your-city.gov.cn or set LEDGER_BASE_URL\n")
        raise typer.Exit(2)
    if base_url is None:
        return settings
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        sys.stderr.write(f"error: --base-url must be an http(s) address like https://trace.your-city.gov.cn, "
                         f"not {base_url!r}\n")
        raise typer.Exit(2)
    return replace(settings, base_url=base_url.rstrip("/"))
