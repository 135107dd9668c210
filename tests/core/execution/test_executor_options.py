"""--executor and its options: refusals before anything is written, the sbatch script, GPU assignment."""

from __future__ import annotations

import builtins
import socket

import pytest

from mmerbench.cli.main import main
from mmerbench.config import RunConfig
from mmerbench.execution.executor_options import job_device

BASE = ["run", "--methods", "prior", "--datasets", "tiny", "--device", "cpu"]


@pytest.fixture
def no_module(monkeypatch):
    """Make ``import NAME`` fail as when the package is not installed."""
    real_import = builtins.__import__

    def block(*names):
        def fake_import(name, *args, **kwargs):
            if name.split(".")[0] in names:
                raise ImportError(f"No module named {name!r}")
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", fake_import)

    return block


def refused(tmp_path, capsys, *options) -> str:
    code = main([*BASE, "--results", str(tmp_path / "out"), *options])
    assert code == 2
    assert not (tmp_path / "out").exists()  # nothing written
    return capsys.readouterr().err


def test_ray_without_ray_says_how_to_install(testing_plugin, tmp_path, capsys, no_module):
    no_module("ray")
    assert 'needs Ray, which is not installed: pip install "mmerbench[ray]"' in refused(
        tmp_path, capsys, "--executor", "ray")


def test_slurm_without_submitit_says_how_to_install(testing_plugin, tmp_path, capsys, no_module):
    no_module("submitit")
    assert 'pip install "mmerbench[slurm]"' in refused(tmp_path, capsys, "--executor", "slurm-local")


def test_an_unreachable_ray_address_is_refused_at_once(testing_plugin, tmp_path, capsys):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = refused(tmp_path, capsys, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}")
    assert f"--ray-address 127.0.0.1:{port}: nothing answers there" in error and "ray start --head" in error
    assert "is not valid: give auto or HOST:PORT" in refused(tmp_path, capsys, "--executor", "ray",
                                                             "--ray-address", "no-port-here")


