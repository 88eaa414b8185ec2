"""The pure core imports neither the database layer nor the web framework, and the layers above storage speak no SQL."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ledger

PURE = ["ledger.domain", "ledger.errors", "ledger.text", "ledger.cursor", "ledger.canonical", "ledger.signednote",
        "ledger.proofs", "ledger.bundle", "ledger.wire", "ledger.tracecode", "ledger.custody", "ledger.rules",
        "ledger.stamp"]


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_loads_without_sqlalchemy_or_fastapi(module):
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'starlette')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"


def test_only_the_storage_package_imports_sqlalchemy():
    root = Path(ledger.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        # storage is the SQL layer; the demo's tamper tool edits rows behind the ledger's back on purpose
        if {"storage", "demo"} & set(path.relative_to(root).parts):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] == "sqlalchemy" for name in names):
                offenders.append(str(path.relative_to(root)))
    assert offenders == []
