"""Published pages (leaderboard --publish, the report, the site) show only jobs the installed methods can
re-create: a row of an older method version is left out and named, an unpublished table keeps it."""

from __future__ import annotations

from mmerbench.reporting.current_versions import current_records, installed_versions
from mmerbench.reporting.leaderboard import leaderboard_markdown, publish


def record(method, version, seed, mif1):
    return {"key": f"{method}{version}{seed}", "method": method, "method_version": version, "dataset": "d",
            "dataset_fingerprint": "fp", "seed": seed, "status": "ok", "preset": None, "overrides": {},
            "threshold_policy": "valid", "threshold": 0.5, "threads": 1, "metrics": {"test": {"mif1": mif1}},
            "command": f"mmerbench run --methods {method} --datasets d --seeds {seed} --threshold valid "
                       "--device cpu --threads 1"}


def test_only_the_installed_version_is_published_and_the_older_one_is_named(tmp_path):
    current = installed_versions()["br"]
    old = str(int(current) + 7)  # a version the installed br is not
    records = [record("br", current, 0, 0.61), record("br", old, 0, 0.99), record("br", old, 1, 0.98),
               record("outside-plugin", "5", 0, 0.5)]
    kept, notes = current_records(records, "d")
    assert [r["key"] for r in kept] == [f"br{current}0", "outside-plugin50"]  # an unknown method is kept
    assert notes == [f"Left out: br v{old} (2 jobs), which the installed br (v{current}) cannot re-create"]
    page = publish(records, "d", tmp_path).read_text()
    assert "0.985" not in page and "0.610" in page and f"Left out: br v{old} (2 jobs)" in page
    assert "0.99" not in (tmp_path / "d-seeds.csv").read_text()
    unpublished = leaderboard_markdown(records, "d")  # a table of the folder as it is keeps both, labelled
    assert f"br v{old}" in unpublished and "0.985" in unpublished
