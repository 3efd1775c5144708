"""The Enedis entry point: which of its three forms (CSV, .xlsx, JSON) a file is, and what it holds."""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from sentinelle.carbon.history.readers.common import (
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    file_name,
    open_text,
    sniff_bytes,
)
from sentinelle.carbon.history.readers.enedis_csv import read_enedis_table, table_kind
from sentinelle.carbon.history.readers.enedis_json import read_enedis_json
from sentinelle.carbon.history.readers.enedis_xlsx import SheetRows, read_enedis_xlsx, whole_sheet
from sentinelle.carbon.history.timeparse import (
    LocalClock,
)


def _sniff_stream(f: TextIO) -> str:
    """What `read_enedis` was handed, without consuming it: the bytes under a file opened by
    `open_text` (an .xlsx is binary), else the first characters of a text stream."""
    buf = getattr(f, "buffer", None)
    if buf is not None and hasattr(buf, "peek"):
        return sniff_bytes(buf.peek(512)[:512])
    if f.seekable():
        pos = f.tell()
        head = f.read(64)
        f.seek(pos)
        return "json" if head.lstrip("\ufeff \t\r\n")[:1] == "{" else "text"
    return "text"


def read_enedis(
    f: TextIO,
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """Enedis exports: the CSV load curve and daily index, the same tables saved as .xlsx
    workbooks, and Data Connect ("Mes données") JSON responses. The kind comes from the file: a
    load curve (unit W) or Data Connect daily energy is interval energy, an index export (unit
    Wh, `Grandeur physique` EA) is a counter; `kind` must agree."""
    source = _sniff_stream(f)
    if source == "json":
        yield from read_enedis_json(f, kind, clock, stats, step_s=step_s)
    elif source == "xlsx":
        yield from read_enedis_xlsx(f, kind, clock, stats, direction=direction, step_s=step_s)
    elif source == "xls":
        raise ImportFormatError(f"{file_name(f)} is an old binary .xls workbook: save it as .xlsx or CSV")
    else:
        yield from read_enedis_table(csv.reader(f, delimiter=";"), kind, clock, stats, direction=direction, step_s=step_s)


def enedis_kind(path: Path) -> Kind:
    """What an Enedis file holds, for a meter whose kind is not configured: Data Connect JSON is
    interval energy; a CSV or .xlsx export is a counter when its unit is Wh/kWh or its
    `Grandeur physique` EA (daily index), else interval energy (load curve)."""
    with path.open("rb") as probe:
        source = sniff_bytes(probe.read(512))
    if source == "json":
        return "interval"
    if source == "xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:  # as in read_enedis_xlsx
            raise ImportFormatError(f"{path.name} is not a readable .xlsx workbook: {exc}") from None
        try:
            for ws in wb.worksheets:
                whole_sheet(ws)
                found = table_kind(SheetRows(itertools.islice(ws.iter_rows(values_only=True), 200)))
                if found is not None:
                    return found
            return "interval"
        finally:
            wb.close()
    with open_text(path) as f:
        return table_kind(csv.reader(itertools.islice(f, 200), delimiter=";")) or "interval"
