"""Import files: CSV / JSON-lines rows, and the import command's --dry-run and arguments."""

from __future__ import annotations

import io
import tracemalloc
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.imports import InvalidImport, parse_import
from offline.import_files import (
    ImportFileError,
    bootstrap_from_url,
    default_bootstrap,
    detect_format,
    iter_import_rows,
    main,
    run_import_command,
)

HEADER = ("import_interface_id,source_system,orig_system_reference,batch_id,party_id,"
          "customer_name,customer_country,contact_id,country,source_code,created_at,"
          "attr_product_category,attr_purchase_amount")
T0 = "2024-05-01T12:00:00Z"


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


def rows(path: Path) -> list[tuple[int, Any]]:
    return list(iter_import_rows(path))


# ------------------------------------------------------------------------------ CSV


def test_csv_rows(tmp_path: Path) -> None:
    text = "\n".join([
        HEADER,
        f"1,TS,A1,B1,P100,,,C1,us,CEO,{T0},Monitors,60000",
        "",
        f'2,TS,A2,B1,,"Acme, Inc.",US,,,,{T0},"Lap\ntops",',
        f"3,TS,A3,B1,P100,,,,,,{T0},,",
        ",,,,,,,,,,,,",
        f"4,TS,A4,B1,P100,,,,,,{T0},x,y,EXTRA",
    ]) + "\n"
    got = rows(write(tmp_path, "in.csv", text))
    assert [n for n, _ in got] == [2, 4, 6, 8]
    r1 = got[0][1]
    assert r1 == {
        "import_interface_id": "1", "source_system": "TS", "orig_system_reference": "A1",
        "batch_id": "B1", "party_id": "P100", "customer_name": None, "customer_country": None,
        "contact_id": "C1", "country": "us", "source_code": "CEO", "created_at": T0,
        "attributes": {"product_category": "Monitors", "purchase_amount": "60000"},
    }
    r2 = got[1][1]
    assert (r2["party_id"], r2["customer_name"], r2["attributes"]) == (
        None, "Acme, Inc.", {"product_category": "Lap\ntops"})
    assert got[2][1]["attributes"] == {}
    bad = got[3][1]
    assert isinstance(bad, InvalidImport) and bad.import_interface_id == "4"
    assert bad.errors == ["(record): 14 cells, the header has 13 columns"]


def test_csv_row_parses_like_its_json_twin(tmp_path: Path) -> None:
    p = write(tmp_path, "in.csv", HEADER + f'\n1,TS,A1,B1,,"Acme, Inc.",us,C1,,CEO,{T0},M,5\n')
    [(_, row)] = rows(p)
    twin = {"import_interface_id": "1", "source_system": "TS", "orig_system_reference": "A1",
            "batch_id": "B1", "customer": {"name": "Acme, Inc.", "country": "US"},
            "contact_id": "C1", "source_code": "CEO", "created_at": T0,
            "attributes": {"product_category": "M", "purchase_amount": "5"}}
    assert parse_import(row) == parse_import(orjson.dumps(twin))


def test_csv_header_is_forgiving(tmp_path: Path) -> None:
    text = ("\ufeff Import_Interface_ID ,SOURCE_SYSTEM,orig_system_reference,Party_Id,"
            "created_at,ATTR_Budget_Status,notes\r\n"
            f"1,TS,A1,P1,{T0},APPROVED,ignored\r\n")
    [(n, row)] = rows(write(tmp_path, "in.csv", text))
    assert n == 2 and row["import_interface_id"] == "1"
    assert row["attributes"] == {"Budget_Status": "APPROVED"} and "notes" not in row


