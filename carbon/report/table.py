"""A table of the report: header and rows of plain values, what every writer (CSV, XLSX, JSON,
HTML) and every part of the report (figures, BEGES posts, inventory) hands on. Its own module so
the parts that build tables import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass

from sentinelle.carbon.report.labels import Lang, flags_text, label

Value = str | float | int | None


@dataclass
class Table:
    name: str  # file / sheet name
    columns: list[str]  # keys (stable, for JSON)
    headers: list[str]  # labels in the report language
    rows: list[list[Value]]
    lang: Lang = "fr"

    def records(self) -> list[dict[str, Value]]:
        """Rows by column key, flags as stable codes: for programs (JSON)."""
        return [dict(zip(self.columns, r, strict=True)) for r in self.rows]

    def human_rows(self) -> list[list[Value]]:
        """Rows for people (CSV, XLSX, HTML): flags in words, in the table's language."""
        words = {j: c for j, c in enumerate(self.columns) if c in ("flags", "role", "load")}
        if not words:
            return self.rows
        return [[self._words(words[j], v) if j in words and isinstance(v, str) else v for j, v in enumerate(r)] for r in self.rows]

    def _words(self, column: str, value: str) -> str:
        if column == "flags":
            return flags_text(value, self.lang)
        return label(f"{column}_{value}", self.lang) if value else value
