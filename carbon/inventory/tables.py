"""The inventory and its manufacturing section as tables (carbon.report.sheet.Table), so the
report's CSV and XLSX writers serve them unchanged. Labels in French by default."""

from __future__ import annotations

from datetime import UTC, datetime

from sentinelle.agent.core import Point
from sentinelle.carbon.inventory.manufacturing import ManufacturingSection
from sentinelle.carbon.inventory.obsolescence import Ageing, age_distribution, firmware_per_model
from sentinelle.carbon.inventory.records import NS, Completeness, Equipment
from sentinelle.carbon.report.sheet import Table, Value

LABELS: dict[str, tuple[str, str]] = {
    "site": ("Site", "Site"), "member": ("Membre", "Member"), "contract": ("Contrat", "Contract"),
    "device": ("Équipement (config)", "Device (config)"), "part": ("Élément", "Part"),
    "class": ("Classe", "Class"), "vendor": ("Constructeur", "Vendor"), "model": ("Modèle", "Model"),
    "serial": ("N° de série", "Serial number"), "firmware": ("Micrologiciel", "Firmware"),
    "mfg_date": ("Date de fabrication", "Manufacturing date"), "first_seen": ("Vu la première fois", "First seen"),
    "last_seen": ("Vu la dernière fois", "Last seen"), "age_years": ("Âge (ans)", "Age (years)"),
    "age_from": ("Âge calculé depuis", "Age from"), "lifetime_years": ("Durée de vie attendue (ans)", "Expected lifetime (years)"),
    "past_lifetime": ("Au-delà de sa durée de vie", "Past its lifetime"), "flags": ("Données refusées", "Refused data"),
    "bucket": ("Tranche d'âge (ans)", "Age bracket (years)"), "count": ("Nombre", "Count"),
    "metric": ("Indicateur", "Metric"), "date": ("Date", "Date"), "event": ("Changement", "Change"),
    "message": ("Détail", "Detail"), "value": ("Valeur", "Value"),
    "key": ("Clé", "Key"), "equipment": ("Équipements comptés", "Equipment counted"),
    "with_factor": ("Avec un facteur", "With a factor"), "without_factor_pct": ("Part sans facteur (%)", "Share without a factor (%)"),
    "amortised_t": ("Fabrication amortie (tCO2e)", "Amortised manufacturing (tCO2e)"),
    "uncertainty_t": ("Incertitude (± tCO2e)", "Uncertainty (± tCO2e)"), "sources": ("Sources des facteurs", "Factor sources"),
    "kgco2e": ("Facteur (kgCO2e/unité)", "Factor (kgCO2e/unit)"), "uncertainty_pct": ("Incertitude facteur (%)", "Factor uncertainty (%)"),
    "start": ("Début d'amortissement", "Amortisation start"), "start_from": ("Début pris depuis", "Start from"),
    "amortised_kg": ("Amorti sur la période (kgCO2e)", "Amortised in period (kgCO2e)"), "source": ("Source", "Source"),
    "verified": ("Vérifié à la source", "Checked at source"), "reason": ("Pourquoi sans chiffre", "Why no figure"),
}
METRICS: dict[str, tuple[str, str]] = {
    "devices": ("Équipements SNMP configurés", "SNMP devices configured"),
    "inventoried": ("Avec un inventaire lu", "With an inventory read"),
    "identified": ("Identifiés (modèle ou n° de série)", "Identified (model or serial)"),
    "pct": ("Complétude de l'inventaire (%)", "Inventory completeness (%)"),
    "never_inventoried": ("Jamais inventoriés", "Never inventoried"),
    "without_identity": ("Interrogés sans données d'identité", "Polled without identity data"),
}
SCOPE_NOTE = (
    "Émissions de fabrication (scope 3, immobilisations), amorties linéairement ; jamais ajoutées à l'électricité (scope 2).",
    "Manufacturing emissions (scope 3, capital goods), amortised linearly; never added to electricity (scope 2).",
)


def _lbl(key: str, lang: str) -> str:
    fr, en = LABELS.get(key) or METRICS.get(key) or (key, key)
    return en if lang == "en" else fr


def _table(name: str, columns: list[str], rows: list[list[Value]], lang: str) -> Table:
    return Table(name, columns, [_lbl(c, lang) for c in columns], rows)


def _day(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).date().isoformat()


EQUIPMENT_COLUMNS = ["site", "member", "contract", "device", "part", "class", "vendor", "model", "serial", "firmware",
                     "mfg_date", "first_seen", "last_seen", "age_years", "age_from", "lifetime_years", "past_lifetime", "flags"]


PART_EVENTS = ("part_added", "part_removed", "part_replaced", "firmware_changed")


