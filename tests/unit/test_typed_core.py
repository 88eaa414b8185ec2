"""The core's typed answers (chain breaks, cautions, outcomes) stay pure: no database, no web framework."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["ledger.chain", "ledger.standing", "ledger.outcomes", "ledger.bundle"])
def test_a_typed_core_module_drags_in_neither_sqlalchemy_nor_fastapi(module):
    code = (f"import sys, {module}; "
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'starlette'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
