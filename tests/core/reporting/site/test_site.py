"""`mmerbench site`: the pages carry the published leaderboard's content, escape the store's strings, and the
sample viewer's data decode to the stored predictions. (What a browser does with them: test_site_browser.py.)"""

from __future__ import annotations

import base64
import json
import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from conftest import SCRIPT_METHOD
from mmerbench.cli import main
from mmerbench.reporting.leaderboard import build_rows, leaderboard_markdown, provenance
from mmerbench.reporting.site import builder, samples
from mmerbench.reporting.site.markdown_blocks import first_table, unbold
from mmerbench.store import ResultStore

pytestmark = pytest.mark.slow  # the session's small real run (six jobs) and one site build


class TableReader(HTMLParser):
    """The text of every cell of the table with a given id, row by row."""

    def __init__(self, table_id: str):
        super().__init__()
        self.table_id, self.inside, self.depth = table_id, False, 0
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and dict(attrs).get("id") == self.table_id:
            self.inside = True
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self.cell is not None:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def table_cells(path: Path, table_id: str) -> list[list[str]]:
    reader = TableReader(table_id)
    reader.feed(path.read_text())
    return reader.rows


def records_of(results) -> list[dict]:
    with ResultStore(results, create=False, read_only=True) as store:
        return store.records()


def test_leaderboard_cells_and_footer_equal_the_published_markdown(site_stores, built_site):
    real, _ = site_stores
    records = records_of(real)
    markdown = leaderboard_markdown(records, "synthetic", results_dir=real)
    published, _ = first_table(markdown)
    page = built_site.path / "synthetic" / "index.html"
    shown = table_cells(page, "leaderboard")
    headers, body = shown[0], shown[1:]
    assert len(body) == len(published.rows) == 3
    for metric_title in published.headers[2:]:
        assert any(h.startswith(metric_title) for h in headers), metric_title
    for page_row, markdown_row in zip(body, published.rows):
        assert page_row[0] == markdown_row[0]  # label with its significance mark, e.g. "br †"
        assert page_row[1] == markdown_row[1]  # n
        for title, cell in zip(published.headers[2:], markdown_row[2:]):
            column = next(i for i, h in enumerate(headers) if h.split(" ↓")[0] == title)
            assert page_row[column] == unbold(cell)[0], (title, page_row[column], cell)
    html = page.read_text()
    assert "†" in body[0][0] + body[1][0] + body[2][0]  # the marks are there
    for line in provenance(records, "synthetic").splitlines():
        if line.startswith("- Generated:"):
            continue  # a timestamp: the build's own
        text = re.sub(r"`([^`]+)`", r"\1", line.removeprefix("- "))
        assert text in re.sub(r"<[^>]+>", "", html).replace("&#39;", "'").replace("&#34;", '"'), text
    command = re.search(r"Reproduce the table: `([^`]+)`", markdown).group(1)
    assert f'<pre class="command" id="reproduce-table">{command}</pre>' in html
    assert "--protocol missing" in command


def test_bold_marks_the_published_best_values(built_site, site_stores):
    real, _ = site_stores
    published, _ = first_table(leaderboard_markdown(records_of(real), "synthetic", results_dir=real))
    html = (built_site.path / "synthetic" / "index.html").read_text()
    bold = sorted(unbold(cell)[0] for row in published.rows for cell in row[2:] if unbold(cell)[1])
    shown = sorted(re.findall(r"<td [^>]*><strong>([^<]+)</strong></td>", html))
    assert [b for b in shown if b in bold] == bold


def test_index_row_pages_and_figures(built_site, site_stores):
    real, _ = site_stores
    index = (built_site.path / "index.html").read_text()
    for dataset in ("synthetic", "synthetic-single", "synthetic-unaligned"):
        assert f'href="{dataset}/index.html">{dataset}</a>' in index
    assert "figures/critical-difference.png" in index and (built_site.path / "figures" / "critical-difference.png").exists()
    records = [r for r in records_of(real) if r["method"] == "br"]
    page = (built_site.path / "synthetic" / "rows" / "br.html").read_text()
    for record in records:
        assert record["key"] in page and record["command"] in page
    assert "mmerbench run --methods br --seeds 0,1 --datasets synthetic" in page
    assert "estimator" in page and "logreg" in page  # resolved hyperparameters
    assert records[0]["dataset_fingerprint"] in page and "peak memory (MB)" in page
    assert (built_site.path / "synthetic" / "figures" / "modality-combinations.png").stat().st_size > 10_000


def decode(path: Path) -> dict:
    call, payload = re.fullmatch(r"mmerbenchSamples\.(\w+)\((.*)\);\n", path.read_text(), re.S).groups()
    return json.loads(payload)


