"""The core speaks of cylinders, parties and events; only the HTTP layer knows its routes."""

from __future__ import annotations

import ast
from pathlib import Path

import ledger

# tools that only drive the API (the command line and the demo) may name its routes
_TOOLS = {"cli.py", "demo"}


def _raised_texts(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for part in ast.walk(node.exc):
                if isinstance(part, ast.Constant) and isinstance(part.value, str):
                    yield part.lineno, part.value


def test_no_core_error_message_sends_a_caller_to_an_http_route():
    root = Path(ledger.__file__).parent
    found = []
    for path in root.rglob("*.py"):
        if _TOOLS & set(path.relative_to(root).parts):
            continue
        for line, text in _raised_texts(ast.parse(path.read_text(encoding="utf-8"))):
            if "/v1/" in text or "GET /" in text or "POST /" in text:
                found.append(f"{path.relative_to(root)}:{line}: {text}")
    assert found == []
