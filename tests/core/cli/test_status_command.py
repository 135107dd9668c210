"""`mmerbench status`: a header, and what each job is (method, dataset, seed) before where it stands."""

from __future__ import annotations

from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore


def test_status_shows_a_header_and_method_dataset_seed_per_job(tmp_path, capsys):
    with ResultStore(tmp_path) as store:
        store.put({"key": "abcdef1234567890abcd", "method": "lddu", "dataset": "synthetic", "seed": 3, "status": "ok", "method_version": "1", "dataset_fingerprint": "f",
                   "metrics": {"test": {}}})
    assert main(["status", "--results", str(tmp_path)]) == 0
    header, line, summary = capsys.readouterr().out.splitlines()
    assert header.split() == ["KEY", "METHOD", "DATASET", "SEED", "STATE", "JOB", "ID", "LOG"]
    assert line.split()[:5] == ["abcdef123456", "lddu", "synthetic", "3", "done"]
    assert summary == "1 done"
