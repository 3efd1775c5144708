"""Secret values out of text, once for logs, sink errors and CLI output.

A library may paste a token, a password or a URL holding one into an exception message; every
text that leaves the agent (log line, sink error, `check` row, CLI error) goes through one
`Redactor` built from the secrets it knows. Longest secrets are replaced first, so a secret that
contains a shorter one is never left half visible; values under 3 characters are not treated as
secrets (replacing "a" everywhere would make every message unreadable and hide nothing).
"""

from __future__ import annotations

from collections.abc import Iterable

MASK = "***"
MIN_SECRET_LENGTH = 3


class Redactor:
    """Replaces each known secret value by `***` in any text."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self.secrets)
