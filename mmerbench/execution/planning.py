"""Planning: methods x datasets x seeds -> fully resolved, keyed jobs.

A job's key hashes everything that determines its result (README, "The
protocol"): method name and version, resolved hyperparameters, dataset name,
parameters and fingerprint, seed and threshold policy. The git revision and
the device are recorded but not keyed, so unrelated commits keep results
valid. With ``--resample-valid`` the seed of a carved validation split is
keyed too (and only then, so that existing keys do not change).

Three more things decide a result and are keyed only when they differ from
their first value, so that every key made before they existed still names
the same job:

- ``--threads`` other than 1: a deep method sums floats in another order
  with another thread count, and its training can drift as far as another
  seed would (a 1-thread result must never answer a 4-thread request);
- a dataset version other than "1": bumped by the dataset's plugin when its
  numbers stop being comparable with earlier ones (other generated samples,
  another split), as a method's version is.
"""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any

from mmerbench.api import dataset_param_defaults, method_class
from mmerbench.errors import UsageError
from mmerbench.params import check_params

# Hyperparameters that say where to run, not what to compute.
UNKEYED_PARAMS = ("device",)


@dataclass
class Job:
    method: str
    method_version: str
    dataset: str
    dataset_params: dict[str, Any]
    dataset_fingerprint: str
    seed: int
    params: dict[str, Any]
    preset: str | None
    overrides: dict[str, Any]
    threshold_policy: str
    key: str = ""
    command: str = ""
    notes: list[str] = field(default_factory=list)
    # the fingerprint of the data as stored; ``dataset_fingerprint`` is that of the splits the job uses
    dataset_file_fingerprint: str = ""
    # set by --resample-valid on a dataset whose validation split is carved: the seed of the carving
    valid_seed: int | None = None
    # why the method cannot run on this dataset (e.g. "needs text"); such a job is planned, never run
    incompatible: str | None = None
    # the threads the job computes with (--threads): part of what it computes, see the module's docstring
    threads: int = 1
    # the dataset plugin's version of its data (DatasetSpec.version)
    dataset_version: str = "1"
    # set by `mmerbench tune` (keyed): {"role": "trial", "study": id} for a search trial, scored on the
    # validation split only; {"role": "tuned", "study": id, "trials": N, ...} for the chosen configuration
    tuning: dict[str, Any] | None = None
    # set by `mmerbench tune --pruner` on a trial (not keyed: it decides only when a hopeless trial stops):
    # the pruner's settings and the per-epoch validation curves of the trials finished before this one
    pruning: dict[str, Any] | None = None
    # how a deep method computes (--precision, --compile): only the options it honours and that are not
    # the default, so that every job run with the defaults keeps its key
    run_options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def threshold_policy(params: dict[str, Any]) -> str:
    threshold = params.get("threshold", "valid")
    if isinstance(threshold, str):
        return threshold
    return f"fixed:{float(threshold):g}"


def job_key(job: Job) -> str:
    return _key_of(job.to_dict())


def record_key(record: dict) -> str:
    """The key a job record's own content hashes to: what ``collect`` compares with the file's name.

    A record carries every keyed field of its job (method and version, hyperparameters, dataset, its
    parameters and fingerprint, seed, threshold policy, the carving seed); a record edited to pass as
    another job no longer hashes to that job's key.
    """
    try:
        return _key_of(record)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise ValueError(f"it lacks a keyed field or holds one of the wrong type ({type(exc).__name__}: {exc})") \
            from None


def _key_of(fields: dict) -> str:
    keyed = {
        "method": fields["method"],
        "method_version": fields["method_version"],
        "params": {k: v for k, v in sorted(fields["params"].items()) if k not in UNKEYED_PARAMS},
        "dataset": fields["dataset"],
        "dataset_params": dict(sorted(fields["dataset_params"].items())),
        "dataset_fingerprint": fields["dataset_fingerprint"],
        "seed": fields["seed"],
        "threshold_policy": fields["threshold_policy"],
    }
    if fields.get("valid_seed") is not None:  # only with --resample-valid, so that existing keys do not change
        keyed["valid_seed"] = fields["valid_seed"]
    if int(fields.get("threads") or 1) != 1:  # the default keeps the keys made before --threads existed
        keyed["threads"] = fields["threads"]
    if str(fields.get("dataset_version") or "1") != "1":  # likewise for datasets versioned after their first release
        keyed["dataset_version"] = fields["dataset_version"]
    if fields.get("tuning") is not None:  # only for `mmerbench tune`'s jobs, so that existing keys do not change
        keyed["tuning"] = dict(sorted(fields["tuning"].items()))
    if fields.get("run_options"):  # only when not the defaults (fp32, not compiled), for the same reason
        keyed["run_options"] = dict(sorted(fields["run_options"].items()))
    text = json.dumps(keyed, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()[:20]


RUN_OPTION_DEFAULTS = {"precision": "fp32", "compile": False}


def job_run_options(cls, precision: str = "fp32", compile: bool = False) -> dict[str, Any]:
    """The run options a method of class ``cls`` honours (its ``run_options`` capability) that differ from
    the defaults: ``{}`` for a classical method, or for a deep method run in fp32 without compile."""
    asked = {"precision": precision, "compile": bool(compile)}
    honoured = getattr(cls, "run_options", ())
    return {name: value for name, value in asked.items() if name in honoured and value != RUN_OPTION_DEFAULTS[name]}


def parse_threshold(text: str | float | None):
    """CLI ``--threshold``: valid | valid-per-label | published | fixed:X | X."""
    if text is None:
        return None
    if isinstance(text, (int, float)):
        return float(text)
    if text in ("valid", "valid-per-label", "published"):
        return text
    number = text.split(":", 1)[1] if text.startswith("fixed:") else text
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"--threshold {text!r} is not valid: use valid, valid-per-label, published or fixed:X with 0 < X < 1"
        ) from None
    if not 0 < value < 1:
        raise UsageError(f"--threshold {text!r}: a fixed threshold must be between 0 and 1")
    return value


