"""Enedis exports saved as .xlsx workbooks: the same tables, read through openpyxl's read-only mode."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import IO, Any, TextIO

from sentinelle.carbon.history.readers.common import (
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    file_name,
    norm,
)
from sentinelle.carbon.history.readers.enedis_csv import read_enedis_table
from sentinelle.carbon.history.timeparse import (
    LocalClock,
)


def _cell_text(value: object) -> str:
    """A worksheet cell as the CSV export writes it: dates as ISO 8601 (naive: local wall
    time, as in the CSV), numbers in full."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, datetime):
        # Excel keeps times as fractions of a day: round away the float noise (Enedis times are whole minutes).
        return (value + timedelta(microseconds=500_000)).replace(microsecond=0).isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SheetRows:
    """A worksheet's rows (openpyxl `values_only` tuples) as lists of text, like `csv.reader`:
    `line_num` is the sheet's row number, so problems point at the row Excel shows."""

    def __init__(self, rows: Iterable[tuple[object, ...]]):
        self._rows = iter(rows)
        self.line_num = 0

    def __iter__(self) -> SheetRows:
        return self

    def __next__(self) -> list[str]:
        values = next(self._rows)
        self.line_num += 1
        return [_cell_text(v) for v in values]


def whole_sheet(ws: Any) -> None:
    """Read every row and column whatever the sheet's recorded dimensions say: some writers
    record a wrong `<dimension>`, and openpyxl's read-only mode would cut the sheet to it."""
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()


def _is_header(values: tuple[object, ...]) -> bool:
    names = {norm(v) for v in values if isinstance(v, str)}
    return "horodate" in names and "valeur" in names


def read_enedis_xlsx(
    f: TextIO | IO[bytes],
    kind: Kind,
    clock: LocalClock,
    stats: ReadStats,
    *,
    direction: str = "consumption",
    step_s: int = 0,
) -> Iterator[Row | Problem]:
    """An Enedis load curve or daily index saved as .xlsx: the CSV's columns in a worksheet
    (the first one with a `Horodate` / `Valeur` header row in its first 50 rows), read in
    openpyxl's read-only mode one row at a time, through `read_enedis_table`."""
    from openpyxl import load_workbook  # imported on use: a second of start-up for CSV imports otherwise

    binary = getattr(f, "buffer", f)
    try:
        wb = load_workbook(binary, read_only=True, data_only=True)
    except Exception as exc:  # zipfile, XML and openpyxl errors alike: the workbook cannot be opened
        raise ImportFormatError(f"{file_name(f)} is not a readable .xlsx workbook: {exc}") from None
    try:
        sheet = None
        for ws in wb.worksheets:
            whole_sheet(ws)
            head = itertools.islice(ws.iter_rows(values_only=True), 50)
            if any(_is_header(values) for values in head):
                sheet = ws
                break
        if sheet is None:
            names = ", ".join(ws.title for ws in wb.worksheets)
            raise ImportFormatError(f"no sheet with a 'Horodate' / 'Valeur' header row in its first 50 rows "
                                    f"(sheets: {names}): not an Enedis export")
        yield from read_enedis_table(SheetRows(sheet.iter_rows(values_only=True)), kind, clock, stats,
                                     direction=direction, step_s=step_s)
    finally:
        wb.close()
