"""InfluxDB line protocol for `Point`s: the encoder the spool and sinks use, and its parser.

The encoder follows the InfluxDB line protocol escaping rules exactly and *refuses* what the
protocol cannot carry (a NaN, an empty field set, a backslash that would swallow a delimiter,
a newline in a key) rather than writing a line a server would misread. `parse_line` is its
inverse; together they round-trip everything `encode_point` accepts. The spool stores points as
line protocol, so a sink can send stored bytes without re-encoding.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter

from sentinelle.agent.core import FieldValue, Point

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# InfluxDB rejects these keys (1.x: "time"; 2.x/3.x: the underscore columns of its data model).
RESERVED_KEYS = frozenset({"time", "_field", "_measurement"})


class LineProtocolError(ValueError):
    """A point that line protocol cannot represent, or a line that is not valid line protocol."""


# --- encoding -------------------------------------------------------------------------------

_MEASUREMENT_SPECIAL = (",", " ")
_KEY_SPECIAL = (",", "=", " ")


def _check_backslashes(text: str, special: tuple[str, ...], what: str) -> None:
    # A backslash before a delimiter (or at the end) is read by InfluxDB as an escape of the
    # delimiter; line protocol has no way to write a literal backslash there.
    if "\\" not in text:
        return
    if text.endswith("\\"):
        raise LineProtocolError(f"{what} {text!r} ends with a backslash, which line protocol cannot carry")
    for i, ch in enumerate(text[:-1]):
        if ch == "\\" and (text[i + 1] in special or text[i + 1] == "\\"):
            raise LineProtocolError(
                f"{what} {text!r} has a backslash before {text[i + 1]!r}, which line protocol cannot carry"
            )


def _escape_name(text: str, special: tuple[str, ...], what: str) -> str:
    if not text:
        raise LineProtocolError(f"empty {what}")
    if "\n" in text or "\r" in text:
        raise LineProtocolError(f"{what} {text!r} contains a line break")
    _check_backslashes(text, special, what)
    for ch in special:
        if ch in text:
            text = text.replace(ch, "\\" + ch)
    return text


def escape_measurement(name: str) -> str:
    if name.startswith("#"):
        raise LineProtocolError(f"measurement {name!r} starts with '#', which marks a comment line")
    # InfluxDB 1.x unescapes `\=` in the whole series key, measurement included (found by the
    # round-trip property test): a literal backslash before '=' cannot be carried there either.
    _check_backslashes(name, _KEY_SPECIAL, "measurement")
    return _escape_name(name, _MEASUREMENT_SPECIAL, "measurement")


def escape_key(key: str, what: str = "key") -> str:
    if key in RESERVED_KEYS:
        raise LineProtocolError(f"{what} {key!r} is reserved by InfluxDB")
    return _escape_name(key, _KEY_SPECIAL, what)


def escape_tag_value(value: str) -> str:
    return _escape_name(value, _KEY_SPECIAL, "tag value")


def encode_field_value(value: FieldValue) -> str:
    # bool before int: bool is a subclass of int in Python.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if not INT64_MIN <= value <= INT64_MAX:
            raise LineProtocolError(f"integer {value} does not fit in a signed 64-bit field")
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            raise LineProtocolError(f"field value {value} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        if "\r" in value:
            raise LineProtocolError("string field contains a carriage return")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise LineProtocolError(f"unsupported field type {type(value).__name__}")


def _encode_head(measurement: str, tags: Mapping[str, str]) -> str:
    """`measurement,tag=value,...` with tags sorted by key, empty tag values left out."""
    parts = [escape_measurement(measurement)]
    for key in sorted(tags):
        value = tags[key]
        if value == "":
            continue  # InfluxDB drops empty tags; writing "k=" would be a parse error
        parts.append(f"{escape_key(key, 'tag key')}={escape_tag_value(value)}")
    return ",".join(parts)


# Hot-path caches (the same series and field names come back at every poll). Only results of
# the general code above are cached, so the output and the refusals are exactly its own. Dict
# operations are atomic under the GIL, and the spool and sinks encode on their own threads.
_HEAD_CACHE: dict[object, str] = {}
_HEAD_CACHE_MAX = 50_000
_FIELD_KEY_CACHE: dict[str, str] = {}
_FIELD_KEY_CACHE_MAX = 10_000


def encode_point(point: Point) -> str:
    fields = point.fields
    if not fields:
        raise LineProtocolError(f"point {point.measurement!r} has no fields")
    tags = point.tags
    try:
        cache_key: object = (point.measurement, *tags.items()) if tags else point.measurement
        head = _HEAD_CACHE.get(cache_key)
    except TypeError:  # an unhashable measurement or tag value: no caching
        head = cache_key = None
    if head is None:
        head = _encode_head(point.measurement, tags)
        # Cache plain strings only: no other value can then compare equal to a cached key.
        if cache_key is not None and type(point.measurement) is str and all(
            type(k) is str and type(v) is str for k, v in tags.items()
        ):
            if len(_HEAD_CACHE) >= _HEAD_CACHE_MAX:
                _HEAD_CACHE.clear()
            _HEAD_CACHE[cache_key] = head
    keys = _FIELD_KEY_CACHE
    parts = []
    for k, v in fields.items():
        try:
            ek = keys.get(k)
        except TypeError:
            ek = None
        if ek is None:
            ek = escape_key(k, "field key")
            if type(k) is str:
                if len(keys) >= _FIELD_KEY_CACHE_MAX:
                    keys.clear()
                keys[k] = ek
        t = type(v)
        # Exact types only (bool is not int here); anything else takes the general encoder.
        if t is float and v - v == 0.0:  # finite: inf - inf and nan - nan are nan
            parts.append(f"{ek}={v!r}")
        elif t is int and INT64_MIN <= v <= INT64_MAX:
            parts.append(f"{ek}={v}i")
        elif t is bool:
            parts.append(f"{ek}=true" if v else f"{ek}=false")
        else:
            parts.append(f"{ek}={encode_field_value(v)}")
    time_ns = point.time_ns
    if type(time_ns) is not int:
        time_ns = int(time_ns)
    return f"{head} {','.join(parts)} {time_ns}"


def encode_lines(points: Iterable[Point]) -> str:
    return "\n".join(encode_point(p) for p in points)


def encode_columns(series: Sequence[tuple[str, Mapping[str, str], tuple[str, ...]]],
                   rows: Sequence[tuple[int, int, tuple[float, ...]]]) -> list[bytes]:
    """Line protocol of points given by series, as bulk writers (history imports) hold them:
    `series[i]` is (measurement, tags, field names), each row is (series index, time_ns, field
    values in the order of the names). The lines are exactly `encode_point`'s for the same
    points; when every value is a finite float (the bulk writers' case) they come from one
    `%`-template per series instead of a walk over each point's tags and fields."""
    if not rows:
        return []
    values = [r[2] for r in rows]
    total = sum(map(sum, values))
    plain = total - total == 0 and set(map(type, itertools.chain.from_iterable(values))) == {float}
    if not plain:  # an int, a NaN, an infinity somewhere: the general encoder, point by point
        return [encode_point(Point(series[i][0], dict(series[i][1]), dict(zip(series[i][2], v, strict=True)), t)).encode()
                for i, t, v in rows]
    used = set(map(itemgetter(0), rows))
    templates: list[bytes] = []
    for i, (measurement, tags, names) in enumerate(series):
        if i not in used:  # never encoded, so never refused (as with points)
            templates.append(b"")
            continue
        if not names:
            raise LineProtocolError(f"series {measurement!r} has no fields")
        # `%` in a name or tag would be read as a conversion: doubled before the specs are added.
        fields = ",".join(escape_key(k, "field key").replace("%", "%%") + "=%r" for k in names)
        templates.append(f"{_encode_head(measurement, tags).replace('%', '%%')} {fields} %d".encode())
    return [templates[i] % (*v, t) for i, t, v in rows]


# --- parsing --------------------------------------------------------------------------------


def _split_unescaped(text: str, sep: str) -> list[str]:
    """Split on `sep` where it is not escaped by a backslash; keep escapes in place."""
    out: list[str] = []
    buf: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            buf.append(ch)
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == sep:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


def _unescape(text: str, special: tuple[str, ...]) -> str:
    if "\\" not in text:
        return text
    for ch in special:
        text = text.replace("\\" + ch, ch)
    return text


def _escaped_end(buf: list[str]) -> bool:
    """Whether the last character of `buf` was written escaped (preceded by a backslash)."""
    return len(buf) >= 2 and buf[-2] == "\\"


def _split_sections(line: str) -> tuple[str, str, str | None]:
    """Split a line into (measurement+tags, fields, timestamp) on unescaped, unquoted spaces."""
    sections: list[str] = []
    buf: list[str] = []
    in_quotes = False
    i, n = 0, len(line)
    in_fields = False
    while i < n:
        ch = line[i]
        if ch == "\\" and i + 1 < n:
            buf.append(ch)
            buf.append(line[i + 1])
            i += 2
            continue
        # A quote opens a string only as the first character of a field value (right
        # after '='); inside a string, an unescaped quote closes it.
        if ch == '"' and in_fields and (in_quotes or (buf and buf[-1] == "=" and not _escaped_end(buf))):
            in_quotes = not in_quotes
        if ch == " " and not in_quotes:
            sections.append("".join(buf))
            buf = []
            in_fields = len(sections) == 1
            i += 1
            continue
        buf.append(ch)
        i += 1
    if in_quotes:
        raise LineProtocolError("unterminated string field")
    sections.append("".join(buf))
    if len(sections) == 2:
        return sections[0], sections[1], None
    if len(sections) == 3:
        return sections[0], sections[1], sections[2]
    raise LineProtocolError(f"expected 2 or 3 space-separated sections, found {len(sections)}")


def _parse_field_value(raw: str) -> FieldValue:
    if not raw:
        raise LineProtocolError("empty field value")
    if raw[0] == '"':
        if len(raw) < 2 or raw[-1] != '"':
            raise LineProtocolError(f"bad string field {raw!r}")
        body = raw[1:-1]
        out: list[str] = []
        i = 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body) and body[i + 1] in ('"', "\\"):
                out.append(body[i + 1])
                i += 2
                continue
            out.append(ch)
            i += 1
        return "".join(out)
    if raw in ("t", "T", "true", "True", "TRUE"):
        return True
    if raw in ("f", "F", "false", "False", "FALSE"):
        return False
    if raw[-1] == "i":
        try:
            return int(raw[:-1])
        except ValueError as exc:
            raise LineProtocolError(f"bad integer field {raw!r}") from exc
    if raw[-1] == "u":
        try:
            return int(raw[:-1])
        except ValueError as exc:
            raise LineProtocolError(f"bad unsigned field {raw!r}") from exc
    try:
        value = float(raw)
    except ValueError as exc:
        raise LineProtocolError(f"bad field value {raw!r}") from exc
    if not math.isfinite(value):
        raise LineProtocolError(f"field value {raw!r} is not a finite number")
    return value


