"""Progress that tells time: epoch seconds and the job's estimate, the run's elapsed time and estimate,
and a line when each job starts."""

from __future__ import annotations

import io

import pytest

import mmerbench
from mmerbench import progress
from mmerbench.cli.display import PlainProgress
from mmerbench.cli.eta import RunClock, format_duration, job_remaining


class FakeTime:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_durations_and_estimates():
    assert format_duration(4.24) == "4.2 s" and format_duration(65) == "1:05" and format_duration(7389) == "2:03:09"
    assert job_remaining([2.0, 4.0], epoch=2, epochs=5) == pytest.approx(9.0)  # 3 epochs at the mean 3 s
    clock = FakeTime()
    run = RunClock(now=clock)
    assert run.remaining(0, 4) is None  # no estimate before a job has finished
    clock.now += 30
    assert run.remaining(1, 4) == pytest.approx(90.0)
    assert run.describe(1, 4) == "elapsed 30.0 s, run ~1:30 left" and run.describe(4, 4) == "elapsed 30.0 s"


def _record(method, seed):
    return {"method": method, "dataset": "tiny", "seed": seed, "preset": None, "status": "ok", "fit_seconds": 1.0,
            "metrics": {"test": {"mif1": 0.5, "acc": 0.4}}}


def test_plain_lines_tell_time():
    stream = io.StringIO()
    display = PlainProgress(stream)
    clock = FakeTime()
    display.timing.now = clock
    display({"kind": "plan", "planned": 2, "todo": 2, "skipped": 0, "notes": [], "slots": 1, "stored_seconds": {},
             "jobs": [{"method": "lddu", "preset": None, "dataset": "tiny", "seed": 0},
                      {"method": "br", "preset": None, "dataset": "tiny", "seed": 0}]})
    job = "lddu on tiny seed 0"
    display({"kind": "progress", "what": "start", "job": job})
    for epoch, seconds in ((1, 2.0), (2, 4.0)):
        display({"kind": "progress", "what": "epoch", "job": job, "epoch": epoch, "epochs": 5, "train_loss": 0.5,
                 "valid_mif1": 0.25, "seconds": seconds})
    clock.now += 12
    display({"kind": "job-end", "record": _record("lddu", 0), "done": 1, "total": 2})
    clock.now += 12
    display({"kind": "job-end", "record": _record("br", 0), "done": 2, "total": 2})
    lines = stream.getvalue().splitlines()
    assert lines[1] == "  started: lddu on tiny seed 0"
    assert lines[2] == "  lddu on tiny seed 0: epoch 1/5, loss 0.5000, valid miF1@0.5 0.250, 2.0 s, job ~8.0 s left"
    assert lines[3] == "  lddu on tiny seed 0: epoch 2/5, loss 0.5000, valid miF1@0.5 0.250, 4.0 s, job ~9.0 s left"
    assert lines[4].startswith("[1/2] lddu on tiny seed 0: test miF1 0.500")
    # br has neither a finished job in this run nor a stored timing: it is not guessed from lddu's 12 s
    assert lines[4].endswith("| elapsed 12.0 s, run: nothing to estimate from yet (br)")
    assert lines[5].endswith("| elapsed 24.0 s")


def _job(method, seed, preset=None, dataset="tiny"):
    return {"method": method, "preset": preset, "dataset": dataset, "seed": seed}


def test_the_run_estimate_is_kept_per_method_and_preset():
    from mmerbench.cli.eta import RunEstimate

    clock = FakeTime()
    jobs = [_job("lddu", 0, "paper"), _job("br", 0), _job("br", 1), _job("cc", 0)]
    estimate = RunEstimate(jobs, {"br|tiny": 4.0, "lddu|tiny": 999.0}, slots=1, now=clock)
    # br from the store; lddu (paper) is another preset than the stored lddu, cc has nothing
    assert estimate.describe() == "run ~8.0 s left + lddu (paper), cc: no timing yet"
    estimate.job_started(jobs[0])
    clock.now += 600
    estimate.job_ended({**jobs[0], "status": "ok"})
    estimate.job_started(jobs[1])
    clock.now += 2
    # br's stored 4 s, less the 2 s the running one has spent, plus the other br: not 600 s per job
    assert estimate.remaining() == (pytest.approx(6.0), ["cc"])
    estimate.job_ended({**jobs[1], "status": "ok"})
    assert estimate.remaining()[0] == pytest.approx(2.0)  # this run's br took 2 s: it wins over the store