def inventory_tables(records: list[Equipment], items: list[Ageing], comp: Completeness, lang: str,
                     events: list[Point] | None = None) -> list[Table]:
    equipment = [
        [a.record.site, a.record.member, a.record.contract, a.record.device, a.record.part, a.record.equipment_class,
         a.record.vendor, a.record.model, a.record.serial, a.record.firmware, a.record.mfg_date,
         _day(a.record.first_seen_ns), _day(a.record.last_seen_ns),
         None if a.record.age_years is None else round(a.record.age_years, 1), a.record.age_from,
         a.lifetime_years, a.past_lifetime, a.record.flags]
        for a in sorted(items, key=lambda a: (a.record.site or "", a.record.device, a.record.part))
    ]
    comp_cols = ["site", "device", "part", "class", "model", "serial", "firmware", "first_seen", "last_seen", "flags"]
    components = [[r.site, r.device, r.part, r.part_class, r.model, r.serial, r.firmware, _day(r.first_seen_ns),
                   _day(r.last_seen_ns), r.flags]
                  for r in sorted(records, key=lambda r: (r.site or "", r.device, r.part)) if r.role != "equipment"]
    completeness = [[_lbl(k, lang), v] for k, v in (
        ("devices", comp.devices), ("inventoried", comp.inventoried), ("identified", comp.identified),
        ("pct", round(comp.pct, 1)), ("never_inventoried", ", ".join(comp.never_inventoried)),
        ("without_identity", ", ".join(comp.without_identity)))]
    ages = [[site, bucket, n] for (site, bucket), n in sorted(age_distribution(items).items())]
    firmware = [[m, f, n] for (m, f), n in sorted(firmware_per_model(records).items())]
    changes = [[_day(e.time_ns), e.tags.get("site"), e.tags.get("device"), e.tags.get("part"), e.tags.get("event"),
                e.fields.get("message")] for e in sorted(events or [], key=lambda e: e.time_ns)
               if e.tags.get("event") in PART_EVENTS]
    return [
        _table("equipment", EQUIPMENT_COLUMNS, equipment, lang),
        _table("components", comp_cols, components, lang),
        _table("completeness", ["metric", "value"], completeness, lang),
        _table("ages", ["site", "bucket", "count"], ages, lang),
        _table("firmware", ["model", "firmware", "count"], firmware, lang),
        _table("changes", ["date", "site", "device", "part", "event", "message"], changes, lang),
    ]


def manufacturing_tables(section: ManufacturingSection, lang: str) -> list[Table]:
    cols = ["key", "equipment", "with_factor", "without_factor_pct", "amortised_t", "uncertainty_t", "sources"]
    out = []
    for grouping in ("site", "member"):
        rows: list[list[Value]] = [
            [k, t.equipment, t.with_factor, round(t.without_factor_pct, 1), round(t.amortised_t, 6),
             round(t.uncertainty_t, 6), "; ".join(sorted(t.sources))]
            for k, t in sorted(section.by[grouping].items())]
        t = section.total
        rows.append(["TOTAL", t.equipment, t.with_factor, round(t.without_factor_pct, 1), round(t.amortised_t, 6),
                     round(t.uncertainty_t, 6), "; ".join(sorted(t.sources))])
        out.append(_table(f"manufacturing-{grouping}", cols, rows, lang))
    line_cols = ["site", "member", "device", "part", "class", "model", "serial", "kgco2e", "uncertainty_pct",
                 "lifetime_years", "start", "start_from", "amortised_kg", "source", "verified", "reason"]
    lines = [[ln.record.site, ln.record.member, ln.record.device, ln.record.part, ln.record.equipment_class,
              ln.record.model, ln.record.serial, None if ln.kg_per_unit is None else round(ln.kg_per_unit, 3),
              ln.factor.uncertainty_pct if ln.factor else None, ln.lifetime_years, ln.start.isoformat(),
              ln.start_from, round(ln.amortised_kg, 3), ln.factor.source if ln.factor else None,
              ln.factor.verified if ln.factor else None, ln.reason] for ln in section.lines]
    out.append(_table("manufacturing-lines", line_cols, lines, lang))
    return out


def _text(v: Value, lang: str) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return ("yes" if v else "no") if lang == "en" else ("oui" if v else "non")
    return str(v)


def render_text(table: Table, columns: list[str] | None = None, lang: str = "fr") -> str:
    """A plain fixed-width table for the terminal."""
    idx = [table.columns.index(c) for c in (columns or table.columns)]
    head = [table.headers[i] for i in idx]
    rows = [[_text(r[i], lang) for i in idx] for r in table.rows]
    widths = [max([len(h)] + [len(r[j]) for r in rows]) for j, h in enumerate(head)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)
