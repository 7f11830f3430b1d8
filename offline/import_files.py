"""Lead import files (CONTRACT §6): stream CSV or JSON-lines rows, and `python app.py import FILE`.

Files are read a line at a time (never whole), so a few hundred thousand rows run in bounded
memory. Rows come out as plain mappings for `core.imports.parse_import`, or as InvalidImport
when the row itself cannot be read.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from core.imports import InvalidImport, decode_import, parse_import
from models.imports import REFUSED_HEADER, ImportRecord

__all__ = [
    "CSV_COLUMNS", "REFUSED_HEADER", "ImportFileError", "iter_import_rows", "main",
    "refused_record", "run_import_command",
]

#: CSV columns (matched case-insensitively); `attr_<name>` columns become attributes.
CSV_COLUMNS = (
    "import_interface_id", "source_system", "orig_system_reference", "batch_id", "party_id",
    "customer_name", "customer_country", "contact_id", "country", "source_code", "created_at",
    "interaction_id", "interaction_type", "occurred_at",  # the interaction it names (§6)
)
_REQUIRED_COLUMNS = ("import_interface_id", "source_system", "orig_system_reference", "created_at")
_ATTR_PREFIX = "attr_"
_JSON_SUFFIXES = {".jsonl", ".json", ".ndjson"}
_BOM = b"\xef\xbb\xbf"

Row = dict[str, Any] | InvalidImport
Progress = Callable[[int], None]


class ImportFileError(ValueError):
    """The file as a whole cannot be read (missing, bad header, a JSON array...)."""


# ---------------------------------------------------------------------------------------------
# Reading rows


def detect_format(path: Path) -> str:
    """'csv' or 'jsonl': by extension, else by the first non-blank byte (`{` is JSON lines)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in _JSON_SUFFIXES:
        return "jsonl"
    with path.open("rb") as fh:
        head = fh.read(4096).removeprefix(_BOM).lstrip()
    return "jsonl" if head[:1] in (b"{", b"[") else "csv"


def iter_import_rows(path: str | Path, *, on_bytes: Progress | None = None,
                     fmt: str | None = None) -> Iterator[tuple[int, Row]]:
    """(1-based line, row) for each record of a CSV (header row) or JSON-lines file.

    CSV: the line is where the row starts (the header is line 1); empty cells are null;
    `attr_<name>` columns become `attributes[<name>]` (empty cells left out); blank rows are
    skipped. JSON lines: one object a line; blank lines are skipped. A row that cannot be read
    is an InvalidImport; a file that cannot be read at all raises ImportFileError.
    `on_bytes(n)` is called with the bytes consumed, for a progress bar.
    """
    p = Path(path)
    try:
        fmt = fmt or detect_format(p)
        fh = p.open("rb")
    except OSError as exc:
        raise ImportFileError(f"{p}: cannot read: {exc.strerror}") from None
    with fh:
        if fmt == "jsonl":
            yield from _jsonl_rows(fh, p, on_bytes)
        else:
            yield from _csv_rows(fh, p, on_bytes)


def _jsonl_rows(fh: IO[bytes], p: Path, on_bytes: Progress | None) -> Iterator[tuple[int, Row]]:
    for n, line in enumerate(fh, 1):
        if on_bytes:
            on_bytes(len(line))
        if n == 1:
            line = line.removeprefix(_BOM)
        stripped = line.strip()
        if not stripped:
            continue
        if n == 1 and stripped[:1] == b"[":
            raise ImportFileError(
                f"{p}: a JSON array is not supported; give one JSON object per line"
            )
        try:
            yield n, decode_import(stripped)
        except InvalidImport as exc:
            yield n, exc


class _Lines:
    """Decoded lines of a binary file, counting bytes and remembering undecodable lines."""

    def __init__(self, fh: IO[bytes], on_bytes: Progress | None) -> None:
        self.fh = fh
        self.on_bytes = on_bytes
        self.count = 0
        self.bad: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            self.count += 1
            if self.on_bytes:
                self.on_bytes(len(raw))
            if self.count == 1:
                raw = raw.removeprefix(_BOM)
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(self.count)
                yield raw.decode("utf-8", errors="replace")


