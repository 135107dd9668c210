"""One job as the runner hands it to a worker process (local, Ray or Slurm): picklable, explicit, complete."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmerbench.data.protocol_specs import ProtocolSpec


@dataclass(frozen=True)
class JobOrder:
    """What a worker needs to run one job.

    ``job`` is the planned job (:meth:`mmerbench.execution.planning.Job.to_dict`); ``threads``, ``device``,
    ``protocols``, ``save_models``, ``keep_checkpoints`` and ``rerun`` say how to run it; ``provenance`` is copied into
    the record as it is and never read as configuration.
    """

    job: dict
    results_dir: str
    threads: int
    device: str
    protocols: tuple[ProtocolSpec, ...] = ()
    save_models: bool = True
    keep_checkpoints: bool = False
    provenance: dict = field(default_factory=dict)
    # the driver runs this finished job again (--no-resume): its checkpoints are discarded, and a result
    # another run stored meanwhile does not make the worker skip it
    rerun: bool = False

    @property
    def key(self) -> str:
        return self.job["key"]

    @property
    def label(self) -> str:
        return f"{self.job['method']} on {self.job['dataset']} seed {self.job['seed']}"