def _split_fields(text: str) -> list[str]:
    """Split the field section on commas outside quoted strings."""
    out: list[str] = []
    buf: list[str] = []
    in_quotes = False
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            buf.append(ch)
            buf.append(text[i + 1])
            i += 2
            continue
        if ch == '"' and (in_quotes or (buf and buf[-1] == "=" and not _escaped_end(buf))):
            in_quotes = not in_quotes
        elif ch == "," and not in_quotes:
            out.append("".join(buf))
            buf = []
            i += 1
            continue
        buf.append(ch)
        i += 1
    out.append("".join(buf))
    return out


_BOOLEANS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
             "f": False, "F": False, "false": False, "False": False, "FALSE": False}
# parse_line's fast path stands these in for the escapes `\ `, `\,`, `\=` and `\"` while it
# splits, then puts the escapes back (lines holding any of these characters take the general path).
_HOLD_SPACE, _HOLD_COMMA, _HOLD_EQUALS, _HOLD_QUOTE = "\x00", "\x01", "\x02", "\x03"
_RESTORE = {ord(_HOLD_SPACE): "\\ ", ord(_HOLD_COMMA): "\\,", ord(_HOLD_EQUALS): "\\=", ord(_HOLD_QUOTE): '\\"'}
# What `_unescape` makes of each restored escape, in one pass: with no doubled backslash in the
# line, its successive replaces cannot interact. A measurement keeps `\=` (only `,` and space
# are special there); nothing unescapes `\"` outside a string.
_UNESCAPE_KEY = {ord(_HOLD_SPACE): " ", ord(_HOLD_COMMA): ",", ord(_HOLD_EQUALS): "=", ord(_HOLD_QUOTE): '\\"'}
_UNESCAPE_MEASUREMENT = {ord(_HOLD_SPACE): " ", ord(_HOLD_COMMA): ",", ord(_HOLD_EQUALS): "\\=",
                         ord(_HOLD_QUOTE): '\\"'}