def _header(cells: list[str], p: Path) -> list[tuple[str, str]]:
    """Each column as ('field', name) or ('attr', name) or ('ignore', name)."""
    cols: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        name = cell.strip()
        low = name.lower()
        if low in CSV_COLUMNS:
            col = ("field", low)
        elif low.startswith(_ATTR_PREFIX):
            attr = name[len(_ATTR_PREFIX):].strip()
            if not attr:
                raise ImportFileError(f"{p}:1: column {name!r} has no attribute name")
            col = ("attr", attr)
        else:
            col = ("ignore", name)
        if col[0] != "ignore" and col in seen:
            raise ImportFileError(f"{p}:1: column {name!r} appears twice")
        seen.add(col)
        cols.append(col)
    fields = {n for k, n in cols if k == "field"}
    missing = [c for c in _REQUIRED_COLUMNS if c not in fields]
    if "party_id" not in fields and "customer_name" not in fields:
        missing.append("party_id or customer_name")
    if missing:
        raise ImportFileError(f"{p}:1: header lacks column(s): {', '.join(missing)}")
    return cols


def _csv_rows(fh: IO[bytes], p: Path, on_bytes: Progress | None) -> Iterator[tuple[int, Row]]:
    lines = _Lines(fh, on_bytes)
    reader = csv.reader(lines, strict=False)
    cols: list[tuple[str, str]] | None = None
    end = 0
    while True:
        start = end + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = lines.count
            if cols is None:
                raise ImportFileError(f"{p}:{start}: bad CSV header: {exc}") from None
            yield start, InvalidImport([f"(record): bad CSV: {exc}"])
            continue
        end = lines.count
        if not cells or all(not c.strip() for c in cells):
            continue
        if cols is None:
            cols = _header(cells, p)
            continue
        yield start, _csv_row(cells, cols, any(start <= b <= end for b in lines.bad))


def _csv_row(cells: list[str], cols: list[tuple[str, str]], bad_utf8: bool) -> Row:
    row: dict[str, Any] = {name: None for kind, name in cols if kind == "field"}
    attributes: dict[str, Any] = {}
    for (kind, name), cell in zip(cols, cells, strict=False):
        value = cell.strip()
        if kind == "field":
            row[name] = value or None
        elif kind == "attr" and value:
            attributes[name] = value
    row["attributes"] = attributes
    errors: list[str] = []
    if bad_utf8:
        errors.append("(record): not valid UTF-8")
    if len(cells) > len(cols):
        errors.append(f"(record): {len(cells)} cells, the header has {len(cols)} columns")
    if errors:
        ident: dict[str, Any] = {k: row.get(k) for k in
                 ("import_interface_id", "source_system", "orig_system_reference", "batch_id")}
        return InvalidImport(errors, **ident)
    return row


Checked = tuple[int, ImportRecord | InvalidImport]


def validate_rows(rows: Iterable[tuple[int, Row]]) -> Iterator[Checked]:
    """Each row parsed to an ImportRecord, or the InvalidImport saying why not."""
    for n, row in rows:
        if isinstance(row, InvalidImport):
            yield n, row
            continue
        try:
            yield n, parse_import(row)
        except InvalidImport as exc:
            yield n, exc


# ---------------------------------------------------------------------------------------------
# The command


class _Counts:
    def __init__(self) -> None:
        self.read = 0
        self.valid = 0
        self.invalid = 0
        self.published = 0
        self.failed = 0
        self.first_failure: str | None = None


def _invalid_line(path: Path, n: int, exc: InvalidImport) -> str:
    who = exc.import_interface_id or exc.orig_system_reference or "-"
    return f"{path}:{n}: ERROR {who}: " + "; ".join(exc.errors)


