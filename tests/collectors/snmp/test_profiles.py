"""Profile files: shipped ones load, users override and extend them, mistakes are explained."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentinelle.collectors.snmp.profiles import ProfileCatalog, ProfileError

SHIPPED = {"system", "if-mib", "ups-mib", "apc-rpdu2", "apc-ups", "raritan-pdu2", "servertech-sentry4",
           "eaton-epdu", "entity-sensor", "host-resources", "huawei-gpon-olt", "zte-gpon-olt"}


def test_shipped_profiles_load_and_state_their_source() -> None:
    catalog = ProfileCatalog.load()
    assert SHIPPED <= set(catalog.names())
    assert all(catalog.get(n).source for n in SHIPPED)


def test_selection_by_sysobjectid_and_detection() -> None:
    catalog = ProfileCatalog.load()
    names = lambda ps: [p.name for p in ps]  # noqa: E731
    assert names(catalog.select("1.3.6.1.4.1.318.1.3.4.6")) == ["if-mib", "system", "apc-rpdu2"]
    assert "ups-mib" in names(catalog.select("1.3.6.1.4.1.99999.1", present=["1.3.6.1.2.1.33.1.1.1.0"]))
    assert names(catalog.select("1.3.6.1.4.1.318.1.3.4.6", ["ups-mib"])) == ["if-mib", "system", "ups-mib"]
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        catalog.select(None, ["nope"])


def test_user_profile_overrides_and_extends(tmp_path: Path) -> None:
    (tmp_path / "apc-ups.yaml").write_text("name: apc-ups\nsys_object_ids: ['1.3.6.1.4.1.318.1.3.2']\n"
                                           "groups: [{measurement: ups, fields: [{name: x_pct, oid: 1.3.6.1.4.1.318.9.0}]}]\n")
    (tmp_path / "my-pdu.yaml").write_text(
        "name: my-pdu\nextends: apc-rpdu2\ngroups:\n"
        "  - {measurement: pdu, table: true, fields: [{name: humidity_pct, oid: 1.3.6.1.4.1.318.1.1.26.10.2.2.1.10}]}\n")
    catalog = ProfileCatalog.load([tmp_path])
    assert [f.name for g in catalog.get("apc-ups").groups for f in g.fields] == ["x_pct"]
    pdu = next(g for g in catalog.get("my-pdu").groups if g.measurement == "pdu")
    names = [f.name for f in pdu.fields]
    assert "energy_kwh_total" in names and names[-1] == "humidity_pct"


@pytest.mark.parametrize("text, message", [
    ("name: bad\ngroups: [{measurement: x, fields: [{name: y, oid: 'ifInOctets'}]}]\n", "not a numeric OID"),
    ("name: bad\ngroups: [{measurement: x, fields: [{name: y, oid: 1.3.6.1, type: enum}]}]\n", "needs 'enum' labels"),
    ("name: bad\ngroups: [{measurement: x, fields: [{name: y, oid: 1.3.6.1, colour: red}]}]\n", "colour"),
    ("name: bad\nextends: ghost\n", "extends unknown profile 'ghost'"),
    ("[unclosed\n", "not valid YAML"),
])
def test_bad_profile_is_explained(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(text)
    with pytest.raises(ProfileError, match=message) as err:
        ProfileCatalog.load([tmp_path])
    assert "bad.yaml" in str(err.value)