def test_slots_share_the_work_and_failures_teach_nothing():
    from mmerbench.cli.eta import RunEstimate

    clock = FakeTime()
    jobs = [_job("br", seed) for seed in range(5)]
    estimate = RunEstimate(jobs, {}, slots=2, now=clock)
    assert estimate.describe() == "run: nothing to estimate from yet (br)"
    estimate.job_started(jobs[0])
    clock.now += 1
    estimate.job_ended({**jobs[0], "status": "failed"})
    assert estimate.describe() == "run: nothing to estimate from yet (br)"
    estimate.job_started(jobs[1])
    clock.now += 10
    estimate.job_ended({**jobs[1], "status": "ok"})
    assert estimate.describe() == "run ~15.0 s left"  # 3 jobs x 10 s over 2 slots


@pytest.mark.usefixtures("testing_plugin")
def test_a_rerun_estimates_from_the_stored_timings(tmp_path):
    from mmerbench.execution.job_timings import stored_seconds
    from mmerbench.execution.runner import plan
    from mmerbench.store.results import ResultStore

    mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path)
    events = []
    mmerbench.run(["prior"], ["tiny"], [1], results=tmp_path, on_event=events.append)
    (planned,) = [e for e in events if e["kind"] == "plan"]
    assert list(planned["stored_seconds"]) == ["prior|tiny"] and planned["stored_seconds"]["prior|tiny"] > 0
    assert planned["jobs"] == [{"method": "prior", "preset": None, "dataset": "tiny", "seed": 1}]
    jobs, _ = plan(["br"], ["tiny"], [0])
    with ResultStore(tmp_path, create=False, read_only=True) as store:
        assert stored_seconds(store, jobs) == {}  # another method's timings are not used


def test_the_training_loop_reports_each_epoch_with_its_seconds(tiny_dataset):
    events = []
    progress.set_listener(events.append)
    try:
        params = {**mmerbench.api.method_class("ml-gcn").test_params, "epochs": 2, "device": "cpu"}
        method = mmerbench.make_method("ml-gcn", **params)
        method.fit(tiny_dataset.train, tiny_dataset.valid)
    finally:
        progress.set_listener(None)
    epochs = [e for e in events if e.get("kind") == "epoch"]
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["seconds"] > 0 for e in epochs)


@pytest.mark.usefixtures("testing_plugin")
def test_a_classical_job_shows_a_line_when_it_starts(tmp_path):
    stream = io.StringIO()
    mmerbench.run(["prior", "br"], ["tiny"], [0], results=tmp_path / "r", on_event=PlainProgress(stream))
    lines = stream.getvalue().splitlines()
    for label in ("prior on tiny seed 0", "br on tiny seed 0"):
        started = lines.index(f"  started: {label}")
        ended = next(i for i, line in enumerate(lines) if line.startswith("[") and f"] {label}:" in line)
        assert started < ended


def test_the_live_display_takes_the_same_events(capsys):
    from mmerbench.cli.display import LiveProgress

    with LiveProgress() as display:
        display({"kind": "plan", "planned": 1, "todo": 1, "skipped": 0, "notes": []})
        display({"kind": "progress", "what": "start", "job": "lddu on tiny seed 0"})
        display({"kind": "progress", "what": "epoch", "job": "lddu on tiny seed 0", "epoch": 1, "epochs": 3,
                 "valid_mif1": 0.2, "seconds": 1.5})
        assert "epoch 1/3, valid miF1@0.5 0.200, 1.5 s, job ~3.0 s left" in display.progress.tasks[-1].description
        display({"kind": "job-end", "record": _record("lddu", 0), "done": 1, "total": 1})
    out = capsys.readouterr().out
    assert "started: lddu on tiny seed 0" in out and "[1/1] lddu on tiny seed 0" in out and "elapsed" in out
