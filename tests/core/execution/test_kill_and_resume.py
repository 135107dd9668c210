"""A real `mmerbench run` killed with SIGKILL mid-training resumes from its checkpoint, bit-identical."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mmerbench.execution.checkpoints import CHECKPOINTS_DIR, latest_epoch
from mmerbench.store.results import ResultStore

pytestmark = [pytest.mark.executors, pytest.mark.slow]

# LDDU's small test widths, so that an epoch takes a fraction of a second.
SMALL = {"hidden": 16, "layers": 1, "heads": 2, "feedforward": 16, "label_dim": 8, "attention_dim": 8, "emotion_dim": 8,
         "latent": 8, "queue_size": 64, "epochs": 4, "patience": 10, "batch_size": 16}
RUN = ["--methods", "lddu", "--datasets", "tiny", "--device", "cpu", "--set", "tiny.n_train=96", "--no-save-models",
       *[part for name, value in SMALL.items() for part in ("--set", f"lddu.{name}={value}")]]


def environment() -> dict:
    return {**os.environ, "MMERBENCH_PLUGINS": "mmerbench_test_plugins.plugin", "MMERBENCH_DISABLE_PLUGIN_AUTOLOAD": "1",
            "OMP_NUM_THREADS": "1"}


def mmerbench_run(results: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmerbench.cli.main", "run", *RUN, "--results", str(results), *extra],
                          capture_output=True, text=True, env=environment(), timeout=300)


def only_record(results: Path) -> dict:
    with ResultStore(results, create=False, read_only=True) as store:
        (record,) = store.records()
    return record


def kill_after_epoch(results: Path, epoch: int) -> int:
    """Start a run, SIGKILL its whole process group once ``epoch`` is checkpointed; the epoch it had reached."""
    process = subprocess.Popen([sys.executable, "-m", "mmerbench.cli.main", "run", *RUN, "--results", str(results)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment(),
                               start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline and process.poll() is None:
            found = [latest_epoch(d) for d in (results / CHECKPOINTS_DIR).glob("*")]
            if any(e is not None and e >= epoch for e in found):
                break
            time.sleep(0.01)
        assert process.poll() is None, "the run ended before it could be killed (make the job longer)"
        os.killpg(process.pid, signal.SIGKILL)  # driver and worker: no clean-up code runs
    finally:
        process.wait()
    (directory,) = (results / CHECKPOINTS_DIR).glob("*")
    return latest_epoch(directory)


def test_a_run_killed_mid_training_resumes_and_ends_bit_identical(tmp_path):
    reached = kill_after_epoch(tmp_path / "killed", epoch=2)
    assert 2 <= reached < 4
    resumed = mmerbench_run(tmp_path / "killed")
    assert resumed.returncode == 0, resumed.stderr
    assert f"resumed from epoch {reached}" in resumed.stdout
    record = only_record(tmp_path / "killed")
    assert record["fit_info"]["resumed_from_epoch"] == reached
    assert not (tmp_path / "killed" / CHECKPOINTS_DIR / record["key"]).exists()  # removed once the job ended

    uninterrupted = mmerbench_run(tmp_path / "straight", "--keep-checkpoints")
    assert uninterrupted.returncode == 0, uninterrupted.stderr
    reference = only_record(tmp_path / "straight")
    assert "resumed_from_epoch" not in reference["fit_info"]
    assert json.dumps(record["metrics"], sort_keys=True) == json.dumps(reference["metrics"], sort_keys=True)
    assert [r["train_loss"] for r in record["curve"]] == [r["train_loss"] for r in reference["curve"]]
    with ResultStore(tmp_path / "killed", create=False, read_only=True) as a, \
            ResultStore(tmp_path / "straight", create=False, read_only=True) as b:
        assert (a.load_predictions(record["key"])["test_proba"] == b.load_predictions(reference["key"])["test_proba"]).all()
    assert latest_epoch(tmp_path / "straight" / CHECKPOINTS_DIR / reference["key"]) == 4  # --keep-checkpoints
