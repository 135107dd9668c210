"""--precision and --compile change a deep job's numbers, so they are keyed, but only when not the default."""

from __future__ import annotations

import pytest

import mmerbench
from mmerbench.cli.main import main
from mmerbench.plugins import reset_registry
from mmerbench.training import COMPILE_BACKEND


@pytest.fixture
def deep_plugin(monkeypatch):
    monkeypatch.setenv("MMERBENCH_PLUGINS", "mmerbench_test_plugins.plugin,mmerbench_test_plugins.slow_deep")
    monkeypatch.setenv(COMPILE_BACKEND, "eager")  # the workers inherit it: compile without generating kernels
    reset_registry()
    yield
    reset_registry()


def keys(**options) -> dict[str, str]:
    from mmerbench.execution.runner import plan

    jobs, _ = plan(["slow-deep", "prior"], ["tiny"], [0], device="cpu", **options)
    return {job.method: job for job in jobs}


def test_only_a_deep_method_off_the_defaults_gets_another_key(deep_plugin):
    default = keys()
    assert keys(precision="fp32", compile=False)["slow-deep"].key == default["slow-deep"].key
    bf16, compiled = keys(precision="bf16"), keys(compile=True)
    assert len({default["slow-deep"].key, bf16["slow-deep"].key, compiled["slow-deep"].key}) == 3
    assert bf16["slow-deep"].run_options == {"precision": "bf16"} and compiled["slow-deep"].run_options == {"compile": True}
    # the label prior has no torch loop: the options do not apply, its key stays
    assert bf16["prior"].key == compiled["prior"].key == default["prior"].key and bf16["prior"].run_options == {}


def test_the_reproduce_command_carries_the_options(deep_plugin):
    job = keys(precision="bf16", compile=True)["slow-deep"]
    assert "--precision bf16" in job.command and job.command.endswith("--compile")
    assert "--precision" not in keys()["slow-deep"].command


def test_an_unknown_precision_is_refused_before_anything_is_written(deep_plugin, tmp_path, capsys):
    code = main(["run", "--methods", "prior", "--datasets", "tiny", "--results", str(tmp_path / "out"),
                 "--precision", "fp16"])
    assert code == 2 and not (tmp_path / "out").exists()
    assert "--precision 'fp16' is not known; use one of fp32, bf16" in capsys.readouterr().err


@pytest.mark.executors
def test_a_job_runs_in_bf16_and_compiled_and_says_so(deep_plugin, tmp_path):
    outcome = mmerbench.run(["slow-deep"], ["tiny"], [0], results=tmp_path, device="cpu", precision="bf16",
                            compile=True, settings={"slow-deep.epochs": 2, "slow-deep.seconds_per_epoch": 0.0})
    (record,) = outcome.records
    assert record["status"] == "ok", record.get("error")
    assert record["run_options"] == {"precision": "bf16", "compile": True}
    assert (record["fit_info"]["precision"], record["fit_info"]["compiled"]) == ("bf16", True)
