"""Each layer imports only the layers below it, read from every import statement of every package.

    tools (cli, demo)  →  api, scanners  →  ledger's services  →  ledger's core
                                  ↘           ↓
                                   ledger.storage (the only package that imports SQLAlchemy)

No arrow runs back up: the core imports neither storage nor the services, the
web framework nor the server; storage imports no service and no API; the API
names storage only by ``ledger.storage``'s public names; nothing imports
``tools``. Imports are read with ``ast``, inside functions too, so an import
moved into a function to dodge a text search still counts.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ledger", "api", "scanners", "tools")

PURE = ["ledger.domain", "ledger.facts", "ledger.errors", "ledger.text", "ledger.cursor", "ledger.canonical", "ledger.signednote",
        "ledger.proofs", "ledger.bundle", "ledger.cosigning", "ledger.wire", "ledger.tracecode", "ledger.custody",
        "ledger.rules", "ledger.stamp", "ledger.witness"]

# The use cases and the parts of the ledger that read or write their own rows; every other module
# of ``ledger`` outside ``ledger.storage`` is core, so a new module starts out held to the core's rule.
SERVICES = ("ledger.service", "ledger.supervision", "ledger.oversight", "ledger.privacy", "ledger.sessions",
            "ledger.verify", "ledger.log", "ledger.ingest", "ledger.sequencer", "ledger.publisher", "ledger.sweeper",
            "ledger.audit", "ledger.witness_client", "ledger.capture", "ledger.cases", "ledger.webhooks",
            "ledger.reports", "ledger.citizen", "ledger.archival")

MAY_IMPORT = {
    "tools": {"tools", "api", "scanners", "service", "core", "storage"},
    "api": {"api", "scanners", "service", "core", "storage"},
    "scanners": {"scanners", "core"},  # the driver's handheld runs without the server or its database
    "service": {"service", "core", "storage"},
    "storage": {"storage", "core"},
    "core": {"core"},
}
_SQL = {"sqlalchemy", "alembic", "psycopg", "psycopg2"}
_WEB = {"fastapi", "starlette", "uvicorn"}
NEVER = {
    "tools": _SQL,
    "api": _SQL,
    "scanners": _SQL | _WEB,
    "service": _SQL | _WEB,
    "storage": _WEB,
    "core": _SQL | _WEB,
}


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for ``from m import n``: ``m``, and ``m.n`` if that is a module)
    names: tuple[str, ...]  # the names taken by ``from m import ...``
    line: int

    def __str__(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def sources() -> dict[str, Path]:
    """Every Python module of the four packages, demo and migrations included."""
    return {module_name(path): path for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_in(module: str, source: str, *, package: bool = False) -> Iterator[Import]:
    """Every import in ``source``, at any depth, with relative imports resolved against ``module``."""
    here = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            base = here[: len(here) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            names = tuple(alias.name for alias in node.names)
            yield Import(module, target, names, node.lineno)
            for name in names:
                if is_module(f"{target}.{name}"):
                    yield Import(module, f"{target}.{name}", (), node.lineno)
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and (ast.unparse(node.func) in ("importlib.import_module", "import_module", "__import__"))):
            yield Import(module, node.args[0].value, (), node.lineno)


def layer_of(module: str) -> str | None:
    """The layer a first-party module belongs to; None for the standard library and third parties."""
    top = module.split(".")[0]
    if top in ("tools", "api", "scanners"):
        return top
    if top != "ledger":
        return None
    if module == "ledger.storage" or module.startswith("ledger.storage."):
        return "storage"
    if any(module == name or module.startswith(name + ".") for name in SERVICES):
        return "service"
    return "core"


def storage_surface() -> set[str]:
    """``ledger.storage.__all__``, read from its source."""
    tree = ast.parse((ROOT / "ledger" / "storage" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


def violations(found: Iterator[Import]) -> list[str]:
    """Each import that runs against an arrow of the picture above, said in one line."""
    surface = storage_surface()
    wrong = []
    for imp in found:
        layer, target = layer_of(imp.module), layer_of(imp.target)
        if target is None:
            if imp.target.split(".")[0] in NEVER[layer]:
                wrong.append(f"{imp}: {layer} never imports {imp.target.split('.')[0]}")
            continue
        if target not in MAY_IMPORT[layer]:
            # a new use case that reads its own rows belongs in SERVICES; a core module must not need them
            hint = " (a use case? name it in SERVICES)" if layer == "core" and target == "storage" else ""
            wrong.append(f"{imp}: {layer} may not import {target}{hint}")
        elif layer == "api" and target == "storage":
            # the API names storage only through the package's public surface, never a module of it
            if imp.target != "ledger.storage" or not set(imp.names) <= surface:
                wrong.append(f"{imp}: the API may use only ledger.storage's public names {sorted(surface)}")
        elif layer == "tools" and target == "storage":
            if any(part.startswith("_") for part in (*imp.target.split("."), *imp.names)):
                wrong.append(f"{imp}: tools may use only ledger.storage's public names")
    return wrong


def every_import() -> Iterator[Import]:
    for module, path in sources().items():
        yield from imports_in(module, path.read_text(encoding="utf-8"), package=path.name == "__init__.py")


def test_no_import_runs_against_the_layers():
    assert violations(every_import()) == []


def test_every_package_is_read_the_demo_and_the_command_line_included():
    modules = sources()
    assert {layer_of(module) for module in modules} == set(MAY_IMPORT)
    for module in ("tools.cli", "tools.demo.runner", "tools.demo.tamper", "api.routers.health", "api.pages.driver",
                   "scanners.cli", "ledger.storage.db", "ledger.service", "ledger.domain"):
        assert module in modules, module
    assert not any(module.startswith(("ledger.cli", "ledger.demo")) for module in modules)


def test_only_the_storage_package_imports_sqlalchemy():
    offenders = sorted({imp.module for imp in every_import()
                        if imp.target.split(".")[0] == "sqlalchemy" and layer_of(imp.module) != "storage"})
    assert offenders == []


def test_nothing_imports_the_tools():
    offenders = [str(imp) for imp in every_import()
                 if layer_of(imp.target) == "tools" and layer_of(imp.module) != "tools"]
    assert offenders == []


@pytest.mark.parametrize(("module", "source", "why"), [
    ("ledger.domain", "def f():\n    from .storage import events\n", "core may not import storage"),
    ("ledger.custody", "def f():\n    import sqlalchemy\n", "core never imports sqlalchemy"),
    ("ledger.wire", "from ledger import service\n", "core may not import service"),
    ("ledger.rules.engine", "from ..service import Ledger\n", "core may not import service"),
    ("ledger.canonical", "import uvicorn\n", "core never imports uvicorn"),
    ("ledger.tracecode", "import importlib\nimportlib.import_module('api.app')\n", "core may not import api"),
    ("ledger.stamp", "from scanners import payload\n", "core may not import scanners"),
    ("ledger.storage.events", "from api.errors import problem\n", "storage may not import api"),
    ("ledger.storage.registry", "from ..service import Actor\n", "storage may not import service"),
    ("ledger.service", "from fastapi import Request\n", "service never imports fastapi"),
    ("ledger.supervision", "from sqlalchemy import text\n", "service never imports sqlalchemy"),
    ("api.routers.health", "from sqlalchemy import text\n", "api never imports sqlalchemy"),
    ("api.deps", "from ledger.storage.db import Database\n", "only ledger.storage's public names"),
    ("api.app", "from ledger.storage import events\n", "only ledger.storage's public names"),
    ("api.app", "def f():\n    from tools.demo import build_city\n", "api may not import tools"),
    ("scanners.sync", "from api.app import create_app\n", "scanners may not import api"),
    ("scanners.outbox", "from ledger.storage import Connection\n", "scanners may not import storage"),
    ("tools.demo.tamper", "from sqlalchemy import text\n", "tools never imports sqlalchemy"),
    ("tools.cli", "from ledger.storage.db import _MIGRATIONS\n", "ledger.storage's public names"),
])
def test_an_arrow_added_back_is_caught_wherever_the_import_hides(module, source, why):
    found = violations(imports_in(module, source))
    assert found and all(why in line for line in found), found


@pytest.mark.parametrize("module", PURE)
def test_the_pure_core_loads_without_sqlalchemy_or_fastapi(module):
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('sqlalchemy', 'fastapi', 'starlette')); "
            "print(','.join(bad))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"{module} pulls in {out}"
