"""One CLI (issue 16): `python app.py --help` lists every command with one line, every option
has help text, default paths work from any directory, Faust's own subcommands are not offered."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cli

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "app.py")


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None,
         ) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("RULES_PATH", "DATA_DIR", "REDIS_URL", "LEADSTREAM_HOME")}
    return subprocess.run([sys.executable, APP, *args], cwd=cwd, env={**full, **(env or {})},
                          capture_output=True, text=True, timeout=60)


def test_help_lists_every_command_once_from_any_directory(tmp_path: Path) -> None:
    p = _run("--help", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    for cmd in cli.COMMANDS:
        lines = [ln for ln in p.stdout.splitlines()
                 if ln.strip().startswith(" ".join(cmd.path) + " ")]
        assert len(lines) == 1, (cmd.path, p.stdout)
        assert cmd.help in lines[0]
    assert "faust -A" not in p.stdout
    paths = {c.path for c in cli.COMMANDS}
    assert {("worker",), ("simulate",), ("rules", "validate"), ("rules", "push"),
            ("rules", "show"), ("import",)} <= paths


def _options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [(f"{name} {n}", a) for n, a in _options(sub)]
        else:
            out.append((action.dest, action))
    return out


def test_every_option_has_help_text() -> None:
    missing = [name for name, a in _options(cli.build_parser())
               if not a.help or a.help == argparse.SUPPRESS]
    assert not missing, missing


def test_each_command_answers_help(tmp_path: Path) -> None:
    for cmd in cli.COMMANDS:
        p = _run(*cmd.path, "--help", cwd=tmp_path)
        assert p.returncode == 0, (cmd.path, p.stderr)
        assert "usage:" in p.stdout
        if cmd.path == ("worker",):  # our settings, not Faust's own options
            assert "BROKER_URL" in p.stdout and "--web-port" not in p.stdout


def test_worker_refuses_faust_options(tmp_path: Path) -> None:
    p = _run("worker", "--web-port", "7000", cwd=tmp_path)
    assert p.returncode == 2 and "unrecognized arguments: --web-port" in p.stderr


def test_faust_subcommands_are_not_offered(tmp_path: Path) -> None:
    p = _run("agents", cwd=tmp_path)
    assert p.returncode == 2
    assert "invalid choice: 'agents'" in p.stderr and "Traceback" not in p.stderr


def test_default_rules_path_is_the_repository_or_leadstream_home(tmp_path: Path) -> None:
    p = _run("rules", "show", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert f"file:{ROOT / 'config' / 'rules.yaml'}" in p.stdout
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "examples" / "vision-enterprises.yaml",
                home / "config" / "rules.yaml")
    p = _run("rules", "show", cwd=tmp_path, env={"LEADSTREAM_HOME": str(home)})
    assert p.returncode == 0, p.stderr
    assert f"file:{home / 'config' / 'rules.yaml'}" in p.stdout


def test_register_adds_a_command_in_one_place(monkeypatch: object) -> None:
    ran: list[str] = []

    def add(p: argparse.ArgumentParser) -> None:
        p.add_argument("--flag", action="store_true", help="a flag")

    def run(args: argparse.Namespace) -> int:
        ran.append(f"flag={args.flag}")
        return 0

    before = list(cli.COMMANDS)
    try:
        # a path no real command has (`links check` is one now: CONTRACT §12)
        cli.register(cli.Command(("example", "check"), "check examples", add, run),
                     group_help="example: a test group")
        assert cli.main(["example", "check", "--flag"]) == 0
        assert ran == ["flag=True"]
        assert "example check" in cli.build_parser().format_help()
    finally:
        cli.COMMANDS[:] = before
        cli.GROUPS.pop("example", None)


def test_rules_validate_and_push_name_every_error_of_a_refused_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`rules validate` says INVALID, `rules push` pushes nothing (before asking for Redis);
    both list the errors by path and exit 1; a valid file validates to OK <version>."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("scoring: 7\nno_such_section: {}\n")
    assert cli.main(["rules", "validate", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"INVALID {bad}\n  ") and "no_such_section" in err
    assert cli.main(["rules", "push", str(bad)]) == 1
    err2 = capsys.readouterr().err
    assert err2.startswith(f"refused {bad}: nothing pushed\n  ")
    assert err2.splitlines()[1:] == err.splitlines()[1:]
    assert cli.main(["rules", "validate", str(ROOT / "config" / "rules.yaml")]) == 0
    assert capsys.readouterr().out.startswith("OK ")