# With string fields (escapes held): `key=value` pairs, a value being a string or a bare word,
# then an optional timestamp. Anything else (a quote inside a key or a bare value, a '=' in a
# bare value...) is left to the general parser, whose quirks are the reference.
_FIELD = r'[^ ,="]+=(?:"[^"]*"|[^ ,="]+)'
_QUOTED_REST = re.compile(rf'((?:{_FIELD},)*{_FIELD})(?: ([^ "]*))?')
_QUOTED_FIELD = re.compile(_FIELD)
# Heads (`measurement,tags`, escapes held) already parsed: a series comes back at every poll.
# Each Point gets its own copy of the tags.
_PARSED_HEADS: dict[str, tuple[str, dict[str, str]]] = {}
_PARSED_HEADS_MAX = 50_000


def parse_line(line: str, default_time_ns: int | None = None) -> Point:
    """Parse one line of line protocol (nanosecond precision) into a `Point`."""
    line = line.rstrip("\n")
    if not line or line.startswith("#"):
        raise LineProtocolError("empty or comment line")
    # Fast path. Without a doubled backslash, every backslash escapes the one character after
    # it; hiding the escaped delimiters lets str.split and the patterns above find exactly the
    # delimiters the general splitters find. The checks below are theirs, in the same order.
    escaped = "\\" in line
    tags: dict[str, str]
    if escaped:
        if ("\\\\" in line or _HOLD_SPACE in line or _HOLD_COMMA in line or _HOLD_EQUALS in line
                or _HOLD_QUOTE in line):
            return _parse_general(line, default_time_ns)
        line = (line.replace("\\ ", _HOLD_SPACE).replace("\\,", _HOLD_COMMA).replace("\\=", _HOLD_EQUALS)
                .replace('\\"', _HOLD_QUOTE))
    if '"' in line:
        head, sep, rest = line.partition(" ")
        match = _QUOTED_REST.fullmatch(rest) if sep else None
        if match is None:
            return _parse_general(line.translate(_RESTORE) if escaped else line, default_time_ns)
        field_parts = [m.group(0) for m in _QUOTED_FIELD.finditer(match.group(1))]
        ts = match.group(2)
    else:
        sections = line.split(" ")
        if len(sections) == 3:
            head, field_text, ts = sections
        elif len(sections) == 2:
            head, field_text = sections
            ts = None
        else:
            raise LineProtocolError(f"expected 2 or 3 space-separated sections, found {len(sections)}")
        field_parts = field_text.split(",")
    # A held escape and the same control character written plainly must not share an entry:
    # escaped heads are keyed with a leading backslash, which no unescaped line contains.
    head_key = "\\" + head if escaped else head
    known = _PARSED_HEADS.get(head_key)
    if known is not None:
        measurement, tags = known[0], dict(known[1])
    else:
        head_parts = head.split(",")
        measurement = head_parts[0]
        # A held escape is non-printable: isprintable() (one C scan) says which parts have one.
        if escaped and not measurement.isprintable():
            measurement = measurement.translate(_UNESCAPE_MEASUREMENT)
        if not measurement:
            raise LineProtocolError("missing measurement")
        tags = {}
        for part in head_parts[1:]:
            key, sep, value = part.partition("=")
            if not sep or not key or not value or "=" in value:
                raise LineProtocolError(f"bad tag {part.translate(_RESTORE) if escaped else part!r}")
            if escaped and not part.isprintable():
                key, value = key.translate(_UNESCAPE_KEY), value.translate(_UNESCAPE_KEY)
            tags[key] = value
        if len(_PARSED_HEADS) >= _PARSED_HEADS_MAX:
            _PARSED_HEADS.clear()
        _PARSED_HEADS[head_key] = (measurement, dict(tags))
    fields: dict[str, FieldValue] = {}
    for part in field_parts:
        key, sep, raw = part.partition("=")
        if not sep or not key:
            raise LineProtocolError(f"bad field {part.translate(_RESTORE) if escaped else part!r}")
        if escaped and not part.isprintable():
            key, raw = key.translate(_UNESCAPE_KEY), raw.translate(_RESTORE)
        if raw and raw[-1] == "i":
            try:
                fields[key] = int(raw[:-1])
                continue
            except ValueError:
                pass  # the general parser says why
        elif raw in _BOOLEANS:
            fields[key] = _BOOLEANS[raw]
            continue
        fields[key] = _parse_field_value(raw)
    if ts is None:
        if default_time_ns is None:
            raise LineProtocolError("missing timestamp")
        time_ns = default_time_ns
    else:
        try:
            time_ns = int(ts)
        except ValueError as exc:
            raise LineProtocolError(f"bad timestamp {ts.translate(_RESTORE) if escaped else ts!r}") from exc
    return Point(measurement, tags, fields, time_ns)


