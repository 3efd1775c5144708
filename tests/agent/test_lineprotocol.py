"""Line protocol: exact escaping, clear refusals, and a property-based round trip through the
encoder/parser pair and through a real InfluxDB 1.x server."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sentinelle.agent.core import Point
from sentinelle.agent.lineprotocol import LineProtocolError, encode_columns, encode_point, parse_line


def test_escaping_follows_the_spec() -> None:
    p = Point(
        "my meas,ure",
        {"tag key": "a,b=c d", "site": "nro-1"},
        {"field=k": 1.5, "n": 3, "ok": True, "s": 'say "hi" \\ ok', "z": False},
        1_700_000_000_000_000_000,
    )
    assert encode_point(p) == (
        'my\\ meas\\,ure,site=nro-1,tag\\ key=a\\,b\\=c\\ d '
        'field\\=k=1.5,n=3i,ok=true,s="say \\"hi\\" \\\\ ok",z=false 1700000000000000000'
    )


def test_floats_stay_floats_and_ints_get_suffix() -> None:
    line = encode_point(Point("m", {}, {"f": 2.0, "i": 2, "big": 1e300, "neg": -0.5}, 1))
    assert "f=2.0" in line and "i=2i" in line and "big=1e+300" in line and "neg=-0.5" in line
    back = parse_line(line)
    assert isinstance(back.fields["f"], float) and isinstance(back.fields["i"], int)


@pytest.mark.parametrize(
    ("point", "reason"),
    [
        (Point("m", {}, {}, 1), "no fields"),
        (Point("m", {}, {"v": math.nan}, 1), "finite"),
        (Point("m", {}, {"v": math.inf}, 1), "finite"),
        (Point("m", {}, {"v": 2**63}, 1), "64-bit"),
        (Point("m", {"k": "ends\\"}, {"v": 1}, 1), "backslash"),
        (Point("a\\=b", {}, {"v": 1}, 1), "backslash"),  # InfluxDB 1.x reads it as 'a=b'
        (Point("m", {"k": "a\nb"}, {"v": 1}, 1), "line break"),
        (Point("#m", {}, {"v": 1}, 1), "comment"),
        (Point("m", {}, {"time": 1}, 1), "reserved"),
        (Point("", {}, {"v": 1}, 1), "empty"),
        (Point("m", {}, {"v": [1]}, 1), "unsupported"),  # type: ignore[dict-item]
    ],
)
def test_unrepresentable_points_are_refused_clearly(point: Point, reason: str) -> None:
    with pytest.raises(LineProtocolError, match=reason):
        encode_point(point)


def test_empty_tag_values_are_dropped_not_written() -> None:
    assert encode_point(Point("m", {"a": "", "b": "x"}, {"v": 1}, 5)) == "m,b=x v=1i 5"


@pytest.mark.parametrize("bad", ["m", "m v=", 'm v="open', "m v=1 notatime", "m v=abc 1", "m,t v=1 1", "m a b c d"])
def test_parser_rejects_malformed_lines(bad: str) -> None:
    with pytest.raises(LineProtocolError):
        parse_line(bad)


# --- properties -----------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\x00"),
    min_size=1,
    max_size=12,
)
_fields = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.booleans(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=20),
)
points = st.builds(
    Point,
    measurement=_text,
    tags=st.dictionaries(_text, _text, max_size=3),
    fields=st.dictionaries(_text, _fields, min_size=1, max_size=3),
    time_ns=st.integers(min_value=-(2**62), max_value=2**62),
)


def _encodable(p: Point) -> str | None:
    try:
        return encode_point(p)
    except LineProtocolError:
        return None


@given(points)
@settings(max_examples=400)
def test_whatever_encodes_parses_back_identically(p: Point) -> None:
    line = _encodable(p)
    assume(line is not None)
    back = parse_line(line)
    assert back.measurement == p.measurement
    assert back.tags == {k: v for k, v in p.tags.items() if v != ""}
    assert back.fields == p.fields
    assert all(type(back.fields[k]) is type(v) for k, v in p.fields.items())
    assert back.time_ns == p.time_ns


# `encode_columns` (bulk writers' points held by series) writes exactly `encode_point`'s lines,
# whether its per-series templates apply (finite floats) or it falls back to point by point.
_number = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(),
                    st.integers(min_value=-(2**63), max_value=2**63 - 1))
_series = st.lists(st.tuples(_text, st.dictionaries(_text, _text, max_size=3),
                             st.lists(_text, min_size=1, max_size=3, unique=True).map(tuple)),
                   min_size=1, max_size=3)


@given(_series, st.data())
@settings(max_examples=300)
def test_encode_columns_writes_what_encode_point_writes(series: list, data: st.DataObject) -> None:
    floats_only = data.draw(st.booleans())
    value = st.floats(allow_nan=False, allow_infinity=False) if floats_only else _number
    rows = data.draw(st.lists(st.integers(0, len(series) - 1).flatmap(lambda i: st.tuples(
        st.just(i), st.integers(min_value=-(2**62), max_value=2**62),
        st.tuples(*[value] * len(series[i][2])))), max_size=8))
    points = [Point(series[i][0], dict(series[i][1]), dict(zip(series[i][2], v, strict=True)), t) for i, t, v in rows]
    try:
        expected = [encode_point(p).encode() for p in points]
    except LineProtocolError:
        with pytest.raises(LineProtocolError):
            encode_columns(series, rows)
        return
    assert encode_columns(series, rows) == expected


# Round trip through a real InfluxDB 1.x: what we write is what the server stores.
# InfluxQL returns tags and fields as columns of one namespace, so tag and field keys are
# kept apart; timestamps within the range InfluxDB accepts; one point per series and time.
_ident = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp"), blacklist_characters='\x00"'),
    min_size=1,
    max_size=10,
)
influx_points = st.lists(
    st.builds(
        Point,
        measurement=_ident,
        tags=st.dictionaries(_ident.map(lambda s: "t_" + s), _ident, max_size=2),
        fields=st.dictionaries(_ident.map(lambda s: "f_" + s), _fields, min_size=1, max_size=3),
        time_ns=st.integers(min_value=0, max_value=2**62),
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda p: p.measurement,
)


@given(influx_points)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_round_trip_through_real_influxdb(influxdb1, batch: list[Point]) -> None:  # type: ignore[no-untyped-def]
    lines = [line for line in (_encodable(p) for p in batch) if line is not None]
    assume(lines)
    kept = [p for p in batch if _encodable(p) is not None]
    db = f"rt{abs(hash(tuple(lines))) % 10**12}"
    influxdb1.create_database(db)
    try:
        influxdb1.write("\n".join(lines), db=db)
        for p in kept:
            name = p.measurement.replace("\\", "\\\\").replace('"', '\\"')
            result = influxdb1.query(f'SELECT * FROM "{name}" GROUP BY *', db=db, epoch="ns")
            series = result["results"][0].get("series")
            assert series, f"{p!r} not found back; server said {result}"
            (s,) = series
            assert s["name"] == p.measurement
            assert s.get("tags", {}) == {k: v for k, v in p.tags.items() if v != ""} | {
                k: "" for k in s.get("tags", {}) if k not in p.tags
            }
            row = dict(zip(s["columns"], s["values"][0], strict=True))
            assert row["time"] == p.time_ns
            for key, value in p.fields.items():
                got = row[key]
                if isinstance(value, float):
                    assert got == pytest.approx(value, rel=0, abs=0) or got == value
                else:
                    assert got == value, (key, value, got)
    finally:
        influxdb1.query(f'DROP DATABASE "{db}"')
