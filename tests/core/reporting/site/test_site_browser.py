"""The generated site in a real browser (headless Chromium over the DevTools protocol; see headless_chromium.py).

Checked through the browser, as a reader meets the site: the index lists every dataset, clicking a column
header sorts the rows, the metric-group switch swaps the columns, a row's page shows its reproduce command,
the sample viewer shows a sample's true labels, store strings stay text, and no JavaScript error is logged.
A screenshot of the index is kept (its path is printed).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import SCRIPT_METHOD
from headless_chromium import Chromium, find_chromium
from mmerbench.reporting.leaderboard import build_rows
from mmerbench.reporting.reproduce import reproduce_command
from mmerbench.store import ResultStore

CHROMIUM = find_chromium()
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary (chromium, chromium-browser, google-chrome) on "
                       "PATH: install Debian's `chromium` package (.ci/run does) to run the browser tests"),
]

ROWS = "Array.from(document.querySelectorAll('#leaderboard tbody tr'))"


@pytest.fixture(scope="module")
def browser():
    with Chromium(CHROMIUM) as chromium:
        yield chromium


@pytest.fixture
def page(browser):
    """The browser, with a check after each test that no page logged a JavaScript error."""
    browser.errors.clear()
    yield browser
    assert browser.errors == [], f"JavaScript errors: {browser.errors}"


def records_of(results) -> list[dict]:
    with ResultStore(results, create=False, read_only=True) as store:
        return store.records()


def test_index_lists_every_dataset_and_is_kept_as_a_screenshot(page, built_site, tmp_path_factory):
    page.open(built_site.path / "index.html")
    listed = page.evaluate("Array.from(document.querySelectorAll('a.dataset-link')).map(a => a.textContent)")
    assert listed == built_site.datasets == ["synthetic", "synthetic-single", "synthetic-unaligned"]
    assert page.evaluate("document.querySelector('img[src=\"figures/critical-difference.png\"]').naturalWidth") > 0
    shot = page.screenshot(tmp_path_factory.mktemp("artefacts") / "site-index.png")
    print(f"\nscreenshot of the site's index: {shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_clicking_a_header_sorts_the_rows(page, built_site, site_stores):
    real, _ = site_stores
    means = {row.label: row.mean("mif1") for row in build_rows(records_of(real), "synthetic")}
    page.open(built_site.path / "synthetic" / "index.html")
    labels = f"{ROWS}.map(r => r.querySelector('th a').textContent)"
    assert page.evaluate(labels) == sorted(means)  # the markdown's order: by label
    header = page.evaluate("Array.from(document.querySelectorAll('#leaderboard thead th'))"
                           ".findIndex(th => th.textContent.trim().startsWith('miF1'))")
    page.click(f"#leaderboard thead th:nth-child({header + 1}) button")
    assert page.evaluate(labels) == sorted(means, key=means.get)
    page.click(f"#leaderboard thead th:nth-child({header + 1}) button")
    assert page.evaluate(labels) == sorted(means, key=means.get, reverse=True)
    assert page.evaluate(f"document.querySelector('#leaderboard thead th:nth-child({header + 1})')"
                         ".getAttribute('aria-sort')") == "descending"


def test_the_group_switch_shows_one_metric_group(page, built_site):
    page.open(built_site.path / "synthetic" / "index.html")
    visible = ("Array.from(document.querySelectorAll('#leaderboard thead th'))"
               ".filter(th => th.offsetParent !== null).map(th => th.textContent.trim())")
    assert "Acc" in page.evaluate(visible) and "ECE ↓" not in page.evaluate(visible)
    page.click(".group-switch button[data-group='calibration']")
    shown = page.evaluate(visible)
    assert "ECE ↓" in shown and "Acc" not in shown and shown[:2] == ["method", "n"]
    page.click(".group-switch button[data-group='robustness']")
    assert "text present" in page.evaluate(visible)


def test_a_row_page_shows_its_reproduce_command(page, built_site, site_stores):
    real, _ = site_stores
    records = [r for r in records_of(real) if r["method"] == "cc"]
    page.open(built_site.path / "synthetic" / "index.html")
    page.click("#leaderboard tbody tr:nth-child(2) th a")  # cc: a real click on the link, then its page loads
    page.wait_for_js("location.pathname.endsWith('/rows/cc.html') && document.readyState === 'complete'")
    assert page.evaluate("document.getElementById('reproduce').textContent") == reproduce_command(records)
    seeds = page.evaluate("Array.from(document.querySelectorAll('#seeds tbody tr')).map(r => r.cells[0].textContent)")
    assert seeds == ["0", "1"]


def test_the_sample_viewer_shows_a_samples_labels(page, built_site, site_stores):
    real, _ = site_stores
    cc = build_rows(records_of(real), "synthetic")[1]
    with np.load(real / "predictions" / f"{cc.keys[0]}.npz") as arrays:
        labels = arrays["test_labels"]
    names = records_of(real)[0]["label_names"]
    page.open(built_site.path / "synthetic" / "samples.html")
    page.wait_for_js("!!document.getElementById('true-labels')")  # the most disputed sample comes first
    sample = next(i for i in range(len(labels)) if labels[i].sum() >= 2 and i >= 100)  # in the second data file
    page.evaluate("document.getElementById('sample-id').select()")
    page.click("#sample-id")
    page.evaluate("document.getElementById('sample-id').select()")
    page.type_text(str(sample))
    page.click("#sample-form button[type=submit]")
    page.wait_for_js(f"document.getElementById('sample-heading').textContent === 'Sample {sample}'")
    expected = ", ".join(name for name, present in zip(names, labels[sample]) if present)
    assert page.evaluate("document.getElementById('true-labels').textContent") == expected
    cells = page.evaluate("Array.from(document.querySelectorAll('.sample-table tbody tr')).map(r => r.cells.length)")
    assert cells == [1 + len(names)] * 3  # a row per configuration: its name and one cell per label


def test_store_strings_render_as_text(page, built_site):
    page.open(built_site.path / "synthetic-unaligned" / "index.html")
    assert page.evaluate("window.pwned === undefined")
    labels = page.evaluate(f"{ROWS}.map(r => r.querySelector('th a').textContent)")
    assert SCRIPT_METHOD in labels
    assert page.evaluate("document.title").startswith("synthetic-unaligned · test <img")
    page.open(built_site.path / "synthetic-unaligned" / "samples.html")
    page.wait_for_js("!!document.getElementById('true-labels')")
    assert page.evaluate("window.pwned === undefined")
    assert SCRIPT_METHOD in page.evaluate("Array.from(document.querySelectorAll('.sample-table tbody th'))"
                                          ".map(th => th.textContent)")


def test_every_page_loads_without_errors_or_missing_files(page, built_site):
    for html in sorted(built_site.path.rglob("*.html")):
        page.open(html)
        if html.name == "samples.html":
            page.wait_for_js("!!document.getElementById('true-labels')")
        broken = page.evaluate("Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0)"
                               ".map(i => i.src)")
        assert broken == [], (html, broken)
        assert json.loads(page.evaluate("JSON.stringify(Array.from(document.querySelectorAll('link,script'))"
                                        ".map(e => e.href || e.src).filter(u => u && !u.startsWith('file:')))")) == []
