"""Text from records is text, not markup: escaping per output format.

Method, preset, parameter and dataset strings come from records, which may come from someone else's
folder. In the terminal an ANSI escape could rewrite the screen; in markdown a ``|`` splits a cell, a
newline followed by ``# heading`` starts a section and ``<script>`` is HTML; in LaTeX ``\\``, ``{`` or
``%`` change the document. Each function makes one string safe for one format.
"""

from __future__ import annotations

import html
import math
import re

# C0 controls (but tab), DEL and C1 controls: ESC starts terminal sequences, CR/BS overwrite what was shown.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")
# "|" would split a table cell, "\\" could undo that escape; the rest of markdown's punctuation only formats
# (labels such as "lddu (cpu) [use_queue=false]" keep reading as they did).
_MARKDOWN_SPECIAL = re.compile(r"([\\|])")
_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "{": r"\{", "}": r"\}", "$": r"\$", "&": r"\&", "#": r"\#",
                  "%": r"\%", "_": r"\_", "^": r"\^{}", "~": r"\~{}"}


def terminal_text(text) -> str:
    """``text`` without control characters (a newline, ESC or CR becomes a space); for one line on a terminal."""
    return _CONTROL.sub(" ", str(text))


def markdown_cell(text) -> str:
    """One line of markdown showing ``text``: on one line, HTML escaped, cell separators backslashed."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(terminal_text(text), quote=False))


def markdown_line(text) -> str:
    """A line of markdown prose built from record text: one line, no HTML (markdown syntax is kept)."""
    return html.escape(terminal_text(text), quote=False)


def latex_cell(text) -> str:
    return "".join(_LATEX_SPECIAL.get(char, char) for char in terminal_text(text))


def finite_json(value):
    """``value`` with every non-finite float replaced by None: JSON has no NaN, and a bare ``NaN`` breaks
    the strict parsers that read our ``--format json``."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_json(item) for item in value]
    return value


def cell(text, fmt: str) -> str:
    """``text`` made safe for ``fmt`` (markdown, latex; csv and json quote by themselves: only controls go)."""
    if fmt == "markdown":
        return markdown_cell(text)
    if fmt == "latex":
        return latex_cell(text)
    if fmt == "csv":
        return terminal_text(text)
    return str(text)