@pytest.mark.parametrize("header, message", [
    ("source_system,orig_system_reference,party_id,created_at", "lacks column(s): import_"),
    ("import_interface_id,source_system,orig_system_reference,created_at",
     "lacks column(s): party_id or customer_name"),
    ("import_interface_id,source_system,orig_system_reference,party_id,created_at,PARTY_ID",
     "column 'PARTY_ID' appears twice"),
    ("import_interface_id,source_system,orig_system_reference,party_id,created_at,attr_",
     "has no attribute name"),
])
def test_csv_bad_header(tmp_path: Path, header: str, message: str) -> None:
    p = write(tmp_path, "in.csv", header + "\n1,2,3,4,5\n")
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        rows(p)


def test_csv_bad_utf8_row_does_not_stop_the_file(tmp_path: Path) -> None:
    data = (HEADER + "\n").encode() + f"1,TS,A1,,P1,,,,,,{T0},\xe9t\xe9,\n".encode("latin-1") \
        + f"2,TS,A2,,P1,,,,,,{T0},ok,\n".encode()
    got = rows(write(tmp_path, "in.csv", data))
    assert isinstance(got[0][1], InvalidImport) and got[0][1].errors == [
        "(record): not valid UTF-8"]
    assert got[1] == (3, got[1][1]) and isinstance(got[1][1], dict)


def test_empty_file(tmp_path: Path) -> None:
    assert rows(write(tmp_path, "in.csv", "")) == []
    assert rows(write(tmp_path, "in.jsonl", "")) == []


# ------------------------------------------------------------------------------ JSON lines


def test_jsonl_rows(tmp_path: Path) -> None:
    good = {"import_interface_id": "1", "source_system": "TS", "orig_system_reference": "A",
            "party_id": "P1", "created_at": T0, "attributes": {"k": [1, 2]}}
    text = "\n".join([orjson.dumps(good).decode(), "", "{oops", "[1]", "  " + '{"a": 1}  '])
    got = rows(write(tmp_path, "in.jsonl", text))
    assert [n for n, _ in got] == [1, 3, 4, 5]
    assert got[0][1] == good and got[3][1] == {"a": 1}
    assert isinstance(got[1][1], InvalidImport)
    assert got[1][1].errors[0].startswith("(record): not valid JSON")
    assert isinstance(got[2][1], InvalidImport)
    assert got[2][1].errors == ["(record): not a JSON object: got list"]


def test_json_array_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="JSON array"):
        rows(write(tmp_path, "in.json", '[{"a": 1}]\n'))


@pytest.mark.parametrize("name, text, fmt", [
    ("a.csv", '{"a": 1}', "csv"),
    ("a.JSONL", "x,y", "jsonl"),
    ("a.json", "x,y", "jsonl"),
    ("a.txt", '\ufeff\n  {"a": 1}', "jsonl"),
    ("a.txt", "import_interface_id,x", "csv"),
    ("noext", "", "csv"),
])
def test_detect_format(tmp_path: Path, name: str, text: str, fmt: str) -> None:
    assert detect_format(write(tmp_path, name, text)) == fmt


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="cannot read"):
        rows(tmp_path / "nope.jsonl")


def _big_csv(tmp_path: Path, n: int) -> Path:
    p = tmp_path / "big.csv"
    with p.open("w") as fh:
        fh.write(HEADER + "\n")
        for i in range(n):
            fh.write(f"{i},TS,OSR-{i},B1,,Customer {i % 977},US,,,SRC,{T0},Monitors,{i}\n")
    return p


def test_rows_are_streamed(tmp_path: Path) -> None:
    p = _big_csv(tmp_path, 20_000)
    consumed = [0]

    def on_bytes(n: int) -> None:
        consumed[0] += n

    it = iter_import_rows(p, on_bytes=on_bytes)
    next(it)
    assert consumed[0] < 64 * 1024 < p.stat().st_size
    assert sum(1 for _ in it) == 19_999
    assert consumed[0] == p.stat().st_size


@pytest.mark.slow
def test_many_rows_in_bounded_memory(tmp_path: Path) -> None:
    p = _big_csv(tmp_path, 50_000)
    tracemalloc.start()
    try:
        count = sum(1 for _, row in iter_import_rows(p) if isinstance(parse_import(row), object))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 50_000
    assert peak < 2_000_000, peak  # the file is ~4 MB


