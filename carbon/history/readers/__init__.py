"""Readers of meter exports: each yields `Row`s (one reading) or `Problem`s (file, line, reason).

All readers stream (they hold one line, or one worksheet row, at a time) except the Data
Connect JSON reader, which parses the whole response (a year of half-hours is ~17,500 entries).
Values are converted to the import's canonical units: kWh for a counter, W for power samples,
kWh per interval for interval energy.

Formats (see carbon/history/README.md for the sources):
- `csv`: generic CSV (`,` `;` or tab, decimal point or comma, header or not, time and value
  columns by name or 1-based number, times ISO 8601 / epoch / naive local);
- `enedis`: Enedis load curves (`Horodate;Valeur` with `Pas`, `Grandeur métier`,
  `Etape métier`, `Nature`...; mean power in W over the step ending at `Horodate`) and Enedis
  daily index exports (`Grandeur physique` EA, `Unité` Wh, one row per cadran), as CSV or as
  .xlsx workbooks with the same columns; Data Connect / "Mes données" JSON (metering data
  v4/v5: load curves and daily energy);
- `lp`: InfluxDB line protocol of raw readings (`energy_kwh_total` or `power_w` fields).

One module per format: generic_csv, enedis_csv (tables, also those of a workbook), enedis_xlsx,
enedis_json, line_protocol; enedis dispatches between Enedis' three forms; common holds what
they share (Row, Problem, units, header names, opening and recognising a file). The names are
re-exported here, so `from sentinelle.carbon.history.readers import Row` keeps working.
"""

from sentinelle.carbon.history.readers.common import (
    DEFAULT_UNIT,
    ETAPE_PRIORITY,
    FORMATS,
    KINDS,
    UNITS,
    ImportFormatError,
    Kind,
    Problem,
    ReadStats,
    Row,
    StagedRow,
    detect_format,
    file_name,
    norm,
    open_text,
    sniff_bytes,
    to_canonical,
    unit_factor,
)
from sentinelle.carbon.history.readers.enedis import enedis_kind, read_enedis
from sentinelle.carbon.history.readers.enedis_csv import DIRECTIONS, TableRows, read_enedis_table, table_kind
from sentinelle.carbon.history.readers.enedis_json import json_step_s, read_enedis_json
from sentinelle.carbon.history.readers.enedis_xlsx import SheetRows, read_enedis_xlsx, whole_sheet
from sentinelle.carbon.history.readers.generic_csv import (
    RESET_FALSE,
    RESET_NAMES,
    RESET_TRUE,
    TIME_NAMES,
    VALUE_NAMES,
    read_csv,
    read_csv_tuples,
)
from sentinelle.carbon.history.readers.line_protocol import read_lp

__all__ = [
    "DEFAULT_UNIT",
    "detect_format",
    "DIRECTIONS",
    "enedis_kind",
    "ETAPE_PRIORITY",
    "file_name",
    "FORMATS",
    "ImportFormatError",
    "json_step_s",
    "Kind",
    "KINDS",
    "norm",
    "open_text",
    "Problem",
    "read_csv",
    "read_csv_tuples",
    "read_enedis",
    "read_enedis_json",
    "read_enedis_table",
    "read_enedis_xlsx",
    "read_lp",
    "ReadStats",
    "RESET_FALSE",
    "RESET_NAMES",
    "RESET_TRUE",
    "Row",
    "SheetRows",
    "sniff_bytes",
    "StagedRow",
    "table_kind",
    "TableRows",
    "TIME_NAMES",
    "to_canonical",
    "unit_factor",
    "UNITS",
    "VALUE_NAMES",
    "whole_sheet",
]
