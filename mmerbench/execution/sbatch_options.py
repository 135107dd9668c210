"""The Slurm settings universities ask for (account, QOS, memory, constraint, GPU type, any other sbatch
option), checked and turned into submitit's SlurmExecutor parameters.

Checked here, before anything is submitted, so that a typo is refused on the login node with the value
named instead of by ``sbatch`` after the run has planned and written its submission folder.
"""

from __future__ import annotations

import re

from mmerbench.config import RunConfig
from mmerbench.errors import UsageError

# sbatch options mmerbench (through submitit) writes itself: passing one through would contradict the array
# the driver follows (its logs, its indices) or a dedicated option.
OWNED = {
    "array": "the array is the run's jobs", "output": "the logs live under <results>/slurm/",
    "error": "the logs live under <results>/slurm/", "open_mode": "submitit appends to its logs",
    "job_name": "the array is named mmerbench", "wrap": "the script is submitit's",
    "partition": "use --slurm-partition", "time": "use --slurm-time", "account": "use --slurm-account",
    "qos": "use --slurm-qos", "mem": "use --slurm-mem", "constraint": "use --slurm-constraint",
    "gres": "use --slurm-gpu-type with --gpus-per-job", "cpus_per_task": "use --cpus-per-job",
    "gpus_per_node": "use --gpus-per-job", "setup": "use --slurm-setup",
}
MEMORY = re.compile(r"^[0-9]+[KMGT]?$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
OPTION_KEY = re.compile(r"^[a-z][a-z0-9-]*$")


def pass_through(texts: list[str]) -> dict[str, str | bool]:
    """``["mail-type=END", "--exclusive"]`` -> ``{"mail_type": "END", "exclusive": True}`` (submitit's spelling:
    it writes ``mail_type`` back as ``--mail-type``); raises UsageError naming the option that is not valid."""
    parameters: dict[str, str | bool] = {}
    for text in texts:
        key, equals, value = str(text).partition("=")
        key = key.strip().lstrip("-").lower()
        if not OPTION_KEY.match(key.replace("_", "-")):
            raise UsageError(f"--slurm-option {text!r}: {key!r} is not an sbatch option name; give KEY=VALUE "
                             "(e.g. mail-type=END) or KEY alone for a flag (e.g. exclusive)")
        name = key.replace("-", "_")
        if name in OWNED:
            raise UsageError(f"--slurm-option {text!r}: mmerbench sets --{key} itself ({OWNED[name]})")
        if equals and not value.strip():
            raise UsageError(f"--slurm-option {text!r}: no value after '='; give KEY=VALUE or KEY alone for a flag")
        if name in parameters:
            raise UsageError(f"--slurm-option {text!r}: --{key} is given twice")
        parameters[name] = value.strip() if equals else True
    return parameters


def check_slurm_options(options: RunConfig) -> None:
    """Every refusal of the Slurm settings (exit code 2, nothing written)."""
    for flag, value in (("--slurm-account", options.slurm_account), ("--slurm-qos", options.slurm_qos),
                        ("--slurm-gpu-type", options.slurm_gpu_type)):
        if value is not None and not NAME.match(value):
            raise UsageError(f"{flag} {value!r} is not a Slurm name: use letters, digits, '_', '.' or '-' "
                             "(e.g. a100)")
    if options.slurm_mem is not None and not MEMORY.match(options.slurm_mem.strip()):
        raise UsageError(f"--slurm-mem {options.slurm_mem!r} is not a memory size: give a number with an optional "
                         "unit K, M, G or T, e.g. 16G or 8000M (as sbatch --mem takes it)")
    if options.slurm_constraint is not None and not options.slurm_constraint.strip():
        raise UsageError("--slurm-constraint is empty: give node features, e.g. a100 or 'a100|h100'")
    if options.slurm_gpu_type is not None and not options.gpus_per_job:
        raise UsageError(f"--slurm-gpu-type {options.slurm_gpu_type} asks for a GPU of that type, but "
                         "--gpus-per-job is 0: add --gpus-per-job 1")
    pass_through(options.slurm_options)


def slurm_parameters(options: RunConfig) -> dict:
    """submitit's SlurmExecutor parameters for the options of ``mmerbench run``."""
    parameters = {
        "time": int(options.slurm_time),
        "cpus_per_task": max(1, int(round(options.cpus_per_job))),
        "array_parallelism": int(options.slurm_array_parallelism),
        "job_name": "mmerbench",
    }
    if options.slurm_partition:
        parameters["partition"] = options.slurm_partition
    if options.gpus_per_job and options.slurm_gpu_type:
        parameters["gres"] = f"gpu:{options.slurm_gpu_type}:1"  # a typed GPU is asked for through --gres
    elif options.gpus_per_job:
        parameters["gpus_per_node"] = 1  # Slurm allocates whole GPUs; a job uses one
    for name in ("account", "qos", "constraint"):
        value = getattr(options, f"slurm_{name}")
        if value:
            parameters[name] = value
    if options.slurm_mem:
        parameters["mem"] = options.slurm_mem.strip()
    if options.slurm_setup:
        parameters["setup"] = list(options.slurm_setup)
    extra = pass_through(options.slurm_options)
    if extra:
        parameters["additional_parameters"] = extra
    return parameters