# ------------------------------------------------------------------------------ the command


def _mixed_jsonl(tmp_path: Path) -> Path:
    good = {"import_interface_id": "1", "source_system": "TS", "orig_system_reference": "A",
            "customer": {"name": "Acme", "country": "US"}, "created_at": T0}
    bad = {"import_interface_id": "2", "source_system": "TS", "created_at": "soon"}
    lines = [orjson.dumps(good), orjson.dumps(bad), b"not json", orjson.dumps(good)]
    return write(tmp_path, "in.jsonl", b"\n".join(lines) + b"\n")


def test_dry_run_reports_invalid_rows(tmp_path: Path) -> None:
    p = _mixed_jsonl(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    code = run_import_command(p, None, "lead-imports", progress=True, dry_run=True,
                              out=out, err=err)
    lines = out.getvalue().splitlines()
    assert code == 1 and err.getvalue() == ""
    assert lines[0] == (f"{p}:2: ERROR 2: orig_system_reference: required; party_id: required "
                        "(or customer.name with customer.country); created_at: not an "
                        "ISO-8601 timestamp")  # messages carry no values
    assert lines[1].startswith(f"{p}:3: ERROR -: (record): not valid JSON")
    assert lines[2] == f"{p}: 4 rows read, 2 valid, 2 invalid (dry run: nothing published)"


def test_dry_run_all_valid(tmp_path: Path) -> None:
    p = _big_csv(tmp_path, 50)
    out = io.StringIO()
    assert run_import_command(p, None, "t", progress=False, dry_run=True, out=out) == 0
    assert out.getvalue() == (
        f"{p}: 50 rows read, 50 valid, 0 invalid (dry run: nothing published)\n")


def test_dry_run_bad_file(tmp_path: Path) -> None:
    err = io.StringIO()
    p = write(tmp_path, "in.csv", "a,b\n1,2\n")
    assert run_import_command(p, None, "t", progress=False, dry_run=True,
                              out=io.StringIO(), err=err) == 2
    assert "header lacks column(s)" in err.getvalue()
    assert run_import_command(tmp_path / "none.csv", None, "t", progress=False, dry_run=True,
                              err=err) == 2


def test_main_dry_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nothing"))
    p = _big_csv(tmp_path, 3)
    assert main([str(p), "--dry-run"]) == 0
    assert "3 rows read, 3 valid, 0 invalid" in capsys.readouterr().out


def test_main_without_a_broker_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKER_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "nothing"))
    assert main([str(_big_csv(tmp_path, 1))]) == 2
    err = capsys.readouterr().err
    assert "no broker" in err and "--bootstrap" in err and "broker.url" in err


def test_main_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["--help"]) == 0
    capsys.readouterr()


@pytest.mark.parametrize("env, files, expected", [
    ({"BROKER_URL": "kafka://h1:9092"}, {}, "h1:9092"),
    ({"BROKER_URL": "kafka://h1:9092;kafka://h2:9093"}, {}, "h1:9092,h2:9093"),
    ({"BROKER_URL": "h1:9092, h2:9092"}, {}, "h1:9092,h2:9092"),
    ({}, {"broker.url": "kafka://127.0.0.1:4321\n"}, "127.0.0.1:4321"),
    ({"BROKER_URL": "kafka://env:1"}, {"broker.url": "kafka://file:2"}, "env:1"),
    ({}, {}, None),
])
def test_default_bootstrap(tmp_path: Path, env: dict[str, str], files: dict[str, str],
                           expected: str | None) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    assert default_bootstrap({**env, "DATA_DIR": str(tmp_path)}) == expected


def test_bootstrap_from_url() -> None:
    assert bootstrap_from_url("kafka://a:1") == "a:1"
