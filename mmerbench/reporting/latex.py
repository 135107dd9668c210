"""LaTeX tables a paper can paste: booktabs rules, right-aligned numbers, marks as math, optional float.

Cells come in as plain text pieces (:class:`Cell`) and are written here once, so
that the leaderboard and the robustness tables look alike: numbers right-aligned
(``r`` columns; the ``±`` and intervals make ``S`` columns awkward), the best
value of a column in ``\\textbf``, the significance mark as ``$^\\dagger$``,
text escaped for LaTeX. Needs ``\\usepackage{booktabs}`` in the preamble.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmerbench.reporting.escaping import terminal_text

# Characters LaTeX reads as commands, and their text-mode forms.
_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
# Marks the markdown tables use, as LaTeX math.
MARKS = {"†": r"$^\dagger$", "‡": r"$^\ddagger$", "¹": r"$^1$"}
# Symbols the footers use that pdflatex cannot typeset from UTF-8 text.
_SYMBOLS = {"±": r"$\pm$", "−": r"$-$", "≤": r"$\le$", "≥": r"$\ge$", "×": r"$\times$", "α": r"$\alpha$",
            "ρ": r"$\rho$", "Δ": r"$\Delta$", "→": r"$\rightarrow$", "∪": r"$\cup$", "∩": r"$\cap$",
            "…": r"\ldots{}", "–": "--", "—": "---", "’": "'", "“": "``", "”": "''"}


def escape(text: str) -> str:
    """Plain text (a method label, a condition name, a footer note) as LaTeX text: special characters escaped,
    the table marks as superscripts, symbols as math; any other character beyond Latin-1 by its name."""
    import re
    import unicodedata

    text = terminal_text(text)  # record text may hold control characters (an ANSI escape, a newline)
    if text.count("`") >= 2:  # `code` in a note: typewriter, its contents escaped like any text
        parts = re.split(r"`([^`]*)`", text)
        return "".join(escape(part) if i % 2 == 0 else f"\\texttt{{{escape(part)}}}" for i, part in enumerate(parts))
    out = []
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char in MARKS:
            out.append(MARKS[char])
        elif char in _SYMBOLS:
            out.append(_SYMBOLS[char])
        elif ord(char) > 0xFF:
            out.append(f"[{unicodedata.name(char, hex(ord(char))).lower()}]")
        else:
            out.append(char)
    return "".join(out)


@dataclass
class Cell:
    """One number cell: mean, optional std and interval, whether it is the column's best, a trailing mark."""

    mean: float | None
    std: float | None = None
    ci: tuple[float, float] | None = None
    best: bool = False
    mark: str = ""

    def latex(self, digits: int) -> str:
        if self.mean is None:
            return ""
        text = f"{self.mean:.{digits}f}"
        if self.std is not None:
            text += f" $\\pm$ {self.std:.{digits}f}"
        if self.ci is not None:
            text += " [{:.{d}f}, {:.{d}f}]".format(*self.ci, d=digits)
        if self.best:
            text = f"\\textbf{{{text}}}"
        return text + (MARKS.get(self.mark, escape(self.mark)) if self.mark else "")


def tabular(headers: list[str], rows: list[list], *, digits: int = 3, text_columns: int = 1,
            caption: str | None = None, label: str | None = None, notes: list[str] = ()) -> str:
    """A booktabs ``tabular`` (in a ``table`` float when a caption or label is given).

    ``rows`` hold ``text_columns`` text cells (left-aligned, escaped) then :class:`Cell`s or plain strings
    (right-aligned). ``notes`` follow the table as LaTeX comments when there is no float, else as a
    ``\\par\\footnotesize`` paragraph inside it.
    """
    numbers = len(headers) - text_columns
    spec = "l" * text_columns + "r" * numbers
    lines = [f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
             " & ".join(escape(h) for h in headers) + r" \\", "\\midrule"]
    for row in rows:
        cells = [escape(c) for c in row[:text_columns]]
        cells += [c.latex(digits) if isinstance(c, Cell) else escape(c) for c in row[text_columns:]]
        lines.append(" & ".join(cells) + r" \\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    if caption is None and label is None:
        return "\n".join(lines + [f"% {terminal_text(note)}" for note in notes])  # one comment line each
    body = ["\\begin{table}[t]", "\\centering", "\\small"]
    if caption is not None:
        body.append(f"\\caption{{{escape(caption)}}}")
    if label is not None:
        body.append(f"\\label{{{label}}}")
    body += lines
    if notes:
        body.append("\\par\\footnotesize " + " ".join(escape(note) for note in notes))
    body.append("\\end{table}")
    return "\n".join(body)
