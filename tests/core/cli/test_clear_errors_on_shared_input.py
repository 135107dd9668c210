"""Issue 20, "Clear errors instead of tracebacks": each input ends in a message and the right exit code.

On main each row ended in a traceback (MemoryError, RecursionError, ValueError, KeyError, ...) or in a
wrong exit code; the duplicate job ran four times and the non-finite values were accepted.
"""

from __future__ import annotations

import errno
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import mmerbench
from mmerbench.cli.main import main

sys.path.insert(0, str(Path(__file__).parents[1] / "execution"))
from untrusted_results import make_record, publish, store_ok  # noqa: E402

pytestmark = pytest.mark.usefixtures("testing_plugin")


def _huge_jobs_file(tmp_path):
    results = tmp_path / "results"
    store_ok(results, make_record(seed=0))
    path = publish(results, make_record(seed=1)["key"], "{}")
    with open(path, "r+b") as handle:
        handle.truncate(3 * 1024 ** 3)  # sparse: 3 GiB that were never written
    return ["collect", "--results", str(results)]


def _deep_set(tmp_path):
    return ["run", "--methods", "prior", "--datasets", "tiny", "--dry-run", "--results", str(tmp_path / "r"),
            "--set", "prior.threshold=" + "[" * 100_000 + "]" * 100_000]


def _object_npz(tmp_path):
    results = tmp_path / "results"
    record = make_record(seed=0)
    store_ok(results, record)
    np.savez(results / "predictions" / f"{record['key']}.npz", test_proba=np.array([object()], dtype=object),
             test_labels=np.zeros((1, 2)))
    return ["report", "--results", str(results), "--out", str(tmp_path / "report")]


def _disk_full(command):
    def setup(tmp_path, monkeypatch):
        results = tmp_path / "results"
        store_ok(results, make_record(seed=0))
        real = Path.write_text

        def full(self, *args, **kwargs):
            if self.name.endswith(".tmp"):
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full)
        if command == "publish":
            return ["leaderboard", "--results", str(results), "--dataset", "tiny", "--publish", "--output-dir",
                    str(tmp_path / "out")]
        return ["report", "--results", str(results), "--out", str(tmp_path / "out")]
    return setup


def _ray_cannot_start(tmp_path, monkeypatch):
    ray = pytest.importorskip("ray")

    def refuse(*args, **kwargs):
        raise MemoryError("Ray's object store needs more memory than the limit allows")

    monkeypatch.setattr(ray, "init", refuse)
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    return ["run", "--methods", "prior", "--datasets", "tiny", "--executor", "ray", "--results",
            str(tmp_path / "r")]


def _protocol_without_models(tmp_path):
    results = tmp_path / "results"
    mmerbench.run(["prior"], ["tiny"], [0], results=results, save_models=False)
    return ["run", "--methods", "prior", "--datasets", "tiny", "--results", str(results), "--protocol", "missing"]


ROWS = [
    pytest.param(_huge_jobs_file, 1, r"refused: jobs/\w+\.json: cannot be read .*more than the", id="3-GiB-jobs-file"),
    pytest.param(_deep_set, 2, r"nested too deeply", id="set-nested-100000-deep"),
    pytest.param(_object_npz, 0, r"skipped|not a predictions file", id="report-on-npz-with-object-arrays"),
    pytest.param(_disk_full("publish"), 1, r"cannot write .*tiny\.md: No space left", id="disk-full-publish"),
    pytest.param(_disk_full("report"), 1, r"cannot write .*report\.md: No space left", id="disk-full-report"),
    pytest.param(_ray_cannot_start, 2, r"Ray could not start", id="ray-cannot-start-under-a-memory-limit"),
    pytest.param(_protocol_without_models, 1, r"no saved model|without a saved model|--no-save-models",
                 id="run-protocol-on-jobs-that-cannot-be-evaluated"),
    pytest.param(lambda tmp_path: ["run", "--methods", "prior", "--datasets", "tiny", "--dry-run", "--protocol",
                                   "noise:1e308"], 2, r"noise:1e308.*at most 1000", id="noise-1e308"),
    pytest.param(lambda tmp_path: ["run", "--methods", "lddu", "--datasets", "tiny", "--dry-run", "--set",
                                   "lddu.lr=NaN"], 2, r"not a finite number", id="set-lr-nan"),
    pytest.param(lambda tmp_path: ["run", "--methods", "lddu", "--datasets", "tiny", "--dry-run", "--set",
                                   "lddu.lr=1e999"], 2, r"not finite", id="set-lr-overflowing-to-infinity"),
]


@pytest.mark.parametrize("setup, code, message", ROWS)
def test_bad_shared_input_ends_in_a_clear_error(tmp_path, monkeypatch, capsys, setup, code, message):
    monkeypatch.chdir(tmp_path)
    argv = setup(tmp_path, monkeypatch) if "monkeypatch" in setup.__code__.co_varnames else setup(tmp_path)
    capsys.readouterr()
    try:
        ended = main(argv)
    except SystemExit as exc:  # argparse refuses an option value: usage message and exit 2
        ended = exc.code
    assert ended == code
    captured = capsys.readouterr()
    assert re.search(message, captured.out + captured.err), captured.out + captured.err
    assert "Traceback" not in captured.err
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"


def test_duplicate_methods_and_seeds_plan_each_job_once(tmp_path):
    outcome = mmerbench.run(["prior", "prior"], ["tiny", "tiny"], [0, 0], results=tmp_path / "r", dry_run=True)
    assert len(outcome.planned) == 1
