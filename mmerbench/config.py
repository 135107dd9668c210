"""The one run configuration: every setting of a run, its type, default, check and help, listed once.

:class:`RunConfig` is read by every way into a run: the command line
(:func:`add_run_arguments` builds ``mmerbench run``'s options from it), a
``--config FILE.toml`` (:meth:`RunConfig.from_toml`, the same names as the
options), the Python API (``mmerbench.run(methods, ..., **settings)`` takes
the same names as keyword arguments) and the executors (a pool reads its
resources from it). A setting added here is all four at once.

What a run *is* lives here; what a run *was* (package versions, git revision,
host) is its provenance, recorded beside the results and never read back as
configuration (:mod:`mmerbench.execution.provenance`).
"""

from __future__ import annotations

import argparse
import math
import numbers
import os
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable

from mmerbench.data.protocol_specs import PROTOCOL_HELP, ProtocolSpec, parse_protocol
from mmerbench.errors import UsageError
from mmerbench.params import parse_value

DEFAULT_RESULTS = "./mmerbench-results"
EXECUTORS = ("local", "ray", "slurm", "slurm-local")
PRECISIONS = ("fp32", "bf16")  # the same list as mmerbench.training.PRECISIONS (config imports no torch)


# --------------------------------------------------------------------------- kinds of value


def _csv(text: str) -> list[str]:
    return [part.strip() for part in str(text).split(",") if part.strip()]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _seed_text(text: str) -> list[int]:
    try:
        return [int(part) for part in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers separated by commas, got {text!r}") from None


def _setting_text(text: str) -> tuple[str, Any]:
    target_param, equals, value = text.partition("=")
    if not equals or "." not in target_param:
        raise argparse.ArgumentTypeError(f"--set {text!r}: use TARGET.PARAM=VALUE, e.g. lddu.use_queue=false")
    try:
        return target_param.strip(), parse_value(value)
    except UsageError as exc:
        shown = text if len(text) <= 80 else text[:60] + "..."  # a 100,000-deep value is not echoed whole
        raise argparse.ArgumentTypeError(f"--set {shown!r}: {exc}") from None


@dataclass(frozen=True)
class Kind:
    """What values a setting takes: a test for TOML/keyword values, their normal form, and the CLI's parser."""

    describe: str
    accepts: Callable[[Any], bool]
    normal: Callable[[Any], Any] = lambda value: value
    from_text: Callable[[str], Any] | None = None


NAMES = Kind("a list of names or one comma-separated string",
             lambda v: isinstance(v, str) or (isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)),
             lambda v: _csv(v) if isinstance(v, str) else [str(x) for x in v], _csv)
SEEDS = Kind("a list of integers, one integer, or a comma-separated string of integers",
             lambda v: _is_int(v) or (isinstance(v, (list, tuple)) and all(_is_int(x) for x in v))
             or (isinstance(v, str) and all(p.strip().lstrip("-").isdigit() for p in v.split(",") if p.strip())),
             lambda v: [int(v)] if _is_int(v) else [int(p) for p in _csv(v)] if isinstance(v, str)
             else [int(x) for x in v], _seed_text)
TEXT = Kind("a string", lambda v: isinstance(v, str))
PATH = Kind("a path", lambda v: isinstance(v, (str, os.PathLike)), lambda v: os.fspath(v))
OPTIONAL_TEXT = Kind("a string", lambda v: v is None or isinstance(v, str))
INTEGER = Kind("an integer", _is_int, int, int)
NUMBER = Kind("a number", _is_number, float, float)
OPTIONAL_NUMBER = Kind("a number", lambda v: v is None or _is_number(v),
                       lambda v: None if v is None else float(v), float)
BOOLEAN = Kind("true or false", lambda v: isinstance(v, bool))
# A list stays a list: a protocol spec holds commas (missing-rate:0.1,0.3), so one string is never split.
TEXT_LIST = Kind("a list of strings, e.g. [\"missing\", \"missing-rate:0.1,0.3\"]",
                 lambda v: isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v), list)
SETTINGS = Kind("a table, e.g. [set.lddu] use_queue = false",
                lambda v: isinstance(v, dict), lambda v: _flatten_settings(v))
THRESHOLD = Kind("valid, valid-per-label, published, fixed:X or a number",
                 lambda v: v is None or (isinstance(v, (str, float, int)) and not isinstance(v, bool)))


