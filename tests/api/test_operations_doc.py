"""docs/operations.md's curl walk-through runs as written against a real `ledger serve`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .served import LEDGER, Server

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("curl") is None, reason="needs curl and jq")
def test_the_first_day_curl_walkthrough_records_what_it_says(tmp_path) -> None:
    section = DOC.read_text(encoding="utf-8").split("\n## Registering with curl\n", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with Server(url, tmp_path, workers=1) as server:
        env = {**server.env, "API": server.base, "PATH": f"{Path(LEDGER).parent}:{os.environ['PATH']}"}
        admin = subprocess.run([LEDGER, "accounts", "create", "--role", "admin"], env=env, cwd=tmp_path,
                               capture_output=True, text=True, timeout=60)
        assert admin.returncode == 0, admin.stderr
        tokens = ('STATION_TOKEN=$(ledger accounts create --role company --party "$STATION")\n'
                  'CARRIER_TOKEN=$(ledger accounts create --role transporter --party "$CARRIER")\n')
        script = "set -eu\n" + blocks[0] + tokens + blocks[1]
        done = subprocess.run(["bash", "-c", script], env={**env, "ADMIN": admin.stdout.strip()}, cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    code = lines[0].removeprefix("registered ")
    assert lines[1:] == ['"fill"', "[]", '"dispatch"', '"receive"', lines[-1]]
    import json

    assert json.loads(lines[-1])["id"] == code and json.loads(lines[-1])["holder"].startswith("T")