def test_sample_viewer_data_are_the_stored_predictions(built_site, site_stores):
    real, _ = site_stores
    folder = built_site.path / "synthetic" / "samples"
    index = decode(folder / "index.js")
    assert [row["label"] for row in index["rows"]] == ["br", "cc", "prior"] and index["n"] == 120
    chunk = decode(folder / "chunk-0.js")
    n, rows, q = chunk["stop"] - chunk["start"], len(index["rows"]), len(index["labels"])
    percent = np.frombuffer(base64.b64decode(chunk["percent"]), np.uint8).reshape(n, rows, q)
    votes = np.frombuffer(base64.b64decode(chunk["votes"]), np.uint8).reshape(n, rows, q)
    labels = np.frombuffer(base64.b64decode(chunk["labels"]), np.uint8).reshape(n, q)
    records = records_of(real)
    cc = build_rows(records, "synthetic")[1]
    by_key = {r["key"]: r for r in records}
    stored = [np.load(real / "predictions" / f"{key}.npz") for key in cc.keys]
    expected_percent = np.rint(np.mean([s["test_proba"] for s in stored], axis=0) * 100)
    expected_votes = sum((s["test_proba"] > by_key[k]["threshold"]).astype(int) for s, k in zip(stored, cc.keys))
    np.testing.assert_array_equal(percent[:, 1], expected_percent[:n])
    np.testing.assert_array_equal(votes[:, 1], expected_votes[:n])
    np.testing.assert_array_equal(labels, stored[0]["test_labels"][:n])


def test_store_strings_are_escaped(built_site):
    folder = built_site.path / "synthetic-unaligned"
    pages = [folder / "index.html", *sorted((folder / "rows").glob("*.html")), folder / "samples.html",
             built_site.path / "index.html"]
    assert any("&lt;script&gt;window.pwned=1&lt;/script&gt;" in p.read_text() for p in pages)
    for page in pages:  # never as markup: a raw tag would run in a reader's browser
        assert "<script>window.pwned" not in page.read_text() and "<img src=x" not in page.read_text(), page
    assert "test &lt;img src=x onerror=&#34;window.pwned=2&#34;&gt;" in (built_site.path / "index.html").read_text()
    data = decode(folder / "samples" / "index.js")  # the viewer inserts names with textContent
    assert SCRIPT_METHOD in [row["label"] for row in data["rows"]]


def test_sample_data_stay_small_for_5000_samples_and_20_rows(tmp_path):
    rng = np.random.default_rng(0)
    n, rows, q = 5000, 20, 6
    data = samples.SampleData([f"emotion{j}" for j in range(q)],
                              [{"label": f"method-{r} (cpu)", "seeds": [0, 1, 2, 3, 4], "page": f"m{r}.html"}
                               for r in range(rows)],
                              (rng.random((n, q)) < 0.3).astype(np.uint8),
                              rng.integers(0, 101, (n, rows, q), dtype=np.uint8),
                              rng.integers(0, 6, (n, rows, q), dtype=np.uint8))
    info = samples.write(data, tmp_path)
    biggest = max(p.stat().st_size for p in tmp_path.iterdir())
    assert info["bytes"] < 1.7e6, info  # the docstring's figure: about 1.6 MB in all
    assert biggest < 90_000, biggest  # what a reader downloads per sample looked at (one chunk)
    assert info["chunks"] == 20


def test_refusals_name_the_problem(site_stores, tmp_path, capsys):
    real, fake = site_stores
    (tmp_path / "file").write_text("x")
    assert main(["site", "--results", str(real), "--out", str(tmp_path / "file")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    assert main(["site", "--results", str(real), "--out", str(tmp_path / "mine")]) == 2
    assert "other files in it" in capsys.readouterr().err and (tmp_path / "mine" / "notes.txt").exists()
    assert main(["site", "--results", str(real), "--results", str(real), "--out", str(tmp_path / "s")]) == 2
    assert "has finished jobs in both" in capsys.readouterr().err
    ResultStore(tmp_path / "empty").close()
    assert main(["site", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "s")]) == 2
    assert "no finished jobs" in capsys.readouterr().err
    assert main(["site", "--results", str(tmp_path / "absent"), "--out", str(tmp_path / "s")]) != 0
    assert "no results store" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_command_writes_and_rewrites_a_site(site_stores, tmp_path, capsys):
    _, fake = site_stores
    out = tmp_path / "site"
    for _ in range(2):  # the second run replaces the first (it carries the marker)
        assert main(["site", "--results", str(fake), "--out", str(out), "--title", "Fabricated"]) == 0
        assert "wrote" in capsys.readouterr().out
    assert (out / builder.MARKER).exists() and "Fabricated" in (out / "index.html").read_text()
    assert not list(tmp_path.glob(".site.tmp-*"))  # no temporary folder left behind


def test_templates_and_static_files_are_package_data():
    root = Path(__file__).resolve().parents[4]
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["mmerbench"]
    package = root / "mmerbench"
    covered = {p for pattern in globs for p in package.glob(pattern)}
    site = package / "reporting" / "site"
    for path in [*site.glob("templates/*"), *site.glob("static/*")]:
        assert path in covered, f"{path} would be missing from an installed copy"
    assert set(builder.STATIC_FILES) == {p.name for p in site.glob("static/*")}