def _flatten_settings(table: dict) -> dict[str, Any]:
    """``{"lddu": {"use_queue": False}}`` or ``{"lddu.use_queue": False}`` -> ``{"lddu.use_queue": False}``."""
    flat = {}
    for target, value in table.items():
        if isinstance(value, dict) and "." not in target:
            flat.update({f"{target}.{param}": v for param, v in value.items()})
        else:
            flat[target] = value
    return flat


def setting(default, kind: Kind, help: str, *, cli: str = "value", flag: str | None = None,
            group: str = "run", metavar: str | None = None, key: str | None = None, must: str | None = None):
    """A field of :class:`RunConfig` with what the CLI and the config file need to know about it.

    ``cli``: ``value`` (``--flag VALUE``), ``true`` (``--flag`` sets True), ``false`` (``--flag`` sets False),
    ``append`` (repeatable), ``none`` (not a command-line option). ``key``: the TOML/CLI name when it differs
    from the field's name (``set`` for :attr:`RunConfig.settings`). ``must``: what a wrong value's message says
    the setting must be (default: the kind's description).
    """
    factory = (lambda: list(default)) if isinstance(default, list) else (lambda: dict(default)) \
        if isinstance(default, dict) else None
    metadata = {"kind": kind, "help": help, "cli": cli, "flag": flag, "group": group, "metavar": metavar,
                "key": key, "must": must or kind.describe}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# --------------------------------------------------------------------------- the configuration


