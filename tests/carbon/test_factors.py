"""`sentinelle factors`: the BEGES table rebuilt from ADEME's own export, read as users download it.

The excerpt in carbon/testdata/ademe/ is the electricity lines of the official Base Carbone V23.6
export (see its README for source and checks); the embedded table must be exactly what
`factors build` makes of it. Other encodings and the .xlsx form are made here from the same lines.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentinelle.agent.cli import main
from sentinelle.carbon.base_carbone import ExportError, build_table
from sentinelle.carbon.factors import FactorTable

REPO = Path(__file__).resolve().parents[2]
EXCERPT = REPO / "carbon/testdata/ademe/Base_Carbone_V23.6_electricite.csv"
EMBEDDED = REPO / "carbon/data/ademe_electricity.yaml"


def _rows() -> list[list[str]]:
    text = EXCERPT.read_bytes().decode("cp1252")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "cp1252") -> Path:
    out = io.StringIO(newline="")
    csv.writer(out, delimiter=";", lineterminator="\r\n").writerows(rows)
    path.write_bytes(out.getvalue().encode(encoding))
    return path


def test_build_from_the_excerpt_reproduces_the_embedded_table_byte_for_byte(tmp_path: Path, capsys):
    out = tmp_path / "table.yaml"
    assert main(["factors", "build", str(EXCERPT), "--out", str(out)]) == 0
    assert out.read_bytes() == EMBEDDED.read_bytes()
    said = capsys.readouterr().out
    assert "fr-continental: 2008–2024 (17 years)" in said and "guyane: one element without reference year" in said


def test_embedded_rows_are_the_export_elements_cross_checked():
    """Values and ids checked against the export and independent sources (testdata README)."""
    t = FactorTable.embedded()
    assert t.version == "V23.6" and t.built_from == EXCERPT.name
    expected = {2018: ("26765", 0.0571), 2019: ("28332", 0.0607), 2020: ("28333", 0.0599), 2021: ("37091", 0.0569),
                2022: ("42513", 0.052), 2023: ("43273", 0.058), 2024: ("43642", 0.0519)}  # fmt: skip
    for year, (ident, value) in expected.items():
        f = t.factor("fr-continental", year)
        assert (f.source_id, f.kg_per_kwh, f.uncertainty_pct, f.status) == (ident, value, 10.0, "Valide générique")
        assert f.verified and f.source_version == "V23.6" and not f.fallback
        assert [p.post for p in f.parts] == ["2.1", "4.1", "4.1"]
    g = t.factor("guyane", 2024)
    assert (g.source_id, g.kg_per_kwh, g.uncertainty_pct, g.undated) == ("24307", 0.957, 15.0, True)
    assert {p.name: p.post for p in g.parts}["Emissions fugitives — barrage de Petit Saut"] == "4.1"
    assert {"corse", "guadeloupe", "martinique", "guyane", "reunion", "mayotte"} <= set(t.zones())
    # the 2012 transport-decree rows (kgCO2, not CO2e) are gone from the BEGES table
    assert all("TRAT1209296A" not in (f.source_id or "") for z in t.zones() for f in t.rows(z))
    assert all(f.verified for z in t.zones() for f in t.rows(z))


def test_year_rule_latest_earlier_year_flagged_and_undated_elements():
    t = FactorTable.embedded()
    f = t.factor("fr-continental", 2025, "latest")
    assert (f.year, f.requested_year, f.fallback, f.source_id) == (2024, 2025, True, "43642")
    with pytest.raises(Exception, match="no fr-continental factor for 2025"):
        t.factor("fr-continental", 2025, "error")
    c = t.factor("corse", 2019, "error")  # an undated element applies to every year, flagged
    assert c.undated and c.year == 2019 and not c.fallback and c.source_tag.endswith(":corse:undated:24308")


def test_split_by_post_keeps_the_total():
    f = FactorTable.embedded().factor("fr-continental", 2022)  # parts 0.0338 + 0.0135 + 0.00474 = 0.05204
    shares = f.post_shares()
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-12)
    assert shares["2.1"] == pytest.approx(0.0338 / 0.05204)


def test_utf8_bom_comma_separated_and_xlsx_give_the_same_table(tmp_path: Path):
    rows = _rows()
    reference = build_table(EXCERPT)
    utf8 = _write_csv(tmp_path / "Base_Carbone_V23.6_electricite.csv", rows, "utf-8-sig")
    assert build_table(utf8) == reference
    # .xlsx of the same columns: numbers as numbers, the version in the sheet name only
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Base_Carbone_V23.6"
    numeric = {rows[0].index(c) for c in ("Total poste non décomposé", "Incertitude", "Identifiant de l'élément")}
    for r in rows:
        ws.append([float(v.replace(",", ".")) if i in numeric and v and r is not rows[0] else (v or None)
                   for i, v in enumerate(r)])  # fmt: skip
    xlsx = tmp_path / "export.xlsx"
    wb.save(xlsx)
    got = FactorTable.from_text(build_table(xlsx))
    ref = FactorTable.from_text(reference)
    assert got.version == "V23.6" and got.zones() == ref.zones()
    for zone in ref.zones():
        assert [(f.year, f.kg_per_kwh, f.source_id, f.uncertainty_pct, f.parts) for f in got.rows(zone)] == [
            (f.year, f.kg_per_kwh, f.source_id, f.uncertainty_pct, f.parts) for f in ref.rows(zone)
        ]


def test_include_archived_keeps_the_valid_element_and_names_the_other():
    t = FactorTable.from_text(build_table(EXCERPT, include_archived=True))
    f = t.factor("fr-continental", 2015)
    assert f.source_id == "26805" and "26600 (Archivé)" in f.note
    assert FactorTable.from_text(build_table(EXCERPT)).factor("fr-continental", 2015).note.count("Archivé") == 0


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda rows: [[c for i, c in enumerate(r) if i != 50] for r in rows], "missing column(s) 'Total poste non décomposé'"),
        (lambda rows: rows[:60] + [rows[60][:20]] + rows[61:], ":61: 20 fields"),
        (lambda rows: rows[:40] + [rows[40][:50] + ["0,05x"] + rows[40][51:]] + rows[41:], ":41: column 'Total poste non décomposé': '0,05x' is not a number"),
        (lambda rows: rows[:1], "no valid 'Electricité — mix moyen — consommation' element"),
    ],
)  # fmt: skip
def test_malformed_export_names_file_line_and_what_is_wrong(tmp_path: Path, capsys, mutate, message):
    rows = _rows()
    assert rows[0][50] == "Total poste non décomposé"
    # line 41 and 61 of the file must be electricity lines the build reads
    assert rows[40][5].startswith(("Electricit", "Électricit")) and rows[60][5].startswith(("Electricit", "Électricit"))
    bad = _write_csv(tmp_path / "Base_Carbone_V23.6.csv", mutate(rows))
    with pytest.raises(ExportError, match=None) as err:
        build_table(bad)
    assert str(bad) in str(err.value) and message in str(err.value)
    assert main(["factors", "build", str(bad)]) == 1
    captured = capsys.readouterr()
    assert message in captured.err and "Traceback" not in captured.err


def test_foreign_and_missing_files(tmp_path: Path, capsys):
    assert main(["factors", "build", str(REPO / "pyproject.toml")]) == 1
    assert "not a Base Carbone export: missing column(s) 'Type Ligne'" in capsys.readouterr().err
    assert main(["factors", "build", str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    nover = tmp_path / "export.csv"
    nover.write_bytes(EXCERPT.read_bytes())
    assert main(["factors", "build", str(nover)]) == 1
    assert "--base-version" in capsys.readouterr().err
    assert main(["factors", "build", str(nover), "--base-version", "V23.6", "--out", str(tmp_path / "t.yaml")]) == 0


def test_show_and_diff(tmp_path: Path, capsys):
    assert main(["factors", "show", "--year", "2025", "--zone", "fr-continental"]) == 0
    out = capsys.readouterr().out
    assert "element 43642" in out and "factor-year-2024-for-2025" in out and "poste 2.1: 67.4 %" in out
    # a newer export: the 2024 element revised
    rows = _rows()
    i = next(n for n, r in enumerate(rows) if r[1] == "43642" and r[0] == "Elément")
    rows[i][50] = "0,06"
    newer = _write_csv(tmp_path / "Base_Carbone_V23.7.csv", rows)
    assert main(["factors", "diff", str(EXCERPT), str(newer)]) == 0
    out = capsys.readouterr().out
    assert "~ fr-continental 2024: 0.0519 -> 0.06 kgCO2e/kWh (+15.61 %)" in out and "1 change(s)" in out
    assert "sentinelle recompute" in out
    assert main(["factors", "show", "--zone", "atlantis"]) == 1
    assert "no zone 'atlantis'" in capsys.readouterr().err


def test_an_export_or_junk_given_as_a_table_is_refused_with_the_way_out(tmp_path: Path, capsys):
    utf8 = _write_csv(tmp_path / "Base_Carbone_V23.6.csv", _rows(), "utf-8")
    junk = tmp_path / "junk.yaml"
    junk.write_bytes(bytes(range(128, 256)))
    for path in (EXCERPT, utf8, junk):
        assert main(["factors", "show", "--factors", str(path)]) == 1
        err = capsys.readouterr().err
        assert str(path) in err and "sentinelle factors build EXPORT --out TABLE" in err and "Traceback" not in err


def test_show_with_a_config_applies_its_year_rule(tmp_path: Path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("agent: {name: t}\ncarbon: {missing_year: error}\ninventory:\n  sites:\n    - {id: a, zone: guyane, devices: [{id: d1, snmp: {host: 127.0.0.1}}]}\n")
    assert main(["factors", "show", "-c", str(cfg), "--year", "2025", "--zone", "fr-continental"]) == 1
    assert "2025: none (no fr-continental factor for 2025" in capsys.readouterr().out
    assert main(["factors", "show", "-c", str(cfg), "--year", "2025", "--zone", "guyane"]) == 0
    assert "element 24307" in capsys.readouterr().out


def test_a_table_row_without_decomposition_is_reported_as_such():
    t = FactorTable.from_text(
        "table: own\nversion: '1'\nunit: kgCO2e/kWh\nzones:\n  fr-continental:\n    label: x\n"
        "    factors:\n      - {year: 2024, value: 0.05, source: own, verified: true}\n"
    )
    assert t.factor("fr-continental", 2024).post_shares() == {"2.1+4.1": 1.0}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_damaged_export_gives_a_located_error_or_a_table(tmp_path_factory, data):
    """Cut, blank or overwrite cells of electricity lines: never anything but ExportError."""
    rows = _rows()
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(1, len(rows) - 1))
        if not rows[i]:
            continue
        j = data.draw(st.integers(0, len(rows[i]) - 1))
        action = data.draw(st.sampled_from(["cut", "blank", "text", "number"]))
        if action == "cut":
            rows[i] = rows[i][:j]
        elif action == "blank":
            rows[i][j] = ""
        elif action == "text":
            rows[i][j] = data.draw(st.text(alphabet="abcé;\"\n,.-0123456789 ", max_size=8))
        else:
            rows[i][j] = data.draw(st.sampled_from(["-1", "1e9", "nan", "0,0", "12,5,3"]))
    path = _write_csv(tmp_path_factory.mktemp("fuzz") / "Base_Carbone_V23.6.csv", rows, "utf-8")
    try:
        FactorTable.from_text(build_table(path))
    except ExportError as exc:
        assert str(path) in str(exc)
    except Exception as exc:  # the table the build wrote must load back, or say what is wrong
        from sentinelle.carbon.factors import FactorError

        assert isinstance(exc, FactorError), repr(exc)
