"""A published site shows only jobs of the installed method versions: a colleague's store that still holds
an older version's jobs gets no row, table line, figure or page for them, and the leaderboard says so."""

from __future__ import annotations

import numpy as np

from mmerbench.reporting.site.builder import build_site
from mmerbench.store import ResultStore
from mmerbench.testing.result_records import fake_job, make_fake_store


def test_an_older_method_version_is_left_out_of_every_page_and_named(tmp_path):
    results = tmp_path / "results"
    records = make_fake_store(results, {"prior": 0.2, "br": 1.0}, seeds=(0, 1), n_test=60)
    with np.load(results / "predictions" / f"{records[0]['key']}.npz") as arrays:
        labels = arrays["test_labels"]
    old, arrays = fake_job("br", "synthetic", 0, labels, 1.5, label_names=records[0]["label_names"])
    old["method_version"], old["key"] = "0", "01d0000000000000000b"
    with ResultStore(results) as store:
        store.save_predictions(old["key"], arrays)
        store.put(old)
    build_site([results], tmp_path / "site")
    pages = {path: path.read_text() for path in (tmp_path / "site").rglob("*.html")}
    shown = {path: text.replace("Left out: br v0", "") for path, text in pages.items()}  # the note names it
    assert not [str(path) for path, text in shown.items() if "br v0" in text or "br v1" in text]
    index = (tmp_path / "site" / "synthetic" / "index.html").read_text()
    assert "Left out: br v0 (1 job)" in index