def test_slurm_without_sbatch_names_slurm_local(testing_plugin, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch on it
    error = refused(tmp_path, capsys, "--executor", "slurm")
    assert "needs Slurm's `sbatch` on the PATH" in error and "--executor slurm-local" in error


def test_gpus_per_job_without_gpus_is_refused(testing_plugin, tmp_path, capsys, monkeypatch):
    import mmerbench.execution.runner

    monkeypatch.setattr(mmerbench.execution.runner, "cuda_device_count", lambda: 0)
    error = refused(tmp_path, capsys, "--gpus-per-job", "1")
    assert "--gpus-per-job 1 asks for GPUs, but this machine has none" in error
    assert "--gpus-per-job -1 must be 0 or more" in refused(tmp_path, capsys, "--gpus-per-job", "-1")
    assert "a job trains on one device, so give at most 1" in refused(tmp_path, capsys, "--executor", "slurm-local",
                                                                       "--gpus-per-job", "2")


def test_detach_with_the_local_pool_is_refused(testing_plugin, tmp_path, capsys):
    assert "--detach works with --executor slurm or slurm-local" in refused(tmp_path, capsys, "--detach")


def test_the_sbatch_script_asks_for_what_was_requested(tmp_path):
    from mmerbench.execution.slurm_pool import sbatch_script

    options = RunConfig(executor="slurm", slurm_partition="gpu-long", slurm_time=90, gpus_per_job=1,
                       cpus_per_job=4, slurm_array_parallelism=8, slurm_setup=["module load cuda/12.1"])
    script = sbatch_script(options, 12, tmp_path)
    for line in ("#SBATCH --partition=gpu-long", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --cpus-per-task=4", "#SBATCH --array=0-11%8", "module load cuda/12.1"):
        assert line in script, line


@pytest.mark.parametrize("settings, line", [
    ({"slurm_account": "proj-123"}, "#SBATCH --account=proj-123"),
    ({"slurm_qos": "high"}, "#SBATCH --qos=high"),
    ({"slurm_mem": "16G"}, "#SBATCH --mem=16G"),
    ({"slurm_constraint": "a100|h100"}, "#SBATCH --constraint='a100|h100'"),  # quoted by submitit; sbatch unquotes
    ({"slurm_gpu_type": "a100", "gpus_per_job": 1}, "#SBATCH --gres=gpu:a100:1"),
    ({"slurm_options": ["mail-type=END"]}, "#SBATCH --mail-type=END"),
    ({"slurm_options": ["--exclusive"]}, "#SBATCH --exclusive"),
    ({"slurm_options": ["reservation=exam_week"]}, "#SBATCH --reservation=exam_week"),
])
def test_the_sbatch_script_asks_for_each_university_setting(tmp_path, settings, line):
    from mmerbench.execution.slurm_pool import sbatch_script

    script = sbatch_script(RunConfig(executor="slurm", **settings), 3, tmp_path)
    assert line in script.splitlines()


def test_a_typed_gpu_is_asked_for_once(tmp_path):
    from mmerbench.execution.slurm_pool import sbatch_script

    script = sbatch_script(RunConfig(executor="slurm", gpus_per_job=1, slurm_gpu_type="a100"), 3, tmp_path)
    assert "--gpus-per-node" not in script  # --gres=gpu:a100:1 alone, not two GPU requests


def test_the_university_settings_come_from_the_command_line_and_a_config_file(tmp_path):
    from mmerbench.cli.main import build_parser

    config = tmp_path / "run.toml"
    config.write_text('methods = ["prior"]\nslurm_account = "proj"\nslurm_qos = "normal"\n'
                      'slurm_option = ["mail-type=END"]\n')
    chosen = RunConfig.from_args(build_parser().parse_args([
        "run", "--config", str(config), "--slurm-qos", "high", "--slurm-mem", "8G", "--slurm-constraint", "v100",
        "--slurm-gpu-type", "v100", "--slurm-option", "exclusive", "--slurm-option", "mail-user=a@b.c"]))
    assert (chosen.slurm_account, chosen.slurm_qos, chosen.slurm_mem) == ("proj", "high", "8G")
    assert (chosen.slurm_constraint, chosen.slurm_gpu_type) == ("v100", "v100")
    assert chosen.slurm_options == ["exclusive", "mail-user=a@b.c"]  # the command line replaces the file's list


@pytest.mark.parametrize("options, message", [
    (["--slurm-mem", "lots"], "--slurm-mem 'lots' is not a memory size"),
    (["--slurm-account", "my account"], "--slurm-account 'my account' is not a Slurm name"),
    (["--slurm-gpu-type", "a100"], "--slurm-gpu-type a100 asks for a GPU of that type, but --gpus-per-job is 0"),
    (["--slurm-option", "array=0-3"], "mmerbench sets --array itself"),
    (["--slurm-option", "qos=high"], "use --slurm-qos"),
    (["--slurm-option", "mail-type="], "no value after '='"),
    (["--slurm-option", "=END"], "is not an sbatch option name"),
])
def test_bad_slurm_settings_are_refused_before_anything_is_written(testing_plugin, tmp_path, capsys, options,
                                                                   message):
    assert message in refused(tmp_path, capsys, "--executor", "slurm-local", *options)


@pytest.mark.parametrize("device, count, share, expected", [
    ("auto", 2, 0.0, ["cuda:0", "cuda:1", "cuda:0", "cuda:1"]),    # one GPU per job in turn
    ("auto", 2, 0.5, ["cuda:0", "cuda:0", "cuda:1", "cuda:1"]),    # two jobs share each GPU
    ("auto", 0, 0.0, ["auto"] * 4),                                # no GPU: the worker picks the CPU
    ("cuda:1", 4, 0.0, ["cuda:1"] * 4),                            # --device cuda:k pins
])
def test_jobs_are_spread_over_the_visible_gpus(device, count, share, expected):
    assert [job_device(device, i, count, share) for i in range(4)] == expected


def test_cuda_visible_devices_decides_the_count(monkeypatch):
    # torch counts only the visible devices; with none visible, no GPU is assigned.
    import subprocess
    import sys

    code = "import mmerbench.execution.runner as r; print(r.cuda_device_count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**__import__('os').environ, "CUDA_VISIBLE_DEVICES": ""}, timeout=120)
    assert out.stdout.strip() == "0"


def test_a_worker_writes_its_files_but_never_the_database(testing_plugin, tmp_path):
    from mmerbench.execution.job_files import published_record, run_and_publish
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.runner import plan

    (job,), _ = plan(["prior"], ["tiny"], [0], device="cpu")
    record = run_and_publish(JobOrder(job.to_dict(), str(tmp_path), 1, "cpu", save_models=False))
    assert record["status"] == "ok"
    assert (tmp_path / "predictions" / f"{job.key}.npz").is_file()
    assert published_record(tmp_path, job.key)["metrics"] == record["metrics"]  # JSON for the driver
    assert not (tmp_path / "results.sqlite").exists()  # only the driver opens SQLite


def test_a_rerun_driver_picks_up_a_job_that_finished_while_it_was_down(testing_plugin, tmp_path):
    import mmerbench
    from mmerbench.execution.job_files import run_and_publish
    from mmerbench.execution.job_order import JobOrder
    from mmerbench.execution.runner import plan
    from mmerbench.store.results import ResultStore

    (job,), _ = plan(["prior"], ["tiny"], [0], device="cpu")
    run_and_publish(JobOrder(job.to_dict(), str(tmp_path), 1, "cpu", save_models=False))  # a worker finished; no driver stored it
    outcome = mmerbench.run(["prior"], ["tiny"], [0], results=tmp_path, device="cpu",
                            executor="slurm-local")
    assert [j.key for j in outcome.skipped] == [job.key] and not outcome.records  # not run twice
    with ResultStore(tmp_path, create=False, read_only=True) as store:
        assert store.get(job.key)["status"] == "ok"


def test_the_executor_settings_can_come_from_a_config_file(tmp_path):
    from mmerbench.cli.main import build_parser
    from mmerbench.errors import UsageError

    config = tmp_path / "run.toml"
    config.write_text('methods = ["prior"]\nexecutor = "slurm"\nslurm_partition = "gpu"\nslurm_time = 30\n'
                      'gpus_per_job = 1\nslurm_setup = ["module load cuda"]\ntimeout_per_job = 600\n')
    chosen = RunConfig.from_args(build_parser().parse_args(["run", "--config", str(config), "--slurm-time", "45"]))
    assert (chosen.executor, chosen.slurm_partition, chosen.slurm_time, chosen.gpus_per_job) == ("slurm", "gpu", 45, 1.0)
    assert chosen.slurm_setup == ["module load cuda"] and chosen.timeout_per_job == 600
    config.write_text('methods = ["prior"]\nslurm_time = "an hour"\n')
    with pytest.raises(UsageError, match="slurm_time = 'an hour' is a str; slurm_time must be an integer"):
        RunConfig.from_args(build_parser().parse_args(["run", "--config", str(config)]))
