"""Bad run-side inputs: a clear message, a non-zero exit code, and nothing written (issue 8).

One table: each row builds its input in a temporary folder and gives the
command line, the expected exit code and a phrase the message must contain.
Every row also checks that the folder (with any results store in it) is
byte-for-byte unchanged afterwards.
"""

from __future__ import annotations

import shutil

import pytest

from mmerbench.cli.main import main
from mmerbench.store.results import ResultStore

pytestmark = pytest.mark.usefixtures("testing_plugin")


@pytest.fixture(scope="module")
def finished_store(tmp_path_factory):
    """A store with one finished job (prior on tiny), made in this process (no spawn)."""
    import os

    from mmerbench.plugins import reset_registry
    from mmerbench.execution.runner import plan
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.worker import run_job

    os.environ["MMERBENCH_PLUGINS"] = "mmerbench_test_plugins.plugin"
    reset_registry()
    results = tmp_path_factory.mktemp("store")
    job = plan(["prior"], ["tiny"], [0])[0][0]
    with ResultStore(results) as store:
        store.put(run_job(JobOrder(job.to_dict(), str(results), 1, "cpu")))
    return results


def _config(text):
    """A run.toml with sound methods, datasets and results, and ``text`` (a line that overrides one of them)."""
    def build(tmp):
        settings = {"methods": '["prior"]', "datasets": '["tiny"]', "results": f'"{tmp / "out"}"'}
        key, _, value = text.partition(" = ")
        settings[key] = value
        (tmp / "run.toml").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
        return ["run", "--config", str(tmp / "run.toml")]
    return build


def _run(*extra):
    return lambda tmp: ["run", "--methods", "prior", "--datasets", "tiny", "--results", str(tmp / "out"), *extra]


def _with_store(*args):
    def build(tmp):
        return [arg.replace("{store}", str(tmp / "store")).replace("{tmp}", str(tmp)) for arg in args]
    return build


def _leaderboard_to_a_file(tmp, under=False):
    (tmp / "board.md").write_text("a regular file\n")
    target = tmp / "board.md" / "sub" if under else tmp / "board.md"
    return ["leaderboard", "--results", str(tmp / "store"), "--publish", "--output-dir", str(target)]


CASES = [
    # (id, input, exit code, phrase in the message)
    ("toml-seeds-string", _config('seeds = "a,b"'), 2, "seeds = 'a,b' is a str; seeds must be a list of integers"),
    ("toml-jobs-string", _config('jobs = "x"'), 2, "jobs = 'x' is a str; jobs must be an integer of at least 1"),
    ("toml-methods-int", _config("methods = 5"), 2, "methods = 5 is a int; methods must be a list of names"),
    ("toml-resume-string", _config('resume = "no"'), 2, "resume = 'no' is a str; resume must be true or false"),
    ("toml-set-not-table", _config('set = "prior.smoothing=1"'), 2, "set must be a table"),
    # one string where a list is expected was split into characters ('m', 'i', ...) before the one configuration
    ("toml-protocols-string", _config('protocols = "missing"'), 2,
     "protocols = 'missing' is a str; protocols must be a list of strings"),
    ("toml-slurm-setup-string", _config('slurm_setup = "module load cuda"'), 2,
     "slurm_setup = 'module load cuda' is a str; slurm_setup must be a list of shell lines"),
    ("toml-seed-out-of-range", _config("seeds = [4294967296]"), 2, "seed 4294967296 is not valid"),
    ("results-empty", _run("--results", ""), 2, "--results is empty"),
    ("results-command-empty", lambda tmp: ["results", "--results", ""], 2, "--results is empty"),
    ("seed-negative", _run("--seeds", "-1"), 2, "seed -1 is not valid: seeds are integers from 0 to 4294967295"),
    ("seed-2-to-the-32", _run("--seeds", "0,4294967296"), 2, "seed 4294967296 is not valid"),
    ("device-unknown", _run("--device", "tpu"), 2, "--device 'tpu' is not valid: use auto"),
    ("device-absent-gpu", _run("--device", "cuda:7"), 2, "--device 'cuda:7': this machine has"),
    ("jobs-zero", _run("--jobs", "0"), 2, "--jobs must be at least 1, got 0"),
    ("empty-test-split", _run("--set", "tiny.n_test=0"), 1, "dataset tiny has an empty test split"),
    ("leaderboard-unknown-metric", _with_store("leaderboard", "--results", "{store}", "--metrics", "mif2,acc"), 2,
     "unknown metric 'mif2'. Did you mean: mif1?"),
    ("leaderboard-unknown-dataset", _with_store("leaderboard", "--results", "{store}", "--dataset", "tinyy"), 2,
     "--dataset 'tinyy': no finished job of that dataset"),
    ("publish-output-dir-is-a-file", _leaderboard_to_a_file, 2, "board.md is a regular file, not a directory"),
    ("publish-output-dir-under-a-file", lambda tmp: _leaderboard_to_a_file(tmp, under=True), 2,
     "which is a regular file, not a directory"),
    ("store-became-read-only", _with_store("run", "--methods", "prior", "--datasets", "tiny", "--seeds", "1",
                                           "--results", "{store}"), 1,
     "attempt to write a readonly database (the file system or the file is read-only"),
]


def _snapshot(folder) -> dict:
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()} | {
            str(p.relative_to(folder)): "dir" for p in folder.rglob("*") if p.is_dir()}


@pytest.mark.parametrize("build, code, phrase", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_bad_run_input_is_a_clear_error_and_writes_nothing(build, code, phrase, tmp_path, finished_store,
                                                           monkeypatch, capsys):
    shutil.copytree(finished_store, tmp_path / "store")
    # The store's file system "became read-only": the write probe fails as SQLite would report it.
    monkeypatch.setenv("MMERBENCH_TEST_STORE_FAULT", "probe:EROFS")
    argv = build(tmp_path)
    before = _snapshot(tmp_path)
    assert main(argv) == code
    message = capsys.readouterr().err
    assert message.startswith("mmerbench: error: ") and phrase in message, message
    assert "Traceback" not in message
    assert _snapshot(tmp_path) == before