def _progress_bar(path: Path, progress: bool, err: IO[str]) -> Any:
    show = progress and hasattr(err, "isatty") and err.isatty()
    if not show:
        return None
    from tqdm import tqdm  # type: ignore[import-untyped]

    try:
        total = path.stat().st_size
    except OSError:
        total = None
    return tqdm(total=total, unit="B", unit_scale=True, desc=f"import {path.name}", file=err,
                leave=False, mininterval=0.5)


def _emit(bar: Any, text: str, out: IO[str]) -> None:
    if bar is not None:
        bar.write(text, file=out)
    else:
        print(text, file=out)


async def _publish(records: Iterator[Checked], path: Path,
                   bootstrap: str, topic: str, counts: _Counts, bar: Any, out: IO[str]) -> None:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all",
                                client_id="leadstream-import")
    try:
        await producer.start()
    except BaseException:
        await producer.stop()
        raise

    def done(fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            counts.failed += 1
            if counts.first_failure is None:
                counts.first_failure = "cancelled" if fut.cancelled() else repr(fut.exception())
        else:
            counts.published += 1

    def done_refused(fut: asyncio.Future[Any]) -> None:
        if fut.cancelled() or fut.exception() is not None:
            counts.failed += 1
            if counts.first_failure is None:
                counts.first_failure = "cancelled" if fut.cancelled() else repr(fut.exception())

    name = path.name.encode()
    try:
        for n, item in records:
            counts.read += 1
            if isinstance(item, InvalidImport):
                counts.invalid += 1
                _emit(bar, _invalid_line(path, n, item), out)
                # the job records its ERROR result (and counts it in the report's imports and
                # import batches) as `simulate --imports` does: a refused row, marked as such
                fut = await producer.send(
                    topic, value=orjson.dumps(refused_record(item)),
                    key=item.orig_system_reference.encode()
                    if item.orig_system_reference else None,
                    headers=[(REFUSED_HEADER, b"1"), ("import-file", name),
                             ("import-line", str(n).encode())],
                )
                fut.add_done_callback(done_refused)
                continue
            counts.valid += 1
            fut = await producer.send(
                topic, value=orjson.dumps(item.to_json()),
                key=item.orig_system_reference.encode(),
                headers=[("import-file", name), ("import-line", str(n).encode())],
            )
            fut.add_done_callback(done)
        await producer.flush()
    finally:
        await producer.stop()


def refused_record(exc: InvalidImport) -> dict[str, Any]:
    """What the import command publishes for a row it refused: the row's identity and every
    error message (`agents/imports.py` sends the ERROR result `exc.to_result()` would be)."""
    return {"import_interface_id": exc.import_interface_id, "source_system": exc.source_system,
            "orig_system_reference": exc.orig_system_reference, "batch_id": exc.batch_id,
            "errors": list(exc.errors), "code": exc.code}


def run_import_command(path: str | Path, broker_bootstrap: str | None, topic: str, *,
                       progress: bool, dry_run: bool = False, out: IO[str] | None = None,
                       err: IO[str] | None = None) -> int:
    """Validate every row and publish the valid ones to `topic` (key: orig_system_reference).

    Prints one line per invalid row and a summary. Exit status: 0 every row valid (and
    published), 1 some rows invalid or not published, 2 the command could not run.
    """
    out = out or sys.stdout
    err = err or sys.stderr
    p = Path(path)
    if not p.is_file():
        print(f"import: {p}: no such file", file=err)
        return 2
    if not dry_run and not broker_bootstrap:
        print("import: no broker: give --bootstrap or set BROKER_URL", file=err)
        return 2
    counts = _Counts()
    bar = _progress_bar(p, progress, err)
    rows = iter_import_rows(p, on_bytes=bar.update if bar is not None else None)
    records = validate_rows(rows)
    try:
        if dry_run:
            for n, item in records:
                counts.read += 1
                if isinstance(item, InvalidImport):
                    counts.invalid += 1
                    _emit(bar, _invalid_line(p, n, item), out)
                else:
                    counts.valid += 1
        else:
            assert broker_bootstrap is not None
            asyncio.run(_publish(records, p, broker_bootstrap, topic, counts, bar, out))
    except ImportFileError as exc:
        _close(bar)
        print(f"import: {exc}", file=err)
        return 2
    except Exception as exc:  # broker unreachable, topic errors...
        _close(bar)
        print(f"import: publishing to {topic} at {broker_bootstrap} failed: {exc}", file=err)
        if counts.read:
            _summary(p, counts, topic, dry_run, out)
        return 1
    _close(bar)
    _summary(p, counts, topic, dry_run, out)
    if counts.first_failure:
        print(f"import: first publish failure: {counts.first_failure}", file=err)
    return 0 if counts.invalid == 0 and counts.failed == 0 else 1


def _close(bar: Any) -> None:
    if bar is not None:
        bar.close()


def _summary(p: Path, c: _Counts, topic: str, dry_run: bool, out: IO[str]) -> None:
    if dry_run:
        print(f"{p}: {c.read} rows read, {c.valid} valid, {c.invalid} invalid "
              "(dry run: nothing published)", file=out)
    else:
        tail = f", {c.failed} failed to publish" if c.failed else ""
        print(f"{p}: {c.read} rows read, {c.published} published to {topic}, "
              f"{c.invalid} invalid{tail}", file=out)


# ---------------------------------------------------------------------------------------------
# Arguments


def bootstrap_from_url(url: str) -> str:
    """`kafka://h1:9092;kafka://h2:9092` (Faust form) -> `h1:9092,h2:9092` (aiokafka form)."""
    parts = [s.strip() for s in re.split(r"[;,]", url) if s.strip()]
    return ",".join(s.removeprefix("kafka://") for s in parts)


def _data_dir(env: dict[str, str]) -> Path:
    """$DATA_DIR, else data/state in the repository (or $LEADSTREAM_HOME)."""
    from streaming.settings import project_home

    raw = env.get("DATA_DIR")
    return Path(raw) if raw else project_home(env) / "data" / "state"


def default_bootstrap(env: dict[str, str] | None = None) -> str | None:
    """BROKER_URL, else the URL an embedded-broker worker wrote to $DATA_DIR/broker.url."""
    env = dict(os.environ) if env is None else env
    url = env.get("BROKER_URL", "").strip()
    if url:
        return bootstrap_from_url(url)
    f = _data_dir(env) / "broker.url"
    try:
        text = f.read_text().strip()
    except OSError:
        return None
    return bootstrap_from_url(text) or None


def main(argv: list[str]) -> int:
    """`python app.py import FILE [--topic T] [--bootstrap HOST:PORT] [--dry-run]`."""
    parser = argparse.ArgumentParser(
        prog="app.py import",
        description="Validate a lead import file (CSV with a header row, or JSON lines) and "
                    "publish its valid rows to the lead-imports topic.",
    )
    parser.add_argument("file", type=Path, help="a .csv or .jsonl file")
    parser.add_argument("--topic", default=None,
                        help="topic (default: $TOPIC_PREFIX + 'lead-imports')")
    parser.add_argument("--bootstrap", default=None,
                        help="Kafka bootstrap servers host:port (default: $BROKER_URL, else "
                             "$DATA_DIR/broker.url of a running embedded broker)")
    parser.add_argument("--dry-run", action="store_true", help="validate only, publish nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    topic = args.topic or os.environ.get("TOPIC_PREFIX", "") + "lead-imports"
    bootstrap = None
    if not args.dry_run:
        bootstrap = bootstrap_from_url(args.bootstrap) if args.bootstrap else default_bootstrap()
        if not bootstrap:
            data_dir = _data_dir(dict(os.environ))
            print("import: no broker to publish to: give --bootstrap HOST:PORT, set BROKER_URL, "
                  f"or start a worker with the embedded broker (it writes {data_dir}/broker.url); "
                  "--dry-run validates without a broker", file=sys.stderr)
            return 2
    return run_import_command(args.file, bootstrap, topic, progress=not args.no_progress,
                              dry_run=args.dry_run)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