def _parse_general(line: str, default_time_ns: int | None) -> Point:
    head, field_text, ts = _split_sections(line)
    head_parts = _split_unescaped(head, ",")
    measurement = _unescape(head_parts[0], _MEASUREMENT_SPECIAL)
    if not measurement:
        raise LineProtocolError("missing measurement")
    tags: dict[str, str] = {}
    for part in head_parts[1:]:
        kv = _split_unescaped(part, "=")
        if len(kv) != 2 or not kv[0] or not kv[1]:
            raise LineProtocolError(f"bad tag {part!r}")
        tags[_unescape(kv[0], _KEY_SPECIAL)] = _unescape(kv[1], _KEY_SPECIAL)
    fields: dict[str, FieldValue] = {}
    for part in _split_fields(field_text):
        kv = _split_unescaped(part, "=")
        if len(kv) < 2 or not kv[0]:
            raise LineProtocolError(f"bad field {part!r}")
        key = _unescape(kv[0], _KEY_SPECIAL)
        raw = "=".join(kv[1:])  # '=' may appear inside a quoted string value
        fields[key] = _parse_field_value(raw)
    if ts is None:
        if default_time_ns is None:
            raise LineProtocolError("missing timestamp")
        time_ns = default_time_ns
    else:
        try:
            time_ns = int(ts)
        except ValueError as exc:
            raise LineProtocolError(f"bad timestamp {ts!r}") from exc
    return Point(measurement, tags, fields, time_ns)
