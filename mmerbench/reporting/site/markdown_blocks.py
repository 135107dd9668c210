"""Read back the markdown the leaderboard code writes: its pipe tables cell by cell, its other lines as text.

The site shows the published leaderboard's own cells (so a page and the
markdown can never disagree) and therefore parses what ``tabulate`` wrote in
its "github" format. Only the first column holds a string from the store (a
row label, which may itself contain ``|``); every other cell is a number or a
heading. A body line is therefore split from the right into exactly as many
cells as the header has, and whatever is left is the label.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markupsafe import Markup, escape


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Text:
    text: str


def _cells(line: str, count: int | None) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") else inner
    parts = inner.split("|") if count is None else inner.rsplit("|", count - 1)
    return [part.strip() for part in parts]


def _is_rule(line: str) -> bool:
    return bool(re.fullmatch(r"\|?(\s*:?-+:?\s*\|)+\s*:?-*:?\s*\|?", line.strip()))


def parse(markdown: str) -> list[Table | Text]:
    """Tables and non-empty text lines, in order. A table is a header line, a rule line and body lines."""
    lines = markdown.splitlines()
    blocks: list[Table | Text] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.lstrip().startswith("|") and index + 1 < len(lines) and _is_rule(lines[index + 1]):
            table = Table(_cells(line, None))
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                table.rows.append(_cells(lines[index], len(table.headers)))
                index += 1
            blocks.append(table)
            continue
        if line.strip():
            blocks.append(Text(line.strip()))
        index += 1
    return blocks


def first_table(markdown: str) -> tuple[Table, list[str]]:
    """The first table of ``markdown`` and the text lines after it (the leaderboard's notes)."""
    blocks = parse(markdown)
    tables = [block for block in blocks if isinstance(block, Table)]
    if not tables:
        raise ValueError(f"no table in the leaderboard text: {markdown[:200]!r}")
    after = blocks[blocks.index(tables[0]) + 1:]
    return tables[0], [block.text for block in after if isinstance(block, Text)]


_BOLD = re.compile(r"\*\*(.+?)\*\*")
_CODE = re.compile(r"`([^`]+)`")


def unbold(cell: str) -> tuple[str, bool]:
    """(the cell without ``**``, whether it was bold: the best value of its column)."""
    match = _BOLD.search(cell)
    return (_BOLD.sub(r"\1", cell), True) if match else (cell, False)


def inline(text: str) -> Markup:
    """Escape ``text``, then turn markdown's inline ``code`` and **bold** into HTML (for footers and notes)."""
    escaped = str(escape(text))
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    escaped = _BOLD.sub(lambda m: f"<strong>{m.group(1)}</strong>", escaped)
    return Markup(escaped)
