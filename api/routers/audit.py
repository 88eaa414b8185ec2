"""The audit's ledger-wide answer: does the log agree with its own signed past? Public, like the checkpoint."""

from typing import Literal

from fastapi import APIRouter

from ledger import audit

from ..body import JSONRoute
from ..deps import ReadConn
from ..schemas import Answer

router = APIRouter(route_class=JSONRoute, tags=["proofs"])


class Mismatch(Answer):
    finding: int
    detail: str


class AuditStatus(Answer):
    status: Literal["consistent", "disputed"]
    audited_size: int
    audited_root: str | None
    audited_at: str | None
    checkpoint_mismatch: list[Mismatch]
    disputed_cylinders: int


@router.get("/v1/audit", response_model=AuditStatus)
def get_audit(connection: ReadConn):
    """`disputed` while an open `checkpoint_mismatch` finding says the log disagrees with a signed checkpoint;
    the position the auditor verified (size, root, when) and how many cylinders are disputed (docs/audit.md)."""
    return audit.status(connection)
