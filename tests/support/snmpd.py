"""Debian net-snmp ``snmpd``, for real SNMPv3 authPriv tests."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.ports import HOST, free_udp_port
from tests.support.process import _Server, find_binary
from tests.support.snmp_probe import snmpget


class Snmpd(_Server):
    """Debian net-snmp ``snmpd`` for real SNMPv3 authPriv tests.

    Users (read-only, whole MIB view): ``user`` (SHA/AES-128 authPriv), ``user512``
    (SHA-512/AES-256), ``user_aes256`` (SHA/AES-256, same keys as ``user``), ``noauth_user``
    (noAuthNoPriv), and v2c community ``public``.

    net-snmp's ``AES-256`` uses the Blumenthal key extension = pysnmp
    ``usmAesBlumenthalCfb256Protocol``; pysnmp ``usmAesCfb256Protocol`` (Reeder/Cisco "AES-256-C")
    fails with SHA-1 (times out). With SHA-512 the localized key is long enough that both work.
    """

    name = "snmpd"
    package = "snmpd"
    startup_timeout = 20.0

    user = "sentinelle"
    auth_protocol = "SHA"
    auth_key = "sentinelle-auth-key"
    priv_protocol = "AES"
    priv_key = "sentinelle-priv-key"
    user512 = "sentinelle512"
    auth_protocol512 = "SHA-512"
    auth_key512 = "sentinelle-auth-key-512"
    priv_protocol512 = "AES-256"
    priv_key512 = "sentinelle-priv-key-256"
    user_aes256 = "sentinelle-aes256"
    noauth_user = "sentinelle-noauth"
    community = "public"
    sys_location = "Sentinelle test bed"
    sys_contact = "ci@sentinelle.invalid"

    def __init__(self, workdir: str | Path | None = None) -> None:
        super().__init__(workdir)
        self._allocate_ports()
        self.conf_path = self.workdir / "snmpd.conf"
        self.persistent_dir = self.workdir / "persist"

    def _allocate_ports(self) -> None:
        self.port = free_udp_port()
        self.url = f"udp://{HOST}:{self.port}"

    def v3(self, sha512: bool = False, aes256: bool = False) -> dict[str, str]:
        """authPriv credentials in :func:`snmpget`'s v3 dict form (keys: user, level,
        auth_protocol, auth_key, priv_protocol, priv_key; values are net-snmp names)."""
        if aes256:
            return {
                "user": self.user_aes256,
                "level": "authPriv",
                "auth_protocol": "SHA",
                "auth_key": self.auth_key,
                "priv_protocol": "AES-256",
                "priv_key": self.priv_key,
            }
        if sha512:
            return {
                "user": self.user512,
                "level": "authPriv",
                "auth_protocol": self.auth_protocol512,
                "auth_key": self.auth_key512,
                "priv_protocol": self.priv_protocol512,
                "priv_key": self.priv_key512,
            }
        return {
            "user": self.user,
            "level": "authPriv",
            "auth_protocol": self.auth_protocol,
            "auth_key": self.auth_key,
            "priv_protocol": self.priv_protocol,
            "priv_key": self.priv_key,
        }

    def _prepare(self) -> None:
        self.persistent_dir.mkdir(exist_ok=True)
        # createUser lines are consumed at startup and persisted as usmUser in persistent_dir;
        # repeating them on restart is harmless.
        self.conf_path.write_text(
            f"""agentAddress udp:{HOST}:{self.port}
sysLocation {self.sys_location}
sysContact {self.sys_contact}
sysServices 72
dontLogTCPWrappersConnects yes
createUser {self.user} {self.auth_protocol} "{self.auth_key}" {self.priv_protocol} "{self.priv_key}"
createUser {self.user512} {self.auth_protocol512} "{self.auth_key512}" {self.priv_protocol512} "{self.priv_key512}"
createUser {self.user_aes256} SHA "{self.auth_key}" AES-256 "{self.priv_key}"
createUser {self.noauth_user}
rouser {self.user} priv
rouser {self.user512} priv
rouser {self.user_aes256} priv
rouser {self.noauth_user} noauth
rocommunity {self.community} {HOST}
"""
        )

    def _argv(self) -> list[str]:
        exe = find_binary("snmpd", self.package)
        return [
            exe,
            "-f",
            "-Lo",
            "-C",
            "-c",
            str(self.conf_path),
            "-M",
            "",  # no MIB files needed (and none may be installed)
            "-m",
            "",
            "-p",
            str(self.workdir / "snmpd.pid"),
        ]

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SNMP_PERSISTENT_DIR": str(self.persistent_dir),
            "SNMPCONFPATH": str(self.workdir),
        }

    def _ready(self) -> bool:
        r = snmpget(self.port, ["1.3.6.1.2.1.1.3.0"], v3=self.v3(), timeout=0.5)
        return r.returncode == 0 and "1.3.6.1.2.1.1.3.0" in r.stdout