@dataclass
class RunConfig:
    """Every setting of a run. Construct it with keyword arguments, :meth:`from_mapping`, :meth:`from_toml`
    or :meth:`from_args`; :meth:`checked` validates the values that need no machine to check."""

    methods: list = setting([], NAMES, "comma-separated method names (see `mmerbench list`)")
    datasets: list = setting(["synthetic"], NAMES, "comma-separated dataset names (default: synthetic)")
    seeds: list = setting([0], SEEDS, "comma-separated seeds (default: 0)")
    device: str = setting("auto", TEXT, "auto (GPU when present, else CPU), cpu or cuda[:k] (default: auto)",
                          must="a string: auto, cpu or cuda[:k]")
    jobs: int = setting(1, INTEGER, "jobs run at once, each in its own process (default: 1)",
                       must="an integer of at least 1")
    threads: int = setting(1, INTEGER,
                           "threads each job computes with (torch, BLAS, OpenMP); default 1, whatever --jobs and the "
                           "machine's cores: a deep method's numbers depend on it, so the published tables are "
                           "re-created with the same count on any machine", must="an integer of at least 1")
    results: str = setting(DEFAULT_RESULTS, PATH, f"results directory (default: {DEFAULT_RESULTS})",
                           must="a non-empty directory path string")
    preset: str | None = setting(None, OPTIONAL_TEXT,
                                 "apply this preset to every method that defines it (e.g. paper, cpu)",
                                 must="a preset name (string)")
    settings: dict = setting({}, SETTINGS, "override a method or dataset parameter; VALUE is parsed as JSON when it parses (repeatable)",
                             cli="append", flag="--set", metavar="TARGET.PARAM=VALUE", key="set")
    threshold: Any = setting(None, THRESHOLD, "valid (default) | valid-per-label | published | fixed:X")
    precision: str = setting("fp32", TEXT,
                             "deep methods' arithmetic: fp32 (default) or bf16 (bfloat16 autocast on GPU or CPU; "
                             "in the job key when not fp32)", must="fp32 or bf16")
    compile: bool = setting(False, BOOLEAN,
                            "train deep methods' models through torch.compile (in the job key when on; the first "
                            "epoch pays the compilation)", cli="true")
    resume: bool = setting(True, BOOLEAN, "re-run jobs even when their results exist", cli="false",
                           flag="--no-resume")
    resample_valid: bool = setting(False, BOOLEAN,
                                   "let each seed also re-draw a validation split carved from train (datasets "
                                   "without their own; off by default: a seed then varies only the method's "
                                   "random_state)", cli="true")
    protocols: list = setting([], TEXT_LIST, f"robustness protocol evaluated on each fitted model, repeatable: {PROTOCOL_HELP} (not part of the job key)",
                              cli="append", flag="--protocol", metavar="SPEC")
    save_models: bool = setting(True, BOOLEAN, "do not save each job's fitted model under <results>/models/<key>/",
                                cli="false", flag="--no-save-models")
    keep_checkpoints: bool = setting(False, BOOLEAN,
                                     "keep each deep job's last epoch checkpoint (<results>/checkpoints/<key>/) when it ends", cli="true")
    timeout_per_job: float | None = setting(None, OPTIONAL_NUMBER,
                                            "stop a job running longer than this; it is recorded as 'timeout' and keeps its checkpoint",
                                            metavar="SECONDS", must="a number of seconds")
    executor: str = setting("local", TEXT,
                            "local process pool (default), ray (mmerbench[ray]), slurm via submitit "
                            "(mmerbench[slurm]), or slurm-local: the Slurm code path through submitit's local "
                            "executor", group="executors", must="local, ray, slurm or slurm-local")
    fresh_interpreter: bool = setting(False, BOOLEAN,
                                      "local pool: start each job in a fresh Python (spawn) instead of forking it "
                                      "from a warm server that has the imports done (slower; for a plugin whose "
                                      "imports start threads or hold state)", cli="true", group="executors")
    ray_address: str | None = setting(None, OPTIONAL_TEXT,
                                      "auto or HOST:PORT of a running Ray cluster (default: start Ray here)",
                                      group="executors", must="auto or HOST:PORT")
    cpus_per_job: float = setting(1.0, NUMBER, "CPUs each job asks Ray or Slurm for (default: 1)",
                                  group="executors")
    gpus_per_job: float = setting(0.0, NUMBER,
                                  "GPUs per job; fractions (0.5) share a GPU under ray and the local pool "
                                  "(default: 0)", group="executors")
    slurm_partition: str | None = setting(None, OPTIONAL_TEXT, "Slurm partition of the array", group="executors",
                                          must="a partition name")
    slurm_time: int = setting(60, INTEGER, "time limit of each array task (default: 60)", group="executors",
                              metavar="MINUTES", must="an integer number of minutes")
    slurm_array_parallelism: int = setting(64, INTEGER, "array tasks running at once (default: 64)",
                                           group="executors")
    slurm_setup: list = setting([], TEXT_LIST,
                                "a shell line run before each task (e.g. 'module load cuda'); repeat for several",
                                cli="append", group="executors", metavar="LINE", must="a list of shell lines")
    slurm_account: str | None = setting(None, OPTIONAL_TEXT, "Slurm account charged for the array (sbatch --account)",
                                        group="executors", must="an account name")
    slurm_qos: str | None = setting(None, OPTIONAL_TEXT, "Slurm quality of service (sbatch --qos)", group="executors",
                                    must="a QOS name")
    slurm_mem: str | None = setting(None, OPTIONAL_TEXT,
                                    "memory of each array task, as sbatch --mem takes it (e.g. 16G, 8000M)",
                                    group="executors", must="a memory size such as 16G or 8000M")
    slurm_constraint: str | None = setting(None, OPTIONAL_TEXT,
                                           "node features each task needs (sbatch --constraint, e.g. 'a100|h100')",
                                           group="executors", must="a constraint expression")
    slurm_gpu_type: str | None = setting(None, OPTIONAL_TEXT,
                                         "GPU type of each task's GPU: a100 asks --gres=gpu:a100:1 (needs "
                                         "--gpus-per-job)", group="executors", must="a GPU type name such as a100")
    slurm_options: list = setting([], TEXT_LIST,
                                  "any other sbatch option, passed through: KEY=VALUE (mail-type=END) or KEY for "
                                  "a bare flag (exclusive); repeatable", cli="append", flag="--slurm-option",
                                  group="executors", metavar="KEY=VALUE", key="slurm_option",
                                  must='a list of "KEY=VALUE" strings')
    detach: bool = setting(False, BOOLEAN,
                           "slurm: submit and return; follow with `mmerbench status`, gather with "
                           "`mmerbench collect`", cli="true", group="executors")

    # ----------------------------------------------------------------- building one

    @classmethod
    def keys(cls) -> dict[str, str]:
        """TOML/keyword name -> field name."""
        return {(f.metadata.get("key") or f.name): f.name for f in fields(cls)}

    @classmethod
    def from_mapping(cls, values: dict[str, Any], source: str = "settings", base: "RunConfig | None" = None
                     ) -> "RunConfig":
        """Values by their TOML names, each checked against its kind; ``source`` names where they came from."""
        keys = cls.keys()
        unknown = sorted(set(values) - set(keys) - set(keys.values()))
        if unknown:
            raise UsageError(f"{source}: unknown setting(s) {unknown}; valid: {sorted(keys)}")
        by_field = {f.name: f for f in fields(cls)}
        changes = {}
        for key, value in values.items():
            spec = by_field[keys.get(key, key)]
            kind: Kind = spec.metadata["kind"]
            if not kind.accepts(value):
                raise UsageError(f"{source}: {key} = {value!r} is a {type(value).__name__}; "
                                 f"{key} must be {spec.metadata['must']}")
            changes[spec.name] = kind.normal(value)
        return replace(base or cls(), **changes)

    @classmethod
    def from_toml(cls, path: str) -> "RunConfig":
        """Settings from a TOML file with the same names as the command-line options (a ``[run]`` table or the
        top level)."""
        import tomllib

        try:
            with open(path, "rb") as handle:
                config = tomllib.load(handle)
        except FileNotFoundError:
            raise UsageError(f"--config {path}: no such file") from None
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            raise UsageError(f"--config {path}: not valid TOML ({exc})") from None
        except UnicodeDecodeError as exc:
            raise UsageError(f"--config {path}: not a UTF-8 text file ({exc})") from None
        config = config.get("run", config)
        if not isinstance(config, dict):
            raise UsageError(f"--config {path}: [run] must be a table of settings")
        return cls.from_mapping(config, f"--config {path}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "RunConfig":
        """The command line over ``--config`` over the defaults (command-line options win)."""
        config = cls.from_toml(args.config) if getattr(args, "config", None) else cls()
        changes = {}
        for spec in fields(cls):
            value = getattr(args, spec.name, None)
            if value is None:
                continue
            if spec.name == "settings":
                changes["settings"] = {**config.settings, **dict(value)}
            else:
                changes[spec.name] = value
        return replace(config, **changes)

    # ----------------------------------------------------------------- checking one

    def checked(self) -> "RunConfig":
        """The checks that need neither the registry nor the machine; raises UsageError naming the setting."""
        if not self.methods:
            raise UsageError("no methods given: use --methods a,b (see `mmerbench list methods`)")
        if not self.datasets:
            raise UsageError("no datasets given: use --datasets a,b (see `mmerbench list datasets`)")
        if self.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {self.jobs}")
        if self.threads < 1:
            raise UsageError(f"--threads must be at least 1, got {self.threads}")
        if not str(self.results).strip():
            raise UsageError("--results is empty: give a results directory, e.g. --results ./mmerbench-results")
        if self.timeout_per_job is not None and not (self.timeout_per_job > 0 and math.isfinite(self.timeout_per_job)):
            raise UsageError(f"--timeout-per-job {self.timeout_per_job!r} is not valid: give a number of seconds "
                             "above 0")
        if self.executor not in EXECUTORS:
            raise UsageError(f"--executor {self.executor!r} is not known; use one of {', '.join(EXECUTORS)}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"--precision {self.precision!r} is not known; use one of {', '.join(PRECISIONS)}")
        self.protocol_specs()
        return self

    def protocol_specs(self) -> list[ProtocolSpec]:
        """``--protocol`` parsed, once per run: a bad spec stops the run before anything is trained."""
        return [parse_protocol(text) for text in self.protocols]


# --------------------------------------------------------------------------- the command line


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """``mmerbench run``'s setting options, generated from :class:`RunConfig` (every default is None so that
    :meth:`RunConfig.from_args` can tell an option given from one left out)."""
    groups = {"run": parser}
    for spec in fields(RunConfig):
        meta = spec.metadata
        if meta["cli"] == "none":
            continue
        group = meta["group"]
        if group not in groups:
            groups[group] = parser.add_argument_group("executors (beyond one machine)")
        target = groups[group]
        flag = meta["flag"] or "--" + spec.name.replace("_", "-")
        kind: Kind = meta["kind"]
        common = {"dest": spec.name, "help": meta["help"], "default": None}
        if meta["cli"] == "true":
            target.add_argument(flag, action="store_true", **common)
        elif meta["cli"] == "false":
            target.add_argument(flag, action="store_false", **common)
        elif meta["cli"] == "append":
            parse = _setting_text if spec.name == "settings" else str
            target.add_argument(flag, action="append", type=parse, metavar=meta["metavar"], **common)
        else:
            target.add_argument(flag, type=kind.from_text or str, metavar=meta["metavar"], **common)
