"""The layering contract (docs/DESIGN.md), read from the imports of every production module
(module level and inside functions):

    rules -> models -> state -> core -> tables -> streaming -> agents -> job

each layer imports only itself and the layers before it; `ops` and `offline` sit beside `job`
(they may import every layer below it, never `job`); `ops.metrics` may be used from any layer.
The pure layers (rules, models, state, core) never import an engine: faust, mode, aiokafka,
rocksdict, redis."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["rules", "models", "state", "core", "tables", "streaming", "agents", "job"]
BESIDE_JOB = ("ops", "offline")
PURE = ("rules", "models", "state", "core")
ENGINES = ("faust", "mode", "aiokafka", "rocksdict", "redis")
ANYWHERE = ("ops.metrics",)


def _rank(package: str) -> int:
    return ORDER.index("job") if package in BESIDE_JOB else ORDER.index(package)


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def _modules() -> list[tuple[str, Path]]:
    return [(pkg, p) for pkg in (*ORDER, *BESIDE_JOB) for p in sorted((ROOT / pkg).rglob("*.py"))]


def _violations(package: str, path: Path) -> list[str]:
    bad = []
    for line, name in _imports(path):
        top = name.split(".")[0]
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        if package in PURE and top in ENGINES:
            bad.append(where)
        if top not in ORDER and top not in BESIDE_JOB or top == package:
            continue
        if any(name == a or name.startswith(a + ".") for a in ANYWHERE):
            continue
        if package in BESIDE_JOB and top in BESIDE_JOB:
            continue  # side by side
        if top == "job" and package != "job" or _rank(top) > _rank(package):
            bad.append(where)
    return bad


def test_every_package_of_the_contract_exists() -> None:
    for pkg in (*ORDER, *BESIDE_JOB):
        assert (ROOT / pkg / "__init__.py").is_file(), pkg


@pytest.mark.parametrize("package", [*ORDER, *BESIDE_JOB])
def test_no_layer_imports_upward_and_the_core_imports_no_engine(package: str) -> None:
    bad = [v for pkg, path in _modules() if pkg == package for v in _violations(pkg, path)]
    assert not bad, "\n".join(bad)


def test_the_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The contract can fail: an upward import and an engine import in the core are found."""
    core = tmp_path / "core.py"
    core.write_text("import faust\n\ndef f():\n    from agents.runtime import Runtime\n")
    tables = tmp_path / "tables.py"
    tables.write_text("from ops.metrics import X\nfrom ops.web import report_agg\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert [v.split(" imports ")[1] for v in _violations("core", core)] == [
            "faust", "agents.runtime.Runtime"]
        assert [v.split(" imports ")[1] for v in _violations("tables", tables)] == [
            "ops.web.report_agg"]
    finally:
        ROOT = saved
