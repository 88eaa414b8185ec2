"""The docs cite only files that are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("ledger", "api", "scanners", "tools", "tests", "docs", "bench")
# A backticked repository path: `ledger/x.py`, `docs/y.md`, `bench/z.py` (a path with a blank or a
# placeholder is an example, not a citation).
CITED = re.compile(r"`((?:%s)/[\w./-]+\.(?:py|md|svg|toml|json|html|css|js|ini|txt))`" % "|".join(TOP))


def cited_paths() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for path in CITED.findall(doc.read_text(encoding="utf-8")):
            found.setdefault(path, []).append(doc.name)
    return found


def test_the_scan_sees_citations() -> None:
    assert "docs/api.md" in cited_paths() or any(p.startswith("ledger/") for p in cited_paths())


def test_every_cited_path_exists() -> None:
    missing = {path: docs for path, docs in cited_paths().items() if not (ROOT / path).exists()}
    assert not missing, f"cited in the docs but not in the repository: {missing}"
