"""Sending the outbox to the ledger: ``POST {server}/v1/events/batch``.

The guarantees, whatever happens to the process or the network:

- no scan is lost: a scan leaves ``pending`` only when the server's answer
  for it has been written to the outbox;
- no scan is recorded twice: its idempotency key was fixed when it was
  scanned, so a batch resent after a kill, a timeout or a dropped connection
  is answered ``duplicate`` for every scan the server already has.

Network errors, 5xx and 429 are retried with exponential backoff and full
jitter; a 429's ``Retry-After`` is honoured. 401/403 and other 4xx stop the
sync at once: retrying cannot help.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from ledger.errors import LedgerError

from .errors import ServerRefusedToken, SyncFailed
from .outbox import Outbox, Outcome, StoredScan

__all__ = ["MAX_BATCH", "DEFAULT_BATCH", "RetryPolicy", "SyncReport", "sync"]

MAX_BATCH = 1000  # the server's limit per batch
DEFAULT_BATCH = 200
_STATUS = {"created": "recorded", "duplicate": "duplicate", "rejected": "rejected"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries per batch; waits are uniform in [0, min(cap, base * 2**n)] seconds."""

    attempts: int = 6
    base: float = 0.5
    cap: float = 30.0
    timeout: float = 30.0

    def wait(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.cap, self.base * 2**attempt))


@dataclass(slots=True)
class SyncReport:
    """What one sync did. ``stopped`` is the reason it ended early (None: every pending scan was answered)."""

    answered: list[StoredScan] = field(default_factory=list)
    still_pending: int = 0
    stopped: LedgerError | None = None

    @property
    def complete(self) -> bool:
        return self.stopped is None and self.still_pending == 0


def sync(
    outbox: Outbox,
    server: str,
    token: str,
    *,
    batch_size: int = DEFAULT_BATCH,
    retry: RetryPolicy = RetryPolicy(),
    client: httpx.Client | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> SyncReport:
    """Sends every pending scan, oldest first, ``batch_size`` (1-1000) at a time.

    Never raises for the server's or the network's failures: they end the sync
    early and are reported in ``SyncReport.stopped``; unanswered scans stay
    pending for the next sync.
    """
    if not 1 <= batch_size <= MAX_BATCH:
        raise ValueError(f"batch_size must be 1-{MAX_BATCH}")
    url = server.rstrip("/") + "/v1/events/batch"
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    report = SyncReport()
    own_client = client is None
    http = client or httpx.Client(timeout=retry.timeout)
    rng = random.Random()
    after = 0
    try:
        while batch := outbox.claim(batch_size, after=after):
            after = batch[-1].id
            try:
                results = _send(http, url, headers, [scan.as_event() for scan in batch], retry, sleep, rng)
            except LedgerError as error:
                report.stopped = error
                break
            outcomes = _outcomes(batch, results)
            outbox.record_outcomes(outcomes)
            report.answered.extend(outbox.get(o.scan_id) for o in outcomes)
    finally:
        if own_client:
            http.close()
    report.still_pending = len(outbox.list("pending"))
    return report


def _send(
    http: httpx.Client,
    url: str,
    headers: dict[str, str],
    events: list[dict[str, Any]],
    retry: RetryPolicy,
    sleep: Callable[[float], None],
    rng: random.Random,
) -> list[Any]:
    """The ``results`` of one batch, retried as the policy allows."""
    problem, wait = "no answer", 0.0
    for attempt in range(retry.attempts):
        if attempt:
            sleep(wait)
        try:
            response = http.post(url, json={"events": events}, headers=headers)
        except httpx.TransportError as error:
            problem = f"cannot reach the server ({type(error).__name__})"
            wait = retry.wait(attempt, rng)
            continue
        if response.status_code == 429 or response.status_code >= 500:
            problem = f"the server is busy or failing (HTTP {response.status_code})"
            wait = max(retry.wait(attempt, rng), min(retry.cap, _retry_after(response)))
            continue
        if response.status_code in (401, 403):
            raise ServerRefusedToken(
                f"the server refused the token (HTTP {response.status_code}): {_detail(response)}"
            )
        if response.status_code != 200:
            raise SyncFailed(f"the server refused the batch (HTTP {response.status_code}): {_detail(response)}")
        try:
            results = response.json()["results"]
        except (ValueError, KeyError, TypeError):
            raise SyncFailed("the server's answer is not a batch result") from None
        if not isinstance(results, list):
            raise SyncFailed("the server's answer is not a batch result")
        return results
    raise SyncFailed(f"{problem}; tried {retry.attempts} times")


def _outcomes(batch: list[StoredScan], results: list[Any]) -> list[Outcome]:
    """One outcome per well-formed result; scans without one stay pending and are resent later."""
    outcomes: dict[int, Outcome] = {}
    for result in results:
        if not isinstance(result, dict):
            continue
        index, status = result.get("index"), _STATUS.get(result.get("status"))  # type: ignore[arg-type]
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(batch) or status is None:
            continue
        scan = batch[index]
        event = result.get("event") if isinstance(result.get("event"), dict) else None
        findings = result.get("findings")
        outcomes[index] = Outcome(
            scan_id=scan.id,
            idempotency_key=scan.idempotency_key,
            status=status,
            reason=_reason(result.get("error")) if status == "rejected" else None,
            findings=[f for f in findings if isinstance(f, dict)] if isinstance(findings, list) else [],
            event=event,
        )
    return [outcomes[index] for index in sorted(outcomes)]


def _reason(error: Any) -> str:
    """The server's reason in one line: the problem's detail, then any field errors."""
    if not isinstance(error, dict):
        return str(error) if error else "refused without a reason"
    text = str(error.get("detail") or error.get("title") or "refused")
    fields = [
        f"{item.get('field', '?')}: {item.get('message', 'invalid')}"
        for item in error.get("errors") or []
        if isinstance(item, dict)
    ]
    return "; ".join([text, *fields[:3]])


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "0")))
    except ValueError:
        return 0.0