def split_settings(settings: dict[str, Any], methods: list[str], datasets: list[str]) -> tuple[dict, dict]:
    """``{"lddu.use_queue": False}`` -> per-method and per-dataset override dicts."""
    per_method: dict[str, dict] = {m: {} for m in methods}
    per_dataset: dict[str, dict] = {d: {} for d in datasets}
    for target_param, value in settings.items():
        target, dot, param = target_param.rpartition(".")
        if not dot or not target or not param:
            raise UsageError(f"--set {target_param}={value!r}: use TARGET.PARAM=VALUE, e.g. lddu.use_queue=false")
        if target in per_method:
            per_method[target][param] = value
        elif target in per_dataset:
            per_dataset[target][param] = value
        else:
            raise UsageError(
                f"--set target {target!r} is not a method or dataset of this run. "
                f"Methods: {', '.join(methods)}; datasets: {', '.join(datasets)}"
            )
    return per_method, per_dataset


def resolve_method(
    name: str,
    *,
    preset: str | None,
    overrides: dict[str, Any],
    seed: int,
    threshold,
    device: str,
    cpu_only: bool,
) -> tuple[dict[str, Any], str | None, list[str]]:
    """Full hyperparameters of one method for one job, the preset used, and notes."""
    cls = method_class(name)
    defaults = cls.param_defaults()
    notes: list[str] = []
    used_preset = None
    if preset is not None:
        if preset in cls.presets:
            used_preset = preset
    elif device == "auto" and cpu_only and "cpu" in cls.presets:
        used_preset = "cpu"
        notes.append(
            f"{name}: no GPU found, so --device auto selected its 'cpu' preset "
            f"(run with --preset paper for the paper configuration)"
        )
    params = dict(defaults)
    if used_preset is not None:
        params.update(check_params(f"{name} preset {used_preset}", defaults, dict(cls.presets[used_preset])))
    checked = check_params(name, defaults, overrides)
    params.update(checked)
    if "random_state" in defaults:
        params["random_state"] = seed
    if "device" in defaults:
        params["device"] = device
    if threshold is not None and "threshold" in defaults and "threshold" not in overrides:
        params["threshold"] = threshold
    return params, used_preset, notes


def _set_option(target: str, key: str, value) -> str:
    # Compact JSON (no spaces) and one shell word per option: a list, a string with a space or quotes,
    # and a float all come back as the same value when the printed command is run.
    compact = json.dumps(value, separators=(",", ":"))
    return "--set " + shlex.quote(f"{target}.{key}={compact}")


def reproduce_command(job: Job, device: str) -> str:
    """The one-job ``mmerbench run`` command that re-creates ``job``; every value shell-quoted."""
    parts = ["mmerbench run", f"--methods {shlex.quote(job.method)}", f"--datasets {shlex.quote(job.dataset)}",
             f"--seeds {int(job.seed)}"]
    if job.preset:
        parts.append(f"--preset {shlex.quote(job.preset)}")
    for key, value in sorted(job.overrides.items()):
        parts.append(_set_option(job.method, key, value))
    for key, value in sorted(job.dataset_params.items()):
        parts.append(_set_option(job.dataset, key, value))
    parts.append(f"--threshold {shlex.quote(str(job.threshold_policy))}")
    parts.append(f"--device {shlex.quote(device)}")
    parts.append(f"--threads {int(job.threads)}")
    if job.valid_seed is not None:
        parts.append("--resample-valid")
    if job.run_options.get("precision"):
        parts.append(f"--precision {shlex.quote(job.run_options['precision'])}")
    if job.run_options.get("compile"):
        parts.append("--compile")
    return " ".join(parts)


def check_dataset_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    checked = check_params(f"dataset {name}", dataset_param_defaults(name), params)
    if checked.get("train_missing_rate") == 0:  # the default: keys of existing results stay as they were
        del checked["train_missing_rate"]
    return checked
