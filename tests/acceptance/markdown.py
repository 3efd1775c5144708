"""Fenced code blocks of the user documentation (README.md and docs/**/*.md), with where they are.

The acceptance tests run what these blocks say, so the extraction is the contract: a block
fenced ```yaml (or yml) is a configuration snippet, ```sh (bash, shell, console) holds shell
commands, one per line (`\\` continues a line, `#` starts a comment, `a && b` is two commands).
Blocks in list items are indented: the fence's indentation is removed from their lines.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from tests.acceptance.testbed import REPO

YAML_LANGS = {"yaml", "yml"}
SHELL_LANGS = {"sh", "bash", "shell", "console"}
_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>```+|~~~+)\s*(?P<info>[^`]*)$")


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # line of the opening fence, 1-based
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def blocks(path: Path) -> list[Block]:
    out: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            line = lines[i]
            body.append(line[len(indent):] if line.startswith(indent) else line.lstrip())
            i += 1
        if i >= len(lines):
            raise AssertionError(f"{path.relative_to(REPO)}:{start + 1}: code block never closed")
        i += 1
        lang = info.split()[0].lower() if info else ""
        out.append(Block(path, start + 1, lang, "\n".join(body) + "\n"))
    return out


def all_blocks() -> list[Block]:
    return [b for p in doc_files() for b in blocks(p)]


def yaml_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in YAML_LANGS]


def shell_blocks() -> list[Block]:
    return [b for b in all_blocks() if b.lang in SHELL_LANGS]


@dataclass(frozen=True)
class Command:
    block: Block
    text: str  # one simple command (or one pipeline) as written, comment removed

    @property
    def argv(self) -> list[str]:
        return shlex.split(self.text)


# A comment: a line starting with `#`, or `#` after a space and followed by a space.
_COMMENT = re.compile(r"(^\s*#.*$)|(\s+#\s.*$)")


def commands(block: Block) -> list[Command]:
    """The commands of a shell block: continuation lines joined, comments dropped, `&&` split."""
    joined: list[str] = []
    pending = ""
    for raw in block.text.splitlines():
        line = raw.rstrip()
        if line.startswith("$ "):
            line = line[2:]
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        joined.append(pending + line)
        pending = ""
    out: list[Command] = []
    for line in joined:
        line = _COMMENT.sub("", line).strip()
        if not line:
            continue
        try:
            shlex.split(line)
        except ValueError as exc:
            raise AssertionError(f"{block.where}: cannot parse shell line {line!r}: {exc}") from None
        for part in re.split(r"\s&&\s", line):
            if part.strip():
                out.append(Command(block, part.strip()))
    return out
